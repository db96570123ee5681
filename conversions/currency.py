"""A reported sale in its offer's currency: the one step between a parsed postback (or an
integration's order) and the conversion it records.

A sale in the offer's currency is taken as it is, with no lookup. One in another currency is
converted at the rate of the conversion's day in the brand's time zone (``brands.fx``, the
lookup rule in docs/currencies.md), and the conversion keeps what was reported
(``original_amount``, ``original_currency``) and the rate (``fx_rate``). With no rate the
sale is refused, ``fx_rate_missing``: never converted at a guess."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from brands.fx import ONE, convert
from conversions.postbacks import PostbackInput
from conversions.rollups import local_day
from conversions.tracking_config import BrandConfig, OfferConfig


@dataclass(frozen=True, slots=True)
class Original:
    """What the sale was reported in, and the rate applied (1 original = rate offer's)."""

    amount: Decimal
    currency: str
    rate: Decimal = ONE

    def fields(self) -> dict[str, Any]:
        """The Conversion columns."""
        return {
            "original_amount": self.amount,
            "original_currency": self.currency,
            "fx_rate": self.rate,
        }

    def audit_changes(self, offer_currency: str) -> dict[str, list[Any]]:
        """For the conversion's audit event: only when it was converted."""
        if self.currency == offer_currency:
            return {}
        return {name: [None, value] for name, value in self.fields().items()}


def in_offer_currency(
    brand: BrandConfig, offer: OfferConfig, data: PostbackInput, *, now: dt.datetime
) -> tuple[PostbackInput, Original]:
    """``data`` with its amount in the offer's currency, and the original it came from.
    Raises ValidationError ``fx_rate_missing`` (or ``amount_out_of_range``)."""
    original = Original(data.amount, data.currency)
    if data.currency == offer.currency:
        return data, original
    converted = convert(
        brand_id=brand.id,
        amount=data.amount,
        currency=data.currency,
        into=offer.currency,
        day=local_day(now, brand.tz),
        context=f" (offer {offer.slug} is in {offer.currency})",
        then=" The sale was not recorded: send it again once the rate is there.",
    )
    return (
        dataclasses.replace(data, amount=converted.amount, currency=offer.currency),
        Original(data.amount, data.currency, converted.quote.rate),
    )
