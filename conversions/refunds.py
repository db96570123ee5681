"""Refund postbacks: the advertiser reports that a recorded sale was refunded or charged back,
and the conversion is taken back automatically (docs/tracking.md, "Refunds and chargebacks").

Sent to the offer's inbound postback URL and proven like any postback (signature, secret or
allowed IP: ``conversions.postback_intake`` checks the origin before this reads anything):

- ``event=refund`` (or ``chargeback``) marks it; the events are reserved and never recorded as
  conversions.
- ``original_txn_id`` names the sale taken back; without it ``txn_id`` does (so resending
  the sale's own postback with ``event=refund`` is enough). ``original_event`` is that sale's
  event (default ``sale``). ``txn_id`` is required either way: with ``original_txn_id`` it is
  the refund's own id, kept in the postback log and the reversal's note.
- ``amount`` (optional) is how much of the sale was refunded, in the currency the sale was
  reported in (``currency``, when sent, must be it); without it, or when the refunds reach
  the whole sale, the whole sale is taken back. All of it goes through
  ``conversions.refund_ledger.conversion_refund``, the service the store integrations use:
  an approved or paid conversion refunded whole is reversed (a negative entry, carried into
  the partner's next payout if the sale was paid), a pending or held one is rejected (nothing
  was owed yet); a partial refund reverses the refunded share of a revenue-share commission
  and leaves the status as it is (docs/ledger.md, "Partial refunds").
- Repeats change nothing: the refund's ``txn_id`` is its id, and a repeated one answers
  ``duplicate: true``; so does a conversion already reversed or rejected
  (``already_reversed`` / ``already_rejected``).
- An original that does not exist for this offer (or is a test) is refused
  ``unknown_original_txn``, logged like any refusal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction

from audit.actor import Actor
from conversions.models import Conversion
from conversions.postbacks import DEFAULT_EVENT, EVENT_PATTERN, TXN_ID_PATTERN
from conversions.refund_ledger import conversion_refund, refund_amount
from conversions.tracking_config import OfferConfig
from core.currencies import parse_currency
from core.errors import ValidationError

REFUND_EVENTS = frozenset({"refund", "chargeback"})


@dataclass(frozen=True)
class RefundInput:
    reason: str  # refund | chargeback: the event, and the reversal's reason code
    txn_id: str  # the refund's own id (or the sale's, when it names no original)
    original_txn_id: str
    original_event: str
    amount: Decimal | None = None  # None: the whole sale
    currency: str = ""  # when sent: must be the sale's as reported


@dataclass(frozen=True)
class RecordedRefund:
    conversion: Conversion  # the original sale, as it is now
    duplicate: bool
    outcome: str  # reversed, rejected, partially_refunded, already_*
    original_txn_id: str
    original_event: str
    refunded: Decimal = Decimal("0.00")
    reversed: Decimal = Decimal("0.00")


def is_refund(params: Mapping[str, str]) -> bool:
    """Does this postback report a refund? One dictionary read: a sale's path is unchanged."""
    return params.get("event", "").strip().lower() in REFUND_EVENTS


def _field_error(name: str, code: str, message: str) -> ValidationError:
    return ValidationError(message, code=code, fields={name: [message]})


def parse_refund(params: Mapping[str, str]) -> RefundInput:
    reason = params.get("event", "").strip().lower()
    txn_id = params.get("txn_id", "").strip()
    if not txn_id:
        raise _field_error(
            "txn_id", "missing_txn_id", "txn_id is required: the refunded sale's, or the refund's."
        )
    original = params.get("original_txn_id", "").strip() or txn_id
    for name, value in (("txn_id", txn_id), ("original_txn_id", original)):
        if not TXN_ID_PATTERN.fullmatch(value):
            raise _field_error(
                name, "invalid_txn_id", f"{name} must be 1–128 printable characters, no spaces."
            )
    original_event = params.get("original_event", "").strip().lower() or DEFAULT_EVENT
    if not EVENT_PATTERN.fullmatch(original_event) or original_event in REFUND_EVENTS:
        raise _field_error(
            "original_event",
            "invalid_event",
            "original_event is the refunded sale's event (default sale), e.g. sale or signup.",
        )
    raw_amount = params.get("amount", "").strip()
    raw_currency = params.get("currency", "").strip()
    currency = parse_currency(raw_currency) if raw_currency else ""
    if currency is None:
        raise _field_error(
            "currency",
            "invalid_currency",
            "currency must be an ISO 4217 code of three letters: the sale's as reported.",
        )
    return RefundInput(
        reason=reason,
        txn_id=txn_id,
        original_txn_id=original,
        original_event=original_event,
        amount=refund_amount(raw_amount) if raw_amount else None,
        currency=currency,
    )


def _unknown(data: RefundInput) -> ValidationError:
    return ValidationError(
        f"No {data.original_event} with txn_id {data.original_txn_id} was recorded for this "
        "offer, so there is nothing to refund. Check original_txn_id (or txn_id) and "
        "original_event.",
        code="unknown_original_txn",
        fields={"original_txn_id": ["No such sale on this offer."]},
    )


@transaction.atomic
def refund_record(*, actor: Actor, offer: OfferConfig, data: RefundInput) -> RecordedRefund:
    """Take back the sale ``data`` names, whole or in part (``conversion_refund``): reverse it
    (approved, paid), reject it (pending, held), reverse a share of its commission (partial),
    or answer what it already is. Raises ``unknown_original_txn``."""
    found = Conversion.objects.filter(
        brand_id=actor.brand_id,
        offer_id=offer.id,
        event_type=data.original_event,
        txn_id=data.original_txn_id,
        is_test=False,
    )[:1]
    original = next(iter(found), None)
    if original is None:
        raise _unknown(data)
    result = conversion_refund(
        actor=actor,
        conversion=original,
        refund_id=data.txn_id,
        reason=data.reason,
        amount=data.amount,
        currency=data.currency,
        note=f"{data.reason} postback, txn_id {data.txn_id}",
    )
    return RecordedRefund(
        conversion=result.conversion,
        duplicate=result.duplicate,
        outcome=result.outcome,
        original_txn_id=data.original_txn_id,
        original_event=data.original_event,
        refunded=result.refunded,
        reversed=result.reversed,
    )


def refund_answer(recorded: RecordedRefund) -> dict[str, Any]:
    """The refund postback's 200 answer: the original conversion as it now is, and what this
    postback did to it."""
    conversion = recorded.conversion
    return {
        "conversion_id": conversion.pk,
        "status": conversion.status,
        "status_reason": conversion.status_reason,
        "duplicate": recorded.duplicate,
        "txn_id": conversion.txn_id,
        "event": conversion.event_type,
        "refund": {
            "outcome": recorded.outcome,
            "original_txn_id": recorded.original_txn_id,
            "original_event": recorded.original_event,
            # Of the sale as reported, so far; and what this refund took back of the commission.
            "refunded_amount": recorded.refunded,
            "currency": conversion.original_currency,
            "commission_reversed": recorded.reversed,
        },
    }
