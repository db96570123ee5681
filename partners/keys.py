"""Partner API key format: ``trkp_<prefix>_<secret><checksum>``, the brand key's format
(brands/keys.py: 10-character prefix in clear, 43 base62 secret characters stored only as
SHA-256, a CRC32 checksum) under its own tag, so a partner key is never mistaken for a brand
key by a person, a secret scanner or the code that routes a bearer token."""

from __future__ import annotations

import re
import secrets

from brands.keys import (
    CHECKSUM_LENGTH,
    PREFIX_ALPHABET,
    PREFIX_LENGTH,
    SECRET_LENGTH,
    GeneratedKey,
    ParsedKey,
    secret_digest,
)
from brands.keys import _checksum as checksum  # one checksum for both key kinds
from core.ids import random_base62

TAG = "trkp_"
KEY_PATTERN = re.compile(
    rf"^trkp_([a-z0-9]{{{PREFIX_LENGTH}}})_([A-Za-z0-9]{{{SECRET_LENGTH}}})([A-Za-z0-9]{{{CHECKSUM_LENGTH}}})$"
)


def generate_partner_key() -> GeneratedKey:
    prefix = "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    secret = random_base62(SECRET_LENGTH)
    body = f"{TAG}{prefix}_{secret}"
    return GeneratedKey(
        plaintext=body + checksum(body), prefix=prefix, digest=secret_digest(secret)
    )


def parse_partner_key(raw: str) -> ParsedKey | None:
    """Split a presented partner key; None when it is malformed or its checksum is wrong."""
    match = KEY_PATTERN.match(raw)
    if not match:
        return None
    prefix, secret, given = match.groups()
    if not secrets.compare_digest(checksum(f"{TAG}{prefix}_{secret}"), given):
        return None
    return ParsedKey(prefix=prefix, secret=secret)
