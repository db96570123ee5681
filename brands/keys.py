"""API key format: ``trk_<prefix>_<secret><checksum>``.

* prefix: 10 lowercase letters/digits, stored in clear for lookup and display;
* secret: 43 base62 characters (≥ 256 bits from ``secrets``), stored only as SHA-256;
* checksum: 6 base62 characters of CRC32 over everything before it, so a mistyped key is
  refused without a database query and secret scanners can recognise real keys offline.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import zlib
from dataclasses import dataclass

from core.ids import BASE62, random_base62

PREFIX_ALPHABET = string.ascii_lowercase + string.digits
PREFIX_LENGTH = 10
SECRET_LENGTH = 43
CHECKSUM_LENGTH = 6
KEY_PATTERN = re.compile(
    rf"^trk_([a-z0-9]{{{PREFIX_LENGTH}}})_([A-Za-z0-9]{{{SECRET_LENGTH}}})([A-Za-z0-9]{{{CHECKSUM_LENGTH}}})$"
)


def _checksum(body: str) -> str:
    value = zlib.crc32(body.encode())
    digits = []
    for _ in range(CHECKSUM_LENGTH):
        value, rem = divmod(value, 62)
        digits.append(BASE62[rem])
    return "".join(reversed(digits))


def secret_digest(secret: str) -> str:
    # A fast hash is right here: 256 random bits make preimage search hopeless, and the digest
    # is compared on every request.
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class GeneratedKey:
    plaintext: str
    prefix: str
    digest: str


def generate_key() -> GeneratedKey:
    prefix = "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    secret = random_base62(SECRET_LENGTH)
    body = f"trk_{prefix}_{secret}"
    return GeneratedKey(
        plaintext=body + _checksum(body), prefix=prefix, digest=secret_digest(secret)
    )


@dataclass(frozen=True)
class ParsedKey:
    prefix: str
    secret: str


def parse_key(raw: str) -> ParsedKey | None:
    """Split a presented key; None when it is malformed or its checksum is wrong."""
    match = KEY_PATTERN.match(raw)
    if not match:
        return None
    prefix, secret, checksum = match.groups()
    if not secrets.compare_digest(_checksum(f"trk_{prefix}_{secret}"), checksum):
        return None
    return ParsedKey(prefix=prefix, secret=secret)
