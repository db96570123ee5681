"""The events a brand's webhooks can subscribe to, and how a write announces one.

``emit`` is called inside the transaction of the change that causes the event (a transactional
outbox: the event exists if and only if the change committed). The outbox table lives in
``conversions``, above the apps that emit (``partners`` announces applications), so the outbox
registers its writer here when the app registry is ready (``ConversionsConfig.ready``); this
module only knows the catalog."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

CONVERSION_CREATED = "conversion.created"
CONVERSION_APPROVED = "conversion.approved"
CONVERSION_REJECTED = "conversion.rejected"
CONVERSION_REVERSED = "conversion.reversed"
PAYOUT_PAID = "payout.paid"
PARTNER_APPLIED = "partner.applied"
PARTNER_APPROVED = "partner.approved"
CAP_REACHED = "cap.reached"
POSTBACK_DEAD = "postback.dead"

EVENTS: dict[str, str] = {
    CONVERSION_CREATED: "A conversion was recorded (any status; test conversions never).",
    CONVERSION_APPROVED: "A conversion was approved.",
    CONVERSION_REJECTED: "A conversion was rejected.",
    CONVERSION_REVERSED: "An approved or paid conversion was reversed (refund, chargeback).",
    PAYOUT_PAID: "A payout was marked paid.",
    PARTNER_APPLIED: "A partner applied through the public application page.",
    PARTNER_APPROVED: "A partner application was approved.",
    CAP_REACHED: "An offer's conversion cap filled for the current day, week or month.",
    POSTBACK_DEAD: "An outbound postback exhausted its retries (or was refused for good).",
}

Writer = Callable[[int, str, Mapping[str, Any]], object]
_writers: list[Writer] = []


def register_writer(writer: Writer) -> None:
    if writer not in _writers:
        _writers.append(writer)


def emit(*, brand_id: int, event: str, data: Mapping[str, Any]) -> None:
    """Announce ``event`` with its ``data`` (JSON-ready values); call inside the change's
    transaction. Cheap when no endpoint of the brand subscribes to it."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    for writer in _writers:
        writer(brand_id, event, data)
