"""The audit HMAC keys: held outside the database, so database access alone cannot forge or
recompute a hash (see docs/data-model.md, "Audit keys").

``TRCKER_AUDIT_KEY`` signs every new hash. ``TRCKER_AUDIT_PREVIOUS_KEYS`` are only for
verifying rows made before a rotation. Each hashed row stores the short id of the key that
made it, so verification picks the right key and an unknown id is reported, never guessed.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from django.conf import settings

KEY_ID_LENGTH = 16


@dataclass(frozen=True)
class AuditKey:
    key_id: str
    secret: bytes = b""

    def __repr__(self) -> str:
        # Never print the secret (tracebacks, logs).
        return f"AuditKey({self.key_id!r})"


def key_id_of(secret: bytes) -> str:
    """A short public name for a key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(secret).hexdigest()[:KEY_ID_LENGTH]


def make_key(secret: str) -> AuditKey:
    raw = secret.encode()
    return AuditKey(key_id=key_id_of(raw), secret=raw)


def _derived_from_secret_key() -> str:
    # Lets `make run` and tests work without configuration; production sets its own key so
    # that the audit key is not also the session-signing key's derivative.
    return hmac.new(settings.SECRET_KEY.encode(), b"trcker.audit", hashlib.sha256).hexdigest()


def current_key() -> AuditKey:
    """The key every new content hash and link is made with. Read on each call (cheap) so a
    settings override in tests takes effect at once."""
    return make_key(settings.TRCKER_AUDIT_KEY or _derived_from_secret_key())


def known_keys() -> dict[str, AuditKey]:
    """Key id → key, for verification: the current key and every previous one."""
    keys = [make_key(secret) for secret in settings.TRCKER_AUDIT_PREVIOUS_KEYS if secret]
    keys.append(current_key())
    return {key.key_id: key for key in keys}
