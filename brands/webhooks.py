"""Writes and reads for a brand's webhook endpoints and its outbound signing secret
(docs/webhooks.md). Every write is audited in its own transaction; every read is confined to
the actor's brand (another brand's endpoint answers like one that never existed)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit.actor import Actor
from audit.services import audit_record, changes_between, snapshot
from brands.events import EVENTS
from brands.webhook_models import SigningSecret, WebhookEndpoint
from core.config_cache import cached_for_brand, tracking_config_changed
from core.errors import ConflictError, NotFoundError, ValidationError
from core.locking import lock_one
from core.outbound_http import OutboundRefused, check_template_on_save
from core.validation import full_clean_or_raise
from core.webhook_signing import new_signing_secret

MAX_ENDPOINTS = 20
MAX_OVERLAP_HOURS = 7 * 24
ENDPOINT_FIELDS = ("url", "events", "description", "is_active")


# --- the signing secret ----------------------------------------------------------------------


@transaction.atomic
def signing_secret_rotate(*, actor: Actor, overlap_hours: int = 24) -> tuple[SigningSecret, str]:
    """A new ``whsec_…`` secret, returned once in plaintext. The previous one keeps signing
    (a second signature in ``webhook-signature``) for ``overlap_hours``, so receivers can
    switch without dropping a request."""
    actor.require_write()
    if not 0 <= overlap_hours <= MAX_OVERLAP_HOURS:
        raise ValidationError(
            f"overlap_hours must be between 0 and {MAX_OVERLAP_HOURS}.",
            fields={"overlap_hours": [f"0 to {MAX_OVERLAP_HOURS}."]},
        )
    now = timezone.now()
    plaintext = new_signing_secret()
    SigningSecret.objects.get_or_create(brand_id=actor.brand_id, defaults={"secret": plaintext})
    locked = lock_one(
        SigningSecret.objects.filter(brand_id=actor.brand_id),
        not_found=("signing secret", actor.brand_slug),
    )
    if locked.secret != plaintext:
        locked.previous_secret = locked.secret if overlap_hours else ""
        locked.previous_valid_until = (
            now + timedelta(hours=overlap_hours) if overlap_hours else None
        )
        locked.secret = plaintext
    locked.rotated_at = now
    locked.save()
    audit_record(
        actor=actor,
        action="brand.rotate_signing_secret",
        target_type="signing_secret",
        target_id=actor.brand_slug,
        changes={
            "secret": ["[redacted]", "[redacted, new]"],
            "previous_valid_until": [None, locked.previous_valid_until],
        },
    )
    return locked, plaintext


def signing_secret_get(*, actor: Actor) -> dict[str, Any]:
    """Whether the brand has a signing secret, and its rotation times (never the value)."""
    row = SigningSecret.objects.filter(brand_id=actor.brand_id).first()
    return {
        "has_secret": row is not None,
        "rotated_at": row.rotated_at if row else None,
        "previous_valid_until": row.previous_valid_until if row else None,
    }


def signing_secrets_in_use(brand_id: int, *, now: datetime | None = None) -> list[str]:
    """The secrets an outbound request of the brand is signed with, current first. A brand
    without one gets one here (the worker's first delivery): never shown, so the brand rotates
    to learn a secret (docs/webhooks.md)."""
    row = SigningSecret.objects.filter(brand_id=brand_id).first()
    if row is None:
        SigningSecret.objects.get_or_create(
            brand_id=brand_id, defaults={"secret": new_signing_secret()}
        )
        row = SigningSecret.objects.get(brand_id=brand_id)
    in_use = [row.secret]
    if (
        row.previous_secret
        and row.previous_valid_until is not None
        and row.previous_valid_until > (now or timezone.now())
    ):
        in_use.append(row.previous_secret)
    return in_use


# --- endpoints -------------------------------------------------------------------------------


def _clean_events(events: Sequence[str]) -> list[str]:
    unknown = sorted({str(name) for name in events} - set(EVENTS))
    if unknown:
        raise ValidationError(
            f"Unknown event(s): {', '.join(name[:40] for name in unknown[:5])}. Known: "
            f"{', '.join(EVENTS)}.",
            code="unknown_event",
            fields={"events": ["Unknown event."]},
        )
    if not events:
        raise ValidationError(
            "Subscribe to at least one event.", fields={"events": ["At least one."]}
        )
    return [name for name in EVENTS if name in set(events)]  # catalog order, no repeats


def _check_url(url: str) -> None:
    try:
        check_template_on_save(url, {})
    except OutboundRefused as refused:
        raise ValidationError(
            f"url refused: {refused.message}",
            code=f"unsafe_webhook_url_{refused.code}",
            fields={"url": [refused.message]},
        ) from None
    if "{" in url or "}" in url:
        raise ValidationError(
            "A webhook url takes no placeholders.",
            code="invalid_input",
            fields={"url": ["No placeholders."]},
        )


@transaction.atomic
def webhook_create(
    *,
    actor: Actor,
    url: str,
    events: Sequence[str],
    description: str = "",
    is_active: bool = True,
) -> WebhookEndpoint:
    actor.require_write()
    endpoint = WebhookEndpoint(
        brand_id=actor.brand_id,
        url=url,
        events=_clean_events(events),
        description=description,
        is_active=is_active,
    )
    full_clean_or_raise(endpoint, exclude=["brand"])
    _check_url(url)
    # Counted under the brand's row lock so two concurrent creates cannot pass the limit.
    from brands.models import Brand

    lock_one(Brand.objects.filter(pk=actor.brand_id), not_found=("brand", actor.brand_slug))
    if WebhookEndpoint.objects.filter(brand_id=actor.brand_id).count() >= MAX_ENDPOINTS:
        raise ConflictError(
            f"A brand has at most {MAX_ENDPOINTS} webhook endpoints; delete one first.",
            code="too_many_webhooks",
        )
    endpoint.save()
    audit_record(
        actor=actor,
        action="webhook.create",
        target=endpoint,
        target_type="webhook",
        changes={name: [None, getattr(endpoint, name)] for name in ENDPOINT_FIELDS},
    )
    tracking_config_changed(actor.brand_id)
    return endpoint


def _lock(actor: Actor, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    return lock_one(
        WebhookEndpoint.objects.filter(pk=endpoint.pk, brand_id=actor.brand_id),
        not_found=("webhook", endpoint.pk),
    )


@transaction.atomic
def webhook_update(*, actor: Actor, endpoint: WebhookEndpoint, **fields: Any) -> WebhookEndpoint:
    """Change url, events, description or is_active; only the fields given change."""
    actor.require_write()
    unknown = set(fields) - set(ENDPOINT_FIELDS)
    if unknown:
        raise ValidationError(
            f"These fields cannot be changed here: {', '.join(sorted(unknown))}.",
            fields={name: ["Not updatable."] for name in sorted(unknown)},
        )
    locked = _lock(actor, endpoint)
    before = snapshot(locked, ENDPOINT_FIELDS)
    if "events" in fields:
        fields["events"] = _clean_events(fields["events"])
    for name, value in fields.items():
        setattr(locked, name, value)
    full_clean_or_raise(locked, exclude=["brand"])
    if "url" in fields:
        _check_url(locked.url)
    changes = changes_between(before, snapshot(locked, ENDPOINT_FIELDS))
    if changes:
        locked.save()
        audit_record(
            actor=actor,
            action="webhook.update",
            target=locked,
            target_type="webhook",
            changes=changes,
        )
        tracking_config_changed(actor.brand_id)
    return locked


@transaction.atomic
def webhook_delete(*, actor: Actor, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Delete the subscription. Its delivery log stays (deliveries not yet sent are dropped
    by the worker as ``endpoint_deleted``)."""
    actor.require_write()
    locked = _lock(actor, endpoint)
    audit_record(
        actor=actor,
        action="webhook.delete",
        target=locked,
        target_type="webhook",
        changes={name: [getattr(locked, name), None] for name in ENDPOINT_FIELDS},
    )
    pk = locked.pk
    locked.delete()
    locked.pk = pk  # the answer still names what was deleted
    tracking_config_changed(actor.brand_id)
    return locked


def webhook_list(*, actor: Actor) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(brand_id=actor.brand_id).order_by("-created_at", "-pk")


def webhook_get_for_actor(*, actor: Actor, webhook_id: int) -> WebhookEndpoint:
    try:
        return webhook_list(actor=actor).get(pk=webhook_id)
    except (WebhookEndpoint.DoesNotExist, ValueError, OverflowError):
        raise NotFoundError("webhook", webhook_id) from None


def subscribed_events(brand_id: int) -> frozenset[str]:
    """The events some active endpoint of the brand subscribes to, cached per process and
    invalidated by every endpoint write: an event nobody wants costs no query."""

    def load() -> frozenset[str]:
        rows = WebhookEndpoint.objects.filter(brand_id=brand_id, is_active=True)
        return frozenset(
            name for events in rows.values_list("events", flat=True) for name in events
        )

    return cached_for_brand(("webhook-events", brand_id), brand_id, load)
