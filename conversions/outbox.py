"""Outbound postbacks: rendering into the outbox, and delivering from it.

Rows are written in the conversion's transaction (a rolled-back conversion fires nothing).
The worker claims one due row at a time with ``SELECT … FOR UPDATE SKIP LOCKED`` and keeps the
lock while it sends, so two workers never send the same delivery; a worker killed between
sending and committing leaves the row due again (at-least-once, receivers dedup on the
conversion id). Retries follow the Svix schedule with ±10 % jitter, then ``dead``."""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from conversions.models import Conversion, DeliveryStatus, PostbackDelivery
from core.outbound_http import OutboundRefused, fetch
from core.url_templates import render_url_template

logger = logging.getLogger(__name__)

# Delay before attempt n+1 after n failures: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
RETRY_DELAYS = [
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
]
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# Refusals that no retry can fix.
PERMANENT_REFUSALS = {
    "scheme_not_allowed",
    "credentials_in_url",
    "port_not_allowed",
    "host_not_allowed",
    "address_not_public",
    "invalid_url",
    "url_too_long",
    "placeholder_in_host",
}


def postback_values(
    conversion: Conversion, *, offer_slug: str, partner_slug: str
) -> dict[str, object]:
    return {
        "CLICK_ID": conversion.click_id or "",
        "CONVERSION_ID": conversion.id,
        "AMOUNT": conversion.sale_amount,
        "TXN_ID": conversion.txn_id,
        "EVENT_TYPE": conversion.event_type,
        "PAYOUT": conversion.payout,
        "CURRENCY": conversion.currency,
        "OFFER_ID": offer_slug,
        "PARTNER_ID": partner_slug,
        "SUB1": conversion.sub1,
        "SUB2": conversion.sub2,
        "SUB3": conversion.sub3,
        "SUB4": conversion.sub4,
        "SUB5": conversion.sub5,
    }


def enqueue_postback(
    conversion: Conversion, *, template: str | None, offer_slug: str, partner_slug: str
) -> PostbackDelivery | None:
    """Write the outbox row for a conversion, once. Caller holds the conversion's transaction.
    A test conversion (send_test_postback) never reaches the partner: no row."""
    if (
        not template
        or conversion.is_test
        or PostbackDelivery.objects.filter(conversion=conversion).exists()
    ):
        return None
    url = render_url_template(
        template, postback_values(conversion, offer_slug=offer_slug, partner_slug=partner_slug)
    )
    return PostbackDelivery.objects.create(
        brand_id=conversion.brand_id, conversion=conversion, url=url, next_attempt_at=timezone.now()
    )


def next_delay(attempts: int) -> timedelta | None:
    """Delay after the ``attempts``-th failure, jittered ±10 %; None when retries are exhausted."""
    if attempts >= MAX_ATTEMPTS:
        return None
    base = RETRY_DELAYS[attempts - 1]
    return base * random.uniform(0.9, 1.1)  # noqa: S311 - jitter, not security


def _due(now: datetime) -> Q:
    return Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED], next_attempt_at__lte=now)


def deliver_one(now: datetime | None = None) -> PostbackDelivery | None:
    """Claim and attempt the next due delivery; None when nothing is due."""
    with transaction.atomic():
        delivery = (
            PostbackDelivery.objects.select_for_update(skip_locked=True)
            .filter(_due(now or timezone.now()))
            .order_by("next_attempt_at", "pk")
            .first()
        )
        if delivery is None:
            return None
        _attempt(delivery)
        return delivery


def _attempt(delivery: PostbackDelivery) -> None:
    delivery.attempts += 1
    status_code, error = None, ""
    try:
        # The same key on every attempt of this delivery (the IETF Idempotency-Key header):
        # a worker killed between sending and recording resends one request, which a receiver
        # can recognise without parsing the URL.
        response = fetch(delivery.url, extra_headers={"Idempotency-Key": f"trk-pb-{delivery.pk}"})
        status_code = response.status
    except OutboundRefused as refused:
        error = refused.code
    now = timezone.now()
    delivery.last_status_code = status_code
    if status_code is not None and 200 <= status_code < 300:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        delivery.last_error = ""
    else:
        if status_code is not None:
            # 3xx counts as a failure and is not followed; 410 means "stop sending".
            error = "gone" if status_code == 410 else f"http_{status_code}"
        delivery.last_error = error
        delay = (
            None
            if error in PERMANENT_REFUSALS or status_code == 410
            else next_delay(delivery.attempts)
        )
        if delay is None:
            delivery.status = DeliveryStatus.DEAD
            delivery.next_attempt_at = None
        else:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = now + delay
    delivery.save(
        update_fields=[
            "attempts",
            "status",
            "last_status_code",
            "last_error",
            "next_attempt_at",
            "delivered_at",
            "updated_at",
        ]
    )
    logger.info(
        "postback delivery %s attempt %s: %s %s",
        delivery.pk,
        delivery.attempts,
        delivery.status,
        status_code or error,
    )


def drain(*, limit: int | None = None, now: datetime | None = None) -> int:
    """Attempt due deliveries until none is due (or ``limit``); returns how many were tried."""
    tried = 0
    while limit is None or tried < limit:
        if deliver_one(now) is None:
            break
        tried += 1
    return tried
