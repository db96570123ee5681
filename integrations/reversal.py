"""Undoing what a refunded or disputed payment recorded.

Until the ledger's reversal lands, a full refund or a dispute rejects the conversion
(``conversions.services.conversion_reject``: only while it is unpaid and in no payout) and a
partial refund is recorded and left alone."""

from __future__ import annotations

from decimal import Decimal

from audit.actor import Actor
from conversions.models import Conversion, ConversionStatus
from conversions.services import conversion_reject
from core.errors import ConflictError


def reverse_payment(
    *, actor: Actor, conversion: Conversion, amount: Decimal | None, reason: str
) -> str:
    """Reverse ``conversion`` for ``reason`` (refunded, disputed); ``amount`` None or at least
    the sale: all of it. The answer is the log's detail line."""
    if amount is not None and amount < conversion.sale_amount:
        raise ConflictError(
            f"A partial refund ({amount} of {conversion.sale_amount} {conversion.currency}) "
            f"leaves {conversion.pk} as it is.",
            code="partial_refund",
        )
    if conversion.status == ConversionStatus.REJECTED:
        return f"{conversion.pk} was already rejected."
    rejected = conversion_reject(actor=actor, conversion=conversion, reason=reason)
    return f"{rejected.pk} rejected ({reason})."
