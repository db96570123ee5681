"""Standard Webhooks signatures (https://www.standardwebhooks.com/) on every outbound request:
postbacks to advertisers and partners, and webhooks to the brand.

Three headers: ``webhook-id`` (the delivery's id, the same on every retry: the receiver's
idempotency key), ``webhook-timestamp`` (Unix seconds of this attempt) and
``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<content>">``; during a
secret rotation's overlap window one signature per valid secret, space-separated). The content
is the request body for a POST; for a postback (a GET, no body) it is the request target, the
path and query exactly as sent, so the URL's values are covered by the signature too.
Signing uses the ``standardwebhooks`` package, so the receiver's ``Webhook.verify`` of the same
package (or any Standard Webhooks library) accepts it."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32


def new_signing_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def looks_like_signing_secret(value: str) -> bool:
    if not value.startswith(SECRET_PREFIX):
        return False
    try:
        return len(base64.b64decode(value[len(SECRET_PREFIX) :], validate=True)) >= 24
    except ValueError:
        return False


def request_target(url: str) -> str:
    """What a GET's signature covers: the path and query as they go on the request line."""
    parts = urlsplit(url)
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def signature_headers(
    *, msg_id: str, content: str, secrets_in_use: Sequence[str], at: datetime
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt, signed with every secret given
    (the current one first)."""
    signatures = " ".join(
        Webhook(secret).sign(msg_id=msg_id, timestamp=at, data=content) for secret in secrets_in_use
    )
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
    }
