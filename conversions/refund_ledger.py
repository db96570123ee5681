"""Refunds, whole or partial: the one service refund postbacks (``conversions.refunds``) and the
store integrations (Stripe, Shopify: ``integrations.reversal``) call (docs/ledger.md, "Partial
refunds").

A refund names the sale it takes back, its own id (the refund postback's ``txn_id``, a Stripe
refund or dispute id, a Shopify refund id) and, when it is partial, how much of the sale, in
the currency the sale was reported in (``original_currency``). Under the conversion's lock:

- a refund id already recorded for the sale changes nothing (``already_recorded``), so replays
  and concurrent deliveries of one refund count once;
- the refunds of a sale never sum past it: the one that reaches the whole sale (or a refund
  without an amount) takes back what is left — an approved or paid conversion is reversed
  (``conversion_reverse``: its reversal entry is what is left of the commission), a pending
  or held one is rejected (``conversion_reject``: nothing was owed yet);
- a partial refund leaves the status as it is. A revenue-share commission (a percent payout)
  comes back in proportion: the reversal entries of the sale always sum to the commission ×
  the share refunded so far, rounded half-up to the cent (``ledger.refund_share_record``). A
  flat commission (a CPA) is kept until the sale is refunded whole: the acquisition happened.
  A pending sale's partial refunds are kept and come off its commission when it is approved.
- a conversion already rejected or reversed answers what it is (``already_rejected``,
  ``already_reversed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.actor import Actor
from audit.services import audit_record
from conversions.ledger import refund_share_record, refunded_total, reversed_so_far
from conversions.ledger_models import ConversionRefund, EntryKind, LedgerEntry, ReversalReason
from conversions.models import Conversion, ConversionStatus
from conversions.payouts_math import CENT, MAX_MONEY
from conversions.reversals import REVERSIBLE, conversion_reverse
from conversions.services import _lock_conversion, conversion_reject
from core.errors import ValidationError

REFUND_REASONS = (ReversalReason.REFUND, ReversalReason.CHARGEBACK)
REFUND_ID_MAX = 128

REVERSED = "reversed"
REJECTED = "rejected"
PARTIALLY_REFUNDED = "partially_refunded"
ALREADY_REVERSED = "already_reversed"
ALREADY_REJECTED = "already_rejected"
ALREADY_RECORDED = "already_recorded"


@dataclass(frozen=True)
class RefundResult:
    conversion: Conversion  # as it is now
    outcome: str
    duplicate: bool
    refunded: Decimal  # of the sale, so far, in its original_currency
    reversed: Decimal  # what this refund took back of the commission (positive)

    def detail(self) -> str:
        """One line for the integrations' event log."""
        conversion = self.conversion
        money = f"{self.refunded} of {conversion.original_amount} {conversion.original_currency}"
        if self.outcome == PARTIALLY_REFUNDED:
            return (
                f"{conversion.pk} refunded in part ({money}): {self.reversed} of its commission "
                "reversed; the ledger nets it."
            )
        if self.outcome == REVERSED:
            return f"{conversion.pk} reversed ({conversion.status_reason}); the ledger nets it."
        if self.outcome == REJECTED:
            return f"{conversion.pk} was not approved yet: rejected ({conversion.status_reason})."
        return f"{conversion.pk}: {self.outcome.replace('_', ' ')} ({money} refunded)."


def refund_amount(value: Any, *, name: str = "amount") -> Decimal:
    """A refund's amount: a positive decimal of at most two places within the money range."""
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        amount = Decimal("NaN")
    if not amount.is_finite() or amount <= 0 or amount > MAX_MONEY:
        raise ValidationError(
            f"{name} is the refunded amount, a decimal number above 0 and at most {MAX_MONEY} "
            "(e.g. 19.90), in the currency the sale was reported in.",
            code="invalid_amount",
            fields={name: ["A positive decimal number."]},
        )
    if amount != amount.quantize(CENT):
        raise ValidationError(
            f"{name} has at most two decimal places.",
            code="invalid_amount",
            fields={name: ["Too many decimals."]},
        )
    return amount.quantize(CENT)


