"""A payout stated in the currency its partner is paid in (docs/currencies.md, "Paying a
partner in their own currency").

A payout settles ledger entries of one currency and its ``amount`` stays in it. When the
partner has a ``payout_currency`` other than that, the payout also records the rate of the
day it is generated (brand time zone; the lookup rule of ``brands.fx``) and the amount in the
partner's currency, rounded half-up to the cent; ``fx_rate`` 1 and the same amount
otherwise. With no rate the payout is not generated (``fx_rate_missing`` among the skipped,
its entries carry on): never a guess."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from brands.fx import MAX_RATE, ONE, ZERO, fx_quote, to_cents

MAX_TOTAL = Decimal(10) ** 18


@dataclass(frozen=True)
class PaidIn:
    currency: str
    amount: Decimal
    rate: Decimal

    def audit_changes(self, currency: str) -> dict[str, list[Any]]:
        """For the payout's audit event: only when the partner is paid in another currency."""
        if self.currency == currency:
            return {}
        return {name: [None, value] for name, value in self.fields().items()}

    def fields(self) -> dict[str, Any]:
        """The Payout columns."""
        return {
            "partner_currency": self.currency,
            "partner_amount": self.amount,
            "fx_rate": self.rate,
        }


def paid_in(
    *, brand_id: int, partner_currency: str, currency: str, amount: Decimal, day: dt.date
) -> PaidIn | None:
    """``amount`` (in ``currency``) as the partner is paid it; None when there is no rate (or
    none that gives an amount Trcker can store)."""
    target = partner_currency or currency
    if target == currency:
        return PaidIn(currency, amount, ONE)
    quote = fx_quote(brand_id=brand_id, base=currency, quote=target, day=day)
    if quote is None or not ZERO < quote.rate < MAX_RATE:
        return None
    converted = to_cents(amount, quote.rate)
    if converted >= MAX_TOTAL:  # what partner_amount holds (conversions.models.TOTALS)
        return None
    return PaidIn(target, converted, quote.rate)


def rate_missing_skip(group: dict[str, Any], *, total: Decimal, day: dt.date) -> dict[str, Any]:
    """What the payout generation answers for a payout left out for want of a rate
    (``group``: the partner's entries of one currency, as payouts_generate sums them)."""
    slug, currency = group["partner__slug"], group["currency"]
    target = group["partner__payout_currency"]
    return {
        "partner_id": slug,
        "currency": currency,
        "amount": total,
        "entries": group["entries"],
        "reason": "fx_rate_missing",
        "message": (
            f"{slug} {currency}: the partner is paid in {target} and there is no exchange rate "
            f"from {currency} to {target} on or before {day}; set one (set_fx_rate) or load the "
            "ECB rates (load_fx_rates), then generate again. The entries carry into that payout."
        ),
    }
