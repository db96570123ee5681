"""Undoing what a refunded or disputed payment recorded, the way every other path does.

An approved or paid conversion is reversed through the ledger
(``conversions.reversals.conversion_reverse``: status ``reversed``, a negative ledger entry
that the partner's next payout nets, one audit event), with the reason ``refund`` or
``chargeback``. One still pending (or held for review) has earned nothing yet: it is rejected
instead (``conversion_reject``), as reverse_conversion itself advises. A partial refund leaves
the conversion as it is (the ledger reverses whole conversions): it is logged as ignored
(``partial_refund``) for the brand to decide."""

from __future__ import annotations

from decimal import Decimal

from audit.actor import Actor
from conversions.ledger_models import ReversalReason
from conversions.models import Conversion, ConversionStatus
from conversions.reversals import REVERSIBLE, conversion_reverse
from conversions.services import conversion_reject
from core.errors import ConflictError

LEDGER_REASONS = {"refunded": ReversalReason.REFUND, "disputed": ReversalReason.CHARGEBACK}


def reverse_payment(
    *, actor: Actor, conversion: Conversion, amount: Decimal | None, reason: str, note: str = ""
) -> str:
    """Reverse ``conversion`` for ``reason`` (refunded, disputed); ``amount`` None or at least
    the sale: all of it. The answer is the log's detail line."""
    # The refund is in the currency the sale was reported in (the order's, the charge's): it
    # is compared with the sale as reported, not with the sale converted into the offer's.
    if amount is not None and amount < conversion.original_amount:
        raise ConflictError(
            f"A partial refund ({amount} of {conversion.original_amount} "
            f"{conversion.original_currency}) "
            f"leaves {conversion.pk} as it is: reverse it yourself (reverse_conversion) or "
            "adjust the partner's balance (create_ledger_adjustment).",
            code="partial_refund",
        )
    if conversion.status == ConversionStatus.REJECTED:
        return f"{conversion.pk} was already rejected."
    if conversion.status in REVERSIBLE or conversion.status == ConversionStatus.REVERSED:
        reversed_ = conversion_reverse(
            actor=actor, conversion=conversion, reason=LEDGER_REASONS[reason], note=note[:500]
        )
        return f"{reversed_.pk} reversed ({reversed_.status_reason}); the ledger nets it."
    rejected = conversion_reject(actor=actor, conversion=conversion, reason=reason)
    return f"{rejected.pk} was not approved yet: rejected ({reason})."
