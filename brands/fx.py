"""Exchange rates: which rate turns an amount in one currency into another on a day, and the
conversion itself (docs/currencies.md).

The lookup rule, for 1 FROM = ? TO on day D (a conversion's day in its brand's time zone):

1. FROM = TO: 1, without a lookup.
2. The brand's own rate for the pair (``FxRate``, either direction; TO→FROM is inverted):
   the latest with day ≤ D. A brand's rate holds until the brand sets a later one.
3. Otherwise through EUR, rate(EUR→TO) ÷ rate(EUR→FROM), each leg (EUR→EUR is 1) being the
   brand's own rate for that pair if it has one with day ≤ D, else the latest reference rate
   (``FxReferenceRate``) with day ≤ D and at most ``REFERENCE_MAX_AGE_DAYS`` older than D —
   the ECB publishes on working days, so a weekend or holiday takes the last working day's,
   and a feed that stopped being loaded is not stretched over weeks.
4. Otherwise there is no rate, and the caller refuses (``fx_rate_missing``): never a guess.

A rate is kept to ``RATE_DECIMALS`` places, and an amount is converted as
``(amount × rate)`` rounded half-up to the cent, so the rate stored beside a conversion
reproduces its amount exactly.

Lookups are cached per process (``core.config_cache``) under both the brand's config
generation (a brand rate set) and the reference data's (a file loaded), so a postback in a
currency met before makes no query."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

from django.db.models import Q
from django.utils import timezone

from audit.actor import Actor
from brands.models import Brand, FxRate, FxReferenceRate
from core.config_cache import cached_for_brand, reference_generation
from core.currencies import is_currency
from core.errors import ValidationError

EUR = "EUR"
ONE = Decimal(1)
ZERO = Decimal(0)
CENT = Decimal("0.01")
RATE_DECIMALS = 12
RATE_QUANTUM = Decimal(1).scaleb(-RATE_DECIMALS)
REFERENCE_MAX_AGE_DAYS = 7
# What a conversion's fx_rate column holds (conversions.models.FX_RATE: 24 digits, 12 places).
MAX_RATE = Decimal(10) ** (24 - RATE_DECIMALS)
# What a money column holds (offers.models.MONEY: 14 digits, 2 decimals).
MAX_MONEY = Decimal("999999999999.99")


# Enough digits for any amount × rate the columns hold, so the product is exact before it is
# rounded once, half-up, to the cent (Python's default 28 would round it twice).
EXACT_DIGITS = 60


def to_cents(value: Decimal, *times: Decimal, divided_by: Decimal = ONE) -> Decimal:
    """``value`` × ``times`` ÷ ``divided_by``, computed with ``EXACT_DIGITS`` of precision and
    rounded once, half-up, to the cent."""
    with localcontext() as context:
        context.prec = EXACT_DIGITS
        for factor in times:
            value *= factor
        return (value / divided_by).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class FxQuote:
    """1 ``base`` = ``rate`` ``quote`` on a day, and where that came from."""

    base: str
    quote: str
    rate: Decimal
    source: str  # "same" (one currency), "brand" (the brand's pair), "reference", "mixed"
    rate_day: dt.date | None  # the oldest day of the rates used; None for "same"


@dataclass(frozen=True, slots=True)
class Converted:
    amount: Decimal  # in ``currency``
    currency: str
    original_amount: Decimal
    original_currency: str
    quote: FxQuote

    @property
    def was_converted(self) -> bool:
        return self.original_currency != self.currency


def _brand_pair(
    brand_id: int, base: str, quote: str, day: dt.date
) -> tuple[Decimal, dt.date] | None:
    row = (
        FxRate.objects.filter(brand_id=brand_id, day__lte=day)
        .filter(Q(base=base, quote=quote) | Q(base=quote, quote=base))
        .order_by("-day", "-updated_at", "-pk")
        .values_list("base", "rate", "day")[:1]
    )
    found = next(iter(row), None)
    if found is None:
        return None
    row_base, rate, row_day = found
    return (rate if row_base == base else ONE / rate), row_day


def _reference(currency: str, day: dt.date) -> tuple[Decimal, dt.date] | None:
    row = (
        FxReferenceRate.objects.filter(
            currency=currency,
            day__lte=day,
            day__gte=day - dt.timedelta(days=REFERENCE_MAX_AGE_DAYS),
        )
        .order_by("-day")
        .values_list("rate", "day")[:1]
    )
    return next(iter(row), None)


def _euro_leg(
    brand_id: int, currency: str, day: dt.date, *, brand_checked: bool
) -> tuple[Decimal, dt.date, str] | None:
    """1 EUR = ? ``currency`` on ``day``: (rate, its day, "brand" or "reference").
    ``brand_checked``: the brand has no rate for this pair (the direct lookup asked)."""
    own = None if brand_checked else _brand_pair(brand_id, EUR, currency, day)
    if own is not None:
        return own[0], own[1], "brand"
    reference = _reference(currency, day)
    if reference is not None:
        return reference[0], reference[1], "reference"
    return None


def _find_quote(brand_id: int, base: str, quote: str, day: dt.date) -> FxQuote | None:
    direct = _brand_pair(brand_id, base, quote, day)
    if direct is not None:
        return FxQuote(base, quote, direct[0].quantize(RATE_QUANTUM), "brand", direct[1])
    legs = []
    for currency in (base, quote):
        if currency == EUR:
            continue
        leg = _euro_leg(brand_id, currency, day, brand_checked=EUR in (base, quote))
        if leg is None:
            return None
        legs.append((currency, leg))
    per_euro = {currency: leg[0] for currency, leg in legs} | {EUR: ONE}
    rate = (per_euro[quote] / per_euro[base]).quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP)
    sources = {leg[2] for _, leg in legs}
    return FxQuote(
        base,
        quote,
        rate,
        sources.pop() if len(sources) == 1 else "mixed",
        min(leg[1] for _, leg in legs),
    )


def fx_quote(*, brand_id: int, base: str, quote: str, day: dt.date) -> FxQuote | None:
    """The rate for 1 ``base`` in ``quote`` on ``day`` by the lookup rule, or None."""
    if base == quote:
        return FxQuote(base, quote, ONE, "same", None)
    return cached_for_brand(
        ("fx", reference_generation(), brand_id, base, quote, day),
        brand_id,
        lambda: _find_quote(brand_id, base, quote, day),
    )


def rate_missing(
    base: str, quote: str, day: dt.date, *, context: str = "", then: str = ""
) -> ValidationError:
    message = (
        f"No exchange rate from {base} to {quote} on or before {day}{context}: load the ECB "
        "reference rates (manage.py load_fx_rates) or set the brand's own rate (set_fx_rate, "
        f"POST /api/v1/fx-rates/).{then}"
    )
    return ValidationError(message, code="fx_rate_missing", fields={"currency": [message]})


def convert(
    *,
    brand_id: int,
    amount: Decimal,
    currency: str,
    into: str,
    day: dt.date,
    context: str = "",
    then: str = "",
) -> Converted:
    """``amount`` ``currency`` in ``into`` on ``day``; ValidationError ``fx_rate_missing``
    when no rate applies, ``amount_out_of_range`` when the result would not fit a money
    column."""
    quote = fx_quote(brand_id=brand_id, base=currency, quote=into, day=day)
    if quote is None:
        raise rate_missing(currency, into, day, context=context, then=then)
    converted = to_cents(amount, quote.rate)
    if not ZERO < quote.rate < MAX_RATE:
        raise ValidationError(
            f"The rate from {currency} to {into} on {day} ({quote.rate}) is outside what "
            "Trcker can apply; check the brand's rates (list_fx_rates).",
            code="amount_out_of_range",
            fields={"currency": ["Exchange rate out of range."]},
        )
    if converted > MAX_MONEY:
        raise ValidationError(
            f"{amount} {currency} is {converted} {into}, more than the largest amount Trcker "
            f"stores ({MAX_MONEY}).",
            code="amount_out_of_range",
            fields={"amount": ["Too large once converted."]},
        )
    return Converted(converted, into, amount, currency, quote)


@dataclass(frozen=True)
class QuoteAnswer:
    quote: FxQuote
    day: dt.date
    amount: Decimal | None
    converted_amount: Decimal | None


def fx_rate_quote(
    *,
    actor: Actor,
    base: str,
    quote: str,
    day: dt.date | None = None,
    amount: Decimal | None = None,
) -> QuoteAnswer:
    """The rate a conversion of ``day`` (default: today in the brand's time zone) would use
    from ``base`` to ``quote``, and ``amount`` converted; ``fx_rate_missing`` when none."""
    for name, code in (("base", base), ("quote", quote)):
        if not is_currency(code):
            message = f"{code!r:.20} is not an ISO 4217 currency code."
            raise ValidationError(message, code="invalid_currency", fields={name: [message]})
    if day is None:
        tz = Brand.objects.values_list("timezone", flat=True).get(pk=actor.brand_id)
        day = timezone.localdate(timezone.now(), zoneinfo.ZoneInfo(tz))
    if amount is None:
        found = fx_quote(brand_id=actor.brand_id, base=base, quote=quote, day=day)
        if found is None:
            raise rate_missing(base, quote, day)
        return QuoteAnswer(found, day, None, None)
    converted = convert(brand_id=actor.brand_id, amount=amount, currency=base, into=quote, day=day)
    return QuoteAnswer(converted.quote, day, amount, converted.amount)


def payout_currency_choices(*, brand: Brand, day: dt.date | None = None) -> list[str]:
    """The closed list of currencies a partner of ``brand`` may choose to be paid in
    (docs/currencies.md, "Paying a partner in their own currency"): the brand's own currency,
    every currency of the brand's own rates (``FxRate``, either side: a brand's rate holds
    until it sets a later one), and, while the reference feed is current (a rate within
    ``REFERENCE_MAX_AGE_DAYS`` of ``day``, the brand's today by default), EUR and every
    currency it quotes. A currency outside it would have no rate at payout time and its payouts
    would be skipped (``fx_rate_missing``). Reads only."""
    if day is None:
        day = timezone.localdate(timezone.now(), zoneinfo.ZoneInfo(brand.timezone))
    codes = {brand.currency}
    for base, quote in FxRate.objects.filter(brand_id=brand.pk).values_list("base", "quote"):
        codes.update((base, quote))
    recent = set(
        FxReferenceRate.objects.filter(
            day__lte=day, day__gte=day - dt.timedelta(days=REFERENCE_MAX_AGE_DAYS)
        )
        .values_list("currency", flat=True)
        .distinct()
    )
    if recent:
        codes |= recent | {EUR}
    return sorted(code for code in codes if is_currency(code))
