"""The demo's exchange rates: the ECB-format sample file as the reference rates, and the demo
brand's own rates into its dollars (so its 30 days of sales reported in euros, pounds and
Canadian dollars convert whatever today's date is: a brand's own rate has no age limit,
docs/currencies.md)."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from django.utils import timezone

from audit.actor import Actor
from brands.fx_services import fx_rate_set, fx_reference_load
from brands.models import FxReferenceRate
from core.ecb_rates import parse_reference_rates

SAMPLE = Path(__file__).resolve().parent / "data" / "eurofxref-sample.xml"
# The currencies the demo's foreign sales are reported in, by the visitor's country.
SALE_CURRENCY = {"GB": "GBP", "CA": "CAD", "DE": "EUR", "FR": "EUR"}
DAYS_BACK = 60


def seed_demo_rates(*, actor: Actor, currency: str = "USD") -> int:
    """Load the sample as reference rates (once), then set the brand's own rate into
    ``currency`` for each sale currency, from DAYS_BACK days ago, at the sample's last day's
    cross rate. Idempotent: the same rates again change nothing. Answers the rates set."""
    rates = parse_reference_rates(SAMPLE.read_bytes())
    if not FxReferenceRate.objects.exists():
        fx_reference_load(rates)
    last = max(rate.day for rate in rates)
    per_euro = {rate.currency: rate.rate for rate in rates if rate.day == last}
    per_euro["EUR"] = Decimal(1)
    since = timezone.localdate() - dt.timedelta(days=DAYS_BACK)
    made = 0
    for base in sorted(set(SALE_CURRENCY.values()) - {currency}):
        rate = (per_euro[currency] / per_euro[base]).quantize(
            Decimal("0.0001"), rounding=ROUND_HALF_UP
        )
        fx_rate_set(actor=actor, base=base, quote=currency, day=since, rate=rate)
        made += 1
    return made
