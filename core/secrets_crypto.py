"""Secrets the server must be able to read back (inbound-postback HMAC keys), encrypted at rest
with a key that is not in the database, so a database dump or backup alone does not let anyone
sign postbacks (docs/security.md, "Secrets at rest").

``TRCKER_SECRETS_KEY`` is a comma-separated list of Fernet keys: the first encrypts, every one
decrypts (MultiFernet), which is how a key is rotated. Unset, one key is derived from
SECRET_KEY so `make run` works; a deployment check warns about that.

``EncryptedSecretField`` is the one place values are encrypted (on save) and decrypted (on
load): code above the model sees the plaintext, the column holds only ciphertext."""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import models

GENERATE_HINT = (
    'Generate one with: python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())"'
)


def _derived_key() -> bytes:
    # Different purpose string from the audit key's, so the two derived keys never coincide.
    digest = hmac.new(settings.SECRET_KEY.encode(), b"trcker.secrets-at-rest", hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest())


def configured_keys() -> list[str]:
    raw = getattr(settings, "TRCKER_SECRETS_KEY", "") or ""
    if isinstance(raw, list | tuple):
        raw = ",".join(raw)
    return [key.strip() for key in raw.split(",") if key.strip()]


def effective_keys() -> str:
    """The keys in use, in TRCKER_SECRETS_KEY form: for handing to a child process (tests)
    that must read what this one wrote."""
    return ",".join(configured_keys()) or _derived_key().decode("ascii")


@lru_cache(maxsize=8)
def _fernet_for(keys: tuple[str, ...], derived: bytes) -> MultiFernet:
    if not keys:
        return MultiFernet([Fernet(derived)])
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode()))
        except ValueError:
            # Never echo the key itself: the message may end up in a log.
            raise ImproperlyConfigured(
                f"TRCKER_SECRETS_KEY entry {position} is not a Fernet key (32 url-safe "
                f"base64-encoded bytes). {GENERATE_HINT}"
            ) from None
    return MultiFernet(fernets)


def fernet() -> MultiFernet:
    """Read the settings on each call (cached by value) so a test override takes effect."""
    return _fernet_for(tuple(configured_keys()), _derived_key())


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeEncodeError):
        # Fail loudly: a wrong or missing key must not look like "no secret set", which
        # would silently change how postbacks are verified.
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with any key in TRCKER_SECRETS_KEY "
            "(or the key derived from SECRET_KEY). Restore the key it was encrypted with."
        ) from None


def reencrypt(token: str) -> str:
    """The same plaintext under the first (current) key: step 2 of a key rotation."""
    try:
        return fernet().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise ImproperlyConfigured("A stored secret cannot be decrypted for rotation.") from None


if TYPE_CHECKING:  # django-stubs' fields are generic (value set, value read); Django's are not
    _StrField = models.CharField[str, str]
else:
    _StrField = models.CharField


class EncryptedSecretField(_StrField):
    """A CharField whose column holds a Fernet token; "" (no secret) is stored as "" so
    "is a secret set?" stays a plain comparison. Not searchable: equal plaintexts encrypt
    differently each time."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if not value:
            return value
        return decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(value)


@checks.register(checks.Tags.security, deploy=True)
def secrets_key_configured(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    if configured_keys():
        try:
            fernet()
        except ImproperlyConfigured as exc:
            return [checks.Error(str(exc), id="secrets.E001")]
        return []
    # Derived from SECRET_KEY, rotating SECRET_KEY would make every stored secret unreadable,
    # and the key would sit wherever SECRET_KEY does.
    return [
        checks.Warning(
            "TRCKER_SECRETS_KEY is not set: postback secrets are encrypted with a key derived "
            "from SECRET_KEY.",
            hint=f'Set TRCKER_SECRETS_KEY (docs/security.md, "Secrets at rest"). {GENERATE_HINT}',
            id="secrets.W001",
        )
    ]
