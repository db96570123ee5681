"""Proof that a webhook comes from the provider: Stripe's signature checked by the official
``stripe`` library, Shopify's HMAC by its documented algorithm. Each tries the connection's
current signing secret, then the previous one while its grace period lasts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

import stripe
from django.utils import timezone

from integrations.models import IntegrationConnection

TOLERANCE_SECONDS = 300  # Stripe's own default tolerance
MAX_HEADER = 2048
_STRIPE_TIMESTAMP = re.compile(r"(?:^|,)\s*t=([0-9]{1,12})(?:,|$)")
_BASE64_DIGEST = re.compile(r"[A-Za-z0-9+/]{43}=")
# Verified against when a brand has no secret, so an unconnected (or unknown) brand takes
# about as long to refuse as a connected one.
_NO_SECRET = "whsec_" + "0" * 32


class Refused(Exception):  # noqa: N818 - an answer, not an error
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


BAD_SIGNATURE = "The signature does not match: check the signing secret pasted into Trcker."


def active_secrets(connection: IntegrationConnection | None) -> list[str]:
    if connection is None or not connection.signing_secret:
        return []
    secrets = [connection.signing_secret]
    until = connection.previous_secret_valid_until
    if connection.previous_signing_secret and until and timezone.now() < until:
        secrets.append(connection.previous_signing_secret)
    return secrets


def stripe_verify(payload: str, header: str, secrets: list[str]) -> None:
    """Raise Refused unless ``header`` (Stripe-Signature) signs ``payload`` with one of
    ``secrets`` at a time within 300 seconds of now."""
    if not header or len(header) > MAX_HEADER:
        raise Refused("bad_signature", BAD_SIGNATURE)
    verified = False
    for secret in secrets or [_NO_SECRET]:
        try:
            stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=None)
        except stripe.SignatureVerificationError:
            continue
        verified = bool(secrets)
        break
    if not verified:
        raise Refused("bad_signature", BAD_SIGNATURE)
    match = _STRIPE_TIMESTAMP.search(header)
    if match is None or abs(time.time() - int(match.group(1))) > TOLERANCE_SECONDS:
        raise Refused(
            "signature_expired",
            "The event was signed more than 300 seconds from now: a replayed old event.",
        )


def shopify_verify(body: bytes, header: str, secrets: list[str]) -> None:
    """Raise Refused unless ``header`` (X-Shopify-Hmac-Sha256) is the base64 HMAC-SHA256 of
    the raw body under one of ``secrets``; compared in constant time."""
    presented = header.strip().encode("ascii", "replace")
    well_formed = bool(_BASE64_DIGEST.fullmatch(header.strip()))
    matched = False
    for secret in secrets or [_NO_SECRET]:
        expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
        if hmac.compare_digest(expected, presented):
            matched = bool(secrets)
    if not (matched and well_formed):
        raise Refused("bad_signature", BAD_SIGNATURE)