def _checked(reason: str, refund_id: str) -> None:
    if reason not in REFUND_REASONS:
        raise ValidationError(
            "reason must be refund or chargeback.",
            code="invalid_reason",
            fields={"reason": ["refund or chargeback."]},
        )
    if not refund_id or len(refund_id) > REFUND_ID_MAX or "\x00" in refund_id:
        raise ValidationError(
            f"A refund needs its own id of 1–{REFUND_ID_MAX} characters.",
            code="invalid_refund_id",
            fields={"refund_id": ["Required."]},
        )


def _already(conversion: Conversion, refunded: Decimal) -> RefundResult:
    outcome = ALREADY_RECORDED
    if conversion.status == ConversionStatus.REVERSED:
        outcome = ALREADY_REVERSED
    elif conversion.status == ConversionStatus.REJECTED:
        outcome = ALREADY_REJECTED
    return RefundResult(conversion, outcome, True, refunded, Decimal("0.00"))


@transaction.atomic
def conversion_refund(
    *,
    actor: Actor,
    conversion: Conversion,
    refund_id: str,
    reason: str = ReversalReason.REFUND,
    amount: Decimal | None = None,
    currency: str = "",
    cumulative: bool = False,
    note: str = "",
    reject_reason: str = "",
) -> RefundResult:
    """Take back ``amount`` of the sale (None: all of it), in its ``original_currency``
    (``currency``, when given, must be it). ``cumulative``: ``amount`` is everything refunded
    so far (Stripe's ``amount_refunded``), not this refund alone. Idempotent by
    ``refund_id``. ``reject_reason``: the status reason of a pending sale refunded whole
    (default ``reason``)."""
    actor.require_write()
    _checked(reason, refund_id)
    locked = _lock_conversion(actor, conversion)
    if currency and currency.upper() != locked.original_currency:
        raise ValidationError(
            f"The refund is in {currency.upper()}, the sale was reported in "
            f"{locked.original_currency}: send the refunded amount in "
            f"{locked.original_currency}.",
            code="refund_currency_mismatch",
            fields={"currency": [f"The sale's currency is {locked.original_currency}."]},
        )
    before = refunded_total(locked)
    if ConversionRefund.objects.filter(conversion=locked, refund_id=refund_id).exists():
        return _already(locked, before)
    if locked.status in (ConversionStatus.REVERSED, ConversionStatus.REJECTED):
        return _already(locked, before)
    remaining = locked.original_amount - before
    if amount is None or locked.original_amount <= 0:
        step, whole = max(remaining, Decimal("0.00")), True
    else:
        step = min(amount - before if cumulative else amount, remaining)
        if step <= 0:
            # A cumulative total already covered (an older refund event arriving late).
            return _already(locked, before)
        whole = step >= remaining
    note = (note or f"{reason} {refund_id}")[:500]
    old_status = locked.status
    reversed_before = reversed_so_far(locked)
    entry: LedgerEntry | None = None
    if whole and locked.status in REVERSIBLE:
        locked = conversion_reverse(actor=actor, conversion=locked, reason=reason, note=note)
        outcome = REVERSED
        entry = (
            LedgerEntry.objects.filter(conversion=locked, kind=EntryKind.REVERSAL)
            .order_by("-created_at", "-pk")
            .first()
        )
    elif whole:
        locked = conversion_reject(actor=actor, conversion=locked, reason=reject_reason or reason)
        outcome = REJECTED
    else:
        outcome = PARTIALLY_REFUNDED
        if locked.status in REVERSIBLE:
            entry = refund_share_record(
                locked, actor=actor, refunded=before + step, reason=reason, note=note
            )
    reversed_now = reversed_so_far(locked) - reversed_before
    ConversionRefund.objects.create(
        brand_id=locked.brand_id,
        conversion=locked,
        refund_id=refund_id,
        reason=reason,
        amount=step,
        currency=locked.original_currency,
        entry=entry,
        created_by=actor.label[:200],
        created_at=timezone.now(),
    )
    if outcome == PARTIALLY_REFUNDED:
        # A whole refund's audit event is its reverse or reject; a partial one has its own.
        audit_record(
            actor=actor,
            action="conversion.refund",
            target=locked,
            changes={
                "refund_id": [None, refund_id],
                "reason": [None, reason],
                "refunded": [str(before), str(before + step)],
                "currency": [None, locked.original_currency],
                "commission_reversed": [None, reversed_now],
                "status": [old_status, locked.status],
                **({"payout_type": [None, locked.payout_type]} if locked.payout_type else {}),
            },
        )
    return RefundResult(locked, outcome, False, before + step, reversed_now)
