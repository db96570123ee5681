"""Webhooks to the brand: turning an emitted event (brands.events) into outbox rows, one per
active endpoint subscribed to it, in the transaction of the change that caused it; and the
event payloads. Delivery is the outbox's (conversions/outbox.py): the same worker, retry
schedule, SSRF guard, signature and replay as outbound postbacks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from brands.events import register_writer
from brands.webhook_models import WebhookEndpoint
from brands.webhooks import subscribed_events
from conversions.models import Conversion, DeliveryKind, Payout, PostbackDelivery
from partners.models import Partner


def enqueue_event(brand_id: int, event: str, data: Mapping[str, Any]) -> list[PostbackDelivery]:
    """One outbox row per active endpoint of the brand subscribed to ``event``. Runs inside
    the caller's transaction; no query at all when no endpoint subscribes (cached)."""
    if event not in subscribed_events(brand_id):
        return []
    now = timezone.now()
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(brand_id=brand_id, is_active=True)
        if event in endpoint.events
    ]
    if not endpoints:
        return []
    body = json.dumps(
        {"type": event, "timestamp": now.isoformat(), "data": dict(data)},
        cls=DjangoJSONEncoder,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return PostbackDelivery.objects.bulk_create(
        [
            PostbackDelivery(
                brand_id=brand_id,
                kind=DeliveryKind.WEBHOOK,
                event=event,
                endpoint=endpoint,
                url=endpoint.url,
                body=body,
                next_attempt_at=now,
            )
            for endpoint in endpoints
        ]
    )


def conversion_data(
    conversion: Conversion, *, offer_slug: str, partner_slug: str
) -> dict[str, Any]:
    return {
        "conversion_id": conversion.id,
        "offer_id": offer_slug,
        "partner_id": partner_slug,
        "status": conversion.status,
        "status_reason": conversion.status_reason,
        "event_type": conversion.event_type,
        "txn_id": conversion.txn_id,
        "click_id": conversion.click_id,
        "sale_amount": conversion.sale_amount,
        "payout": conversion.payout,
        "revenue": conversion.revenue,
        "currency": conversion.currency,
        "created_at": conversion.created_at,
    }


def payout_data(payout: Payout) -> dict[str, Any]:
    return {
        "payout_id": payout.pk,
        "partner_id": Partner.objects.values_list("slug", flat=True).get(pk=payout.partner_id),
        "amount": payout.amount,
        "currency": payout.currency,
        "period_start": payout.period_start,
        "period_end": payout.period_end,
        "method": payout.method,
        "reference": payout.reference,
        "paid_at": payout.paid_at,
    }


def register() -> None:
    register_writer(enqueue_event)
