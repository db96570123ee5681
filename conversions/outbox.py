"""The outbox: outbound postbacks (to the offer's and the partner's templates) and webhooks
to the brand (conversions/webhooks.py) — rendering rows into it, and delivering from it.

Rows are written in the transaction of the change that causes them (a rolled-back conversion
fires nothing). The worker claims one due row at a time with ``SELECT … FOR UPDATE SKIP
LOCKED`` and keeps the lock while it sends, so two workers never send the same delivery; a
worker killed between sending and committing leaves the row due again (at-least-once; every
attempt of a row carries the same ``webhook-id``/``Idempotency-Key``, so a receiver that
honours it sees each delivery exactly once). Every request is signed (Standard Webhooks
headers, core/webhook_signing.py) with the brand's signing secret. Retries follow the Svix
schedule with ±10 % jitter, then ``dead``; a postback that dies emits ``postback.dead``."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from brands import events
from brands.webhooks import signing_secrets_in_use
from conversions.models import Conversion, DeliveryKind, DeliveryStatus, PostbackDelivery
from conversions.webhooks import conversion_data
from core.outbound_http import OutboundRefused, fetch
from core.outbox import backoff, claim_each, claim_one
from core.url_templates import render_url_template
from core.webhook_signing import request_target, signature_headers

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
    "endpoint_deleted",
    "endpoint_disabled",
}
# A template with one of these tells one status from another, so it hears of every status
# change; one without gets one postback per conversion, on creation or approval (as before
# status postbacks existed), so its receiver never sees what looks like a repeat.
STATUS_PLACEHOLDERS = ("{STATUS}", "{EVENT}")
FIRST_EVENTS = {events.CONVERSION_CREATED, events.CONVERSION_APPROVED}
# Told only to a receiver already told of the conversion (held ones never were).
FOLLOW_UP_EVENTS = {events.CONVERSION_REJECTED, events.CONVERSION_REVERSED}


def postback_values(
    conversion: Conversion,
    *,
    offer_slug: str,
    partner_slug: str,
    event: str = events.CONVERSION_CREATED,
) -> dict[str, object]:
    return {
        "CLICK_ID": conversion.click_id or "",
        "CONVERSION_ID": conversion.id,
        "AMOUNT": conversion.sale_amount,
        "TXN_ID": conversion.txn_id,
        "EVENT_TYPE": conversion.event_type,
        "STATUS": conversion.status,
        "EVENT": event.removeprefix("conversion."),
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


def tells_status(template: str) -> bool:
    return any(placeholder in template for placeholder in STATUS_PLACEHOLDERS)


def enqueue_postbacks(
    conversion: Conversion,
    *,
    event: str,
    offer_template: str | None,
    partner_template: str | None,
    offer_slug: str,
    partner_slug: str,
) -> list[PostbackDelivery]:
    """Write the outbox rows a conversion's ``event`` causes: one per template (the offer's,
    the partner's) that should hear of it. Caller holds the change's transaction. A test
    conversion (send_test_postback) never reaches anyone: no row. Makes no query for a
    conversion just created (it has no deliveries yet)."""
    if conversion.is_test:
        return []
    fresh = event == events.CONVERSION_CREATED
    written = []
    for kind, template in (
        (DeliveryKind.OFFER_POSTBACK, offer_template),
        (DeliveryKind.PARTNER_POSTBACK, partner_template),
    ):
        if not template:
            continue
        sent = PostbackDelivery.objects.filter(conversion=conversion, kind=kind)
        if not tells_status(template):
            if event not in FIRST_EVENTS or (not fresh and sent.exists()):
                continue
        elif not fresh and (
            sent.filter(event=event).exists() or (event in FOLLOW_UP_EVENTS and not sent.exists())
        ):
            continue
        url = render_url_template(
            template,
            postback_values(
                conversion, offer_slug=offer_slug, partner_slug=partner_slug, event=event
            ),
        )
        written.append(
            PostbackDelivery.objects.create(
                brand_id=conversion.brand_id,
                kind=kind,
                event=event,
                conversion=conversion,
                url=url,
                next_attempt_at=timezone.now(),
            )
        )
    return written


def enqueue_conversion_event(conversion: Conversion, event: str) -> None:
    """Everything a status change tells the outside: the postbacks (offer's and partner's
    templates) and the brand's webhooks. ``conversion`` has its offer and partner loaded."""
    offer, partner = conversion.offer, conversion.partner
    enqueue_postbacks(
        conversion,
        event=event,
        offer_template=offer.postback_url_template,
        partner_template=partner.postback_url_template,
        offer_slug=offer.slug,
        partner_slug=partner.slug,
    )
    if not conversion.is_test:
        events.emit(
            brand_id=conversion.brand_id,
            event=event,
            data=conversion_data(conversion, offer_slug=offer.slug, partner_slug=partner.slug),
        )


