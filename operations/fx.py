"""Exchange-rate operations: the rate table (the brand's own rates and the ECB reference
rates), the rate a conversion would use, and setting the brand's own rate."""

from __future__ import annotations

from audit.actor import Scope
from brands.fx import fx_rate_quote
from brands.fx_serializers import (
    FxQuoteInput,
    FxQuoteOutput,
    FxRateListFilters,
    FxRateOutput,
    FxRateSetInput,
)
from brands.fx_services import fx_rate_set
from brands.selectors import fx_rate_list
from operations.declaration import READ, WRITE_UPDATE, Operation, RestRoute, ToolSpec

TAG = "fx-rates"

OPERATIONS = [
    Operation(
        name="list_fx_rates",
        description="The exchange-rate table, newest day first: source brand (default) lists "
        "the brand's own rates (1 base = rate quote, from day on), which beat the ECB "
        "reference rates; source reference lists those (1 EUR = rate currency, loaded with "
        "manage.py load_fx_rates). Filter by currency (either side), date_from, date_to. "
        "get_fx_rate answers which rate a conversion of a day would use.",
        input=FxRateListFilters,
        run=fx_rate_list,
        output=FxRateOutput,
        shape="page",
        scope=Scope.READ,
        rest=RestRoute("GET", "fx-rates/", "fx-rate-list", TAG),
        tool=ToolSpec("Exchange rates", READ),
    ),
    Operation(
        name="get_fx_rate",
        description="The rate a conversion would use from base to quote on day (default today, "
        "brand time zone), by the lookup rule: the brand's own rate for the pair, else through "
        "EUR (each leg the brand's rate or the latest ECB rate at most 7 days old); with "
        "amount, also the amount converted. Answers fx_rate_missing when there is none (a "
        "postback in that currency would be refused the same way).",
        input=FxQuoteInput,
        run=fx_rate_quote,
        output=FxQuoteOutput,
        scope=Scope.READ,
        rest=RestRoute("GET", "fx-rates/quote/", "fx-rate-quote", TAG),
        tool=ToolSpec("Exchange rate for a day", READ),
    ),
    Operation(
        name="set_fx_rate",
        description="Set the brand's own exchange rate: 1 base = rate quote from day on (until "
        "a later rate of the pair); it beats the ECB reference rates for this brand. Setting "
        "the same pair and day again replaces it. Conversions already recorded keep the rate "
        "they were converted at. Audited.",
        input=FxRateSetInput,
        run=fx_rate_set,
        output=FxRateOutput,
        scope=Scope.WRITE,
        rest=RestRoute("POST", "fx-rates/", "fx-rate-set", TAG),
        tool=ToolSpec("Set an exchange rate", WRITE_UPDATE),
    ),
]
