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
- An approved or paid conversion is reversed through ``conversion_reverse`` (the ledger's one
  reversal function: a negative entry, carried into the partner's next payout if the sale was
  paid) with reason ``refund`` or ``chargeback``; a pending or held one is rejected
  (``conversion_reject``, reason ``refund`` / ``chargeback``): nothing was owed yet.
- Repeats change nothing: a conversion already reversed or rejected answers
  ``duplicate: true`` with what it already is (``already_reversed`` / ``already_rejected``).
- The whole sale is taken back; ``amount`` is not read (a partial refund is a ledger
  adjustment, ``create_ledger_adjustment``).
- An original that does not exist for this offer (or is a test) is refused
  ``unknown_original_txn``, logged like any refusal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from audit.actor import Actor
from conversions.models import Conversion, ConversionStatus
from conversions.postbacks import DEFAULT_EVENT, EVENT_PATTERN, TXN_ID_PATTERN
from conversions.reversals import conversion_reverse
from conversions.services import conversion_reject
from conversions.tracking_config import OfferConfig
from core.errors import ValidationError
from core.locking import lock_one

REFUND_EVENTS = frozenset({"refund", "chargeback"})
REVERSED = "reversed"
REJECTED = "rejected"
ALREADY_REVERSED = "already_reversed"
ALREADY_REJECTED = "already_rejected"


@dataclass(frozen=True)
class RefundInput:
    reason: str  # refund | chargeback: the event, and the reversal's reason code
    txn_id: str
    original_txn_id: str
    original_event: str


@dataclass(frozen=True)
class RecordedRefund:
    conversion: Conversion  # the original sale, as it is now
    duplicate: bool
    outcome: str  # reversed, rejected, already_reversed, already_rejected
    original_txn_id: str
    original_event: str


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
    return RefundInput(
        reason=reason, txn_id=txn_id, original_txn_id=original, original_event=original_event
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
    """Take back the sale ``data`` names: reverse it (approved, paid), reject it (pending,
    held), or answer what it already is. Raises ``unknown_original_txn``."""
    found = Conversion.objects.filter(
        brand_id=actor.brand_id,
        offer_id=offer.id,
        event_type=data.original_event,
        txn_id=data.original_txn_id,
        is_test=False,
    ).values_list("pk", flat=True)[:1]
    pk = next(iter(found), None)
    if pk is None:
        raise _unknown(data)
    # Locked for the decision; the services below lock it again (re-entrant) and re-check.
    original = lock_one(
        Conversion.objects.filter(pk=pk, brand_id=actor.brand_id),
        not_found=("conversion", pk),
    )
    note = f"{data.reason} postback, txn_id {data.txn_id}"
    if original.status in (ConversionStatus.APPROVED, ConversionStatus.PAID):
        moved = conversion_reverse(actor=actor, conversion=original, reason=data.reason, note=note)
        return _answer(moved, data, REVERSED, duplicate=False)
    if original.status in (ConversionStatus.PENDING, ConversionStatus.PENDING_REVIEW):
        moved = conversion_reject(actor=actor, conversion=original, reason=data.reason)
        return _answer(moved, data, REJECTED, duplicate=False)
    if original.status == ConversionStatus.REJECTED:
        return _answer(original, data, ALREADY_REJECTED, duplicate=True)
    return _answer(original, data, ALREADY_REVERSED, duplicate=True)


def _answer(
    conversion: Conversion, data: RefundInput, outcome: str, *, duplicate: bool
) -> RecordedRefund:
    return RecordedRefund(
        conversion=conversion,
        duplicate=duplicate,
        outcome=outcome,
        original_txn_id=data.original_txn_id,
        original_event=data.original_event,
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
        },
    }
