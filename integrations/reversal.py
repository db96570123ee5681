"""Undoing what a refunded or disputed payment recorded, the way every other path does: through
``conversions.refund_ledger.conversion_refund``, the service refund postbacks use too.

A refund of the whole payment (or a dispute) reverses an approved or paid conversion (status
``reversed``, a negative ledger entry that the partner's next payout nets) with the reason
``refund`` or ``chargeback``, and rejects one still pending (``refunded`` / ``disputed``). A
partial refund reverses the refunded share of a revenue-share commission and leaves the status
as it is; the refunds that reach the whole payment reverse what is left (docs/ledger.md,
"Partial refunds"). Each refund counts once, by its own id."""

from __future__ import annotations

from decimal import Decimal

from audit.actor import Actor
from conversions.ledger_models import ReversalReason
from conversions.models import Conversion
from conversions.refund_ledger import conversion_refund

# A cancelled order (Shopify orders/cancelled) is money returned, as a refund is.
LEDGER_REASONS = {
    "refunded": ReversalReason.REFUND,
    "disputed": ReversalReason.CHARGEBACK,
    "cancelled": ReversalReason.REFUND,
}


def reverse_payment(
    *,
    actor: Actor,
    conversion: Conversion,
    refund_id: str,
    amount: Decimal | None,
    reason: str,
    currency: str = "",
    cumulative: bool = False,
    note: str = "",
) -> str:
    """Refund ``conversion`` for ``reason`` (refunded, disputed, cancelled): ``amount`` of the
    payment, in its currency (None: all of it; ``cumulative``: all refunded so far). The answer
    is the log's detail line."""
    result = conversion_refund(
        actor=actor,
        conversion=conversion,
        refund_id=refund_id,
        reason=LEDGER_REASONS[reason],
        amount=amount,
        currency=currency,
        cumulative=cumulative,
        note=note[:500],
        reject_reason=reason,
    )
    return result.detail()