def next_delay(attempts: int) -> timedelta | None:
    """Delay after the ``attempts``-th failure, jittered ±10 %; None when retries are exhausted."""
    return backoff(RETRY_DELAYS, attempts)


def _due(now: datetime) -> Q:
    return Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED], next_attempt_at__lte=now)


def _due_rows(now: datetime | None) -> QuerySet[PostbackDelivery]:
    return PostbackDelivery.objects.filter(_due(now or timezone.now())).order_by(
        "next_attempt_at", "pk"
    )


def deliver_one(now: datetime | None = None) -> PostbackDelivery | None:
    """Claim and attempt the next due delivery; None when nothing is due."""
    return claim_one(_due_rows(now), _attempt)


def message_id(delivery: PostbackDelivery) -> str:
    """The delivery's ``webhook-id``: the same on every attempt, unique per delivery."""
    prefix = "trk-wh" if delivery.kind == DeliveryKind.WEBHOOK else "trk-pb"
    return f"{prefix}-{delivery.pk}"


def _send(delivery: PostbackDelivery) -> int:
    """One signed request; the response status, or OutboundRefused."""
    url, method, body = delivery.url, "GET", None
    headers = {}
    if delivery.kind == DeliveryKind.WEBHOOK:
        endpoint = delivery.endpoint
        if endpoint is None:
            raise OutboundRefused("endpoint_deleted", "The webhook endpoint was deleted.")
        if not endpoint.is_active:
            raise OutboundRefused("endpoint_disabled", "The webhook endpoint is disabled.")
        # A fixed endpoint URL applies to deliveries still due and to replays.
        url, method, body = endpoint.url, "POST", delivery.body.encode()
        headers["Content-Type"] = "application/json"
    msg_id = message_id(delivery)
    headers.update(
        signature_headers(
            msg_id=msg_id,
            content=delivery.body if body is not None else request_target(url),
            secrets_in_use=signing_secrets_in_use(delivery.brand_id),
            at=timezone.now(),
        )
    )
    # The IETF Idempotency-Key header carries the same key, for receivers that look there.
    headers["Idempotency-Key"] = msg_id
    return fetch(url, method=method, body=body, extra_headers=headers).status


def _attempt(delivery: PostbackDelivery) -> None:
    delivery.attempts += 1
    status_code, error = None, ""
    try:
        status_code = _send(delivery)
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
            if delivery.kind != DeliveryKind.WEBHOOK:
                _announce_dead(delivery)
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
    return claim_each(lambda: _due_rows(now), _attempt, limit=limit)


def _announce_dead(delivery: PostbackDelivery) -> None:
    """``postback.dead``, in the transaction that marks the delivery dead (a webhook that dies
    announces nothing: its own log shows it, and it cannot loop)."""
    events.emit(
        brand_id=delivery.brand_id,
        event=events.POSTBACK_DEAD,
        data={
            "delivery_id": delivery.pk,
            "kind": delivery.kind,
            "event": delivery.event,
            "conversion_id": delivery.conversion_id,
            "url": delivery.url,
            "attempts": delivery.attempts,
            "last_status_code": delivery.last_status_code,
            "last_error": delivery.last_error,
        },
    )
