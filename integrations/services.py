"""Writes for integrations: connecting a provider (its signing secret, shown never again) and
disconnecting it. Webhook handling itself is ``integrations.intake``; pruning the event log
is ``integrations.event_log``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.actor import Actor
from audit.services import audit_record
from core.errors import NotFoundError, ValidationError
from integrations.models import IntegrationConnection, Provider, SaleTopic
from offers.models import Offer

MAX_GRACE_SECONDS = 7 * 24 * 3600
# Stripe's endpoint secrets are whsec_ + base64-ish text; Shopify's are the app's or the
# store's webhook key (hex or shpss_…). Printable, no spaces.
SECRET_PATTERNS = {
    Provider.STRIPE: re.compile(r"whsec_[A-Za-z0-9+/=_-]{16,200}"),
    Provider.SHOPIFY: re.compile(r"[\x21-\x7e]{16,200}"),
}
SECRET_HINTS = {
    Provider.STRIPE: "Stripe's endpoint signing secret starts with whsec_ (Developers → "
    "Webhooks → your endpoint → Signing secret).",
    Provider.SHOPIFY: "Shopify's webhook key: 16–200 printable characters without spaces "
    "(Settings → Notifications → Webhooks: 'Your webhooks will be signed with …', or the app's "
    "client secret).",
}


def _locked(actor: Actor, provider: str) -> IntegrationConnection:
    connection, _ = IntegrationConnection.objects.get_or_create(
        brand_id=actor.brand_id, provider=provider
    )
    return IntegrationConnection.objects.select_for_update().get(pk=connection.pk)


@transaction.atomic
def connection_set_secret(
    *,
    actor: Actor,
    provider: str,
    signing_secret: str | None = None,
    grace_seconds: int | None = None,
    default_offer: Offer | None = None,
    clear_default_offer: bool = False,
    record_sales_on: str | None = None,
) -> IntegrationConnection:
    """Store the provider's signing secret (encrypted; never shown again) and/or the default
    offer of coupon-only sales. A new secret replaces the old one, which keeps verifying for
    ``grace_seconds`` (default TRCKER_POSTBACK_SECRET_GRACE_SECONDS; 0: at once).
    ``record_sales_on`` (Shopify only): ``orders/create`` or ``orders/paid``."""
    actor.require_write()
    if provider not in Provider.values:
        raise NotFoundError("integration", provider)
    if signing_secret is not None and not SECRET_PATTERNS[Provider(provider)].fullmatch(
        signing_secret
    ):
        raise ValidationError(
            SECRET_HINTS[Provider(provider)],
            code="invalid_signing_secret",
            fields={"signing_secret": ["Not a signing secret of this provider."]},
        )
    grace = (
        settings.TRCKER_POSTBACK_SECRET_GRACE_SECONDS if grace_seconds is None else grace_seconds
    )
    if not 0 <= grace <= MAX_GRACE_SECONDS:
        raise ValidationError("grace_seconds must be between 0 and 604800 (7 days).")
    if record_sales_on is not None and (
        provider != Provider.SHOPIFY or record_sales_on not in SaleTopic.values
    ):
        raise ValidationError(
            "record_sales_on is Shopify's only: orders/create or orders/paid.",
            code="invalid_record_sales_on",
            fields={"record_sales_on": ["orders/create or orders/paid, for Shopify."]},
        )
    if default_offer is not None and default_offer.brand_id != actor.brand_id:
        raise NotFoundError("offer", default_offer.slug)
    locked = _locked(actor, provider)
    changes: dict[str, Any] = {}
    if signing_secret is not None:
        had = bool(locked.signing_secret)
        if had and grace > 0 and locked.signing_secret != signing_secret:
            locked.previous_signing_secret = locked.signing_secret
            locked.previous_secret_valid_until = timezone.now() + timedelta(seconds=grace)
        else:
            locked.previous_signing_secret = ""
            locked.previous_secret_valid_until = None
        locked.signing_secret = signing_secret
        locked.secret_set_at = timezone.now()
        # The secret itself never enters the audit log: only the fact it changed.
        changes["has_signing_secret"] = [had, True]
        changes["grace_seconds"] = [None, grace if had else 0]
    if default_offer is not None or clear_default_offer:
        before = locked.default_offer.slug if locked.default_offer else None
        locked.default_offer = default_offer
        changes["default_offer_id"] = [before, default_offer.slug if default_offer else None]
    if record_sales_on is not None and record_sales_on != locked.record_sales_on:
        changes["record_sales_on"] = [locked.record_sales_on, record_sales_on]
        locked.record_sales_on = record_sales_on
    locked.save()
    audit_record(
        actor=actor,
        action=f"integration.{provider}.connect",
        target=locked,
        target_type="integration",
        target_id=provider,
        changes=changes,
    )
    return locked


@transaction.atomic
def connection_disconnect(*, actor: Actor, provider: str) -> IntegrationConnection:
    """Forget the provider's signing secrets: its webhooks are refused (not_connected) until
    a secret is set again. The event log and remembered customers stay."""
    actor.require_write()
    if provider not in Provider.values:
        raise NotFoundError("integration", provider)
    locked = _locked(actor, provider)
    had = bool(locked.signing_secret)
    locked.signing_secret = ""
    locked.previous_signing_secret = ""
    locked.previous_secret_valid_until = None
    locked.save()
    audit_record(
        actor=actor,
        action=f"integration.{provider}.disconnect",
        target=locked,
        target_type="integration",
        target_id=provider,
        changes={"has_signing_secret": [had, False]},
    )
    return locked
