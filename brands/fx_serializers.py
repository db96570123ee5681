"""Contracts for exchange rates (list_fx_rates, get_fx_rate, set_fx_rate), REST and MCP."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from brands.models import RATE_DIGITS, RATE_PLACES
from core.currencies import is_currency
from core.serializers import PageArguments, StrictSerializer

CODE = r"^[A-Z]{3}\Z"
RATE_IN: dict[str, Any] = {"max_digits": RATE_DIGITS, "decimal_places": RATE_PLACES}
# Cross rates are kept to 12 places (brands.fx.RATE_DECIMALS).
QUOTE_OUT: dict[str, Any] = {"max_digits": 24, "decimal_places": 12}
MONEY: dict[str, Any] = {"max_digits": 14, "decimal_places": 2}


def _iso(value: str) -> None:
    if not is_currency(value):
        raise serializers.ValidationError("Not an ISO 4217 currency code.")


class CurrencyField(serializers.RegexField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(CODE, validators=[_iso], **kwargs)


class FxRateListFilters(PageArguments):
    source = serializers.ChoiceField(  # type: ignore[assignment]  # DRF pops declared fields
        choices=[("brand", "brand"), ("reference", "reference")],
        default="brand",
        help_text="brand (default): the brand's own rates; reference: the ECB reference rates "
        "every brand shares (1 EUR = rate currency).",
    )
    currency = CurrencyField(
        required=False, help_text="Only rates with this currency on either side (ISO 4217)."
    )
    date_from = serializers.DateField(required=False, help_text="Only rates of this day or later.")
    date_to = serializers.DateField(required=False, help_text="Only rates of this day or earlier.")


class FxRateOutput(serializers.Serializer[Any]):
    base = serializers.CharField(help_text="ISO 4217 code: 1 unit of it …")
    quote = serializers.CharField(help_text="… is worth rate units of this ISO 4217 code.")
    day = serializers.DateField(help_text="From this day on (until a later rate of the pair).")
    rate = serializers.DecimalField(
        **RATE_IN, help_text="Units of quote per base (decimal string)."
    )
    source = serializers.CharField(  # type: ignore[assignment]  # DRF pops declared fields
        help_text="brand (the brand's own) or reference (ECB)."
    )
    updated_at = serializers.DateTimeField(help_text="When it was last set or loaded (UTC).")


class FxRateSetInput(StrictSerializer):
    base = CurrencyField(help_text="ISO 4217 code, e.g. GBP: 1 unit of it …")
    quote = CurrencyField(help_text="… is worth rate units of this one, e.g. USD.")
    day = serializers.DateField(
        help_text="The first day (brand time zone) the rate applies to; it holds until a later "
        "rate of the pair."
    )
    rate = serializers.DecimalField(
        **RATE_IN, help_text="Units of quote per 1 base, above 0 (at most 10 decimal places)."
    )


class FxQuoteInput(StrictSerializer):
    base = CurrencyField(help_text="Convert from this ISO 4217 code …")
    quote = CurrencyField(help_text="… into this one.")
    day = serializers.DateField(
        required=False, help_text="The conversion's day (brand time zone); default today."
    )
    amount = serializers.DecimalField(
        **MONEY, min_value=0, required=False, help_text="An amount in base to convert."
    )


class FxQuoteOutput(serializers.Serializer[Any]):
    base = serializers.CharField(source="quote.base", help_text="ISO 4217 code converted from.")
    quote = serializers.CharField(source="quote.quote", help_text="ISO 4217 code converted into.")
    day = serializers.DateField(help_text="The day the rate is for.")
    rate = serializers.DecimalField(
        source="quote.rate", **QUOTE_OUT, help_text="Units of quote per 1 base (decimal string)."
    )
    source = serializers.CharField(  # type: ignore[assignment]  # DRF pops declared fields
        source="quote.source",
        help_text="same (one currency), brand (the brand's own pair), reference (ECB through "
        "EUR) or mixed (one leg the brand's, one the ECB's).",
    )
    rate_day = serializers.DateField(
        source="quote.rate_day",
        allow_null=True,
        help_text="The day of the oldest rate used (a weekend takes Friday's); null for same.",
    )
    amount = serializers.DecimalField(
        **MONEY, allow_null=True, help_text="The amount given, in base; null if none."
    )
    converted_amount = serializers.DecimalField(
        **MONEY,
        allow_null=True,
        help_text="amount × rate in quote, rounded half-up to the cent; null if no amount.",
    )
