"""What a partner credential sends and gets back (conversions.partner_selectors), for REST
and MCP alike. Outputs declare only what a partner may see: no revenue, profit, fraud scores,
advertiser transaction ids, internal notes, or another partner's ids."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from conversions.models import FX_RATE, TOTALS, Conversion, ConversionStatus, Payout, PayoutStatus
from conversions.partner_selectors import (
    PARTNER_REPORT_DIMENSIONS,
    PARTNER_REPORT_METRICS,
    reason_in_words,
)
from conversions.report_serializers import (
    ReportFilters,
    ReportInput,
    ReportMetricsOutput,
    ReportOutput,
    ReportRowOutput,
)
from conversions.serializers import (
    MONEY_OUT,
    ByStatusOutput,
    PeriodInput,
    PeriodOutput,
)
from core.serializers import PageArguments
from offers.serializers import SLUG_FIELD

PARTNER_ORDER_BY = [*PARTNER_REPORT_METRICS, *PARTNER_REPORT_DIMENSIONS]


class PartnerStatsArguments(PeriodInput):
    offer_id = serializers.RegexField(
        required=False, help_text="Only this offer (its slug, e.g. spring-sale).", **SLUG_FIELD
    )


class PartnerOfferStatsOutput(serializers.Serializer[dict[str, Any]]):
    offer_id = serializers.CharField(help_text="The offer's slug.")
    name = serializers.CharField(allow_null=True, help_text="The offer's name.")
    currency = serializers.CharField(help_text="ISO 4217 code of this row's amounts.")
    clicks = serializers.IntegerField(help_text="Accepted, billable clicks.")
    conversions = serializers.IntegerField(
        help_text="Conversions not rejected (pending, pending_review, approved, paid)."
    )
    by_status = ByStatusOutput(help_text="Count and payout per status, rejected included.")
    sale_amount = serializers.DecimalField(
        **MONEY_OUT, help_text="Sum of the sale amounts of those conversions (decimal string)."
    )
    payout = serializers.DecimalField(
        **MONEY_OUT, help_text="What you earn for those conversions, in currency (decimal string)."
    )
    epc = serializers.DecimalField(
        max_digits=14, decimal_places=4, help_text="Earnings per click: payout ÷ clicks."
    )
    cvr = serializers.DecimalField(
        max_digits=8, decimal_places=4, help_text="Conversions ÷ clicks (0.0250 = 2.5%)."
    )


class PartnerStatsOutput(serializers.Serializer[dict[str, Any]]):
    period = PeriodOutput(help_text="The period reported (brand time zone).")
    results = PartnerOfferStatsOutput(many=True, help_text="One row per offer and currency.")


class _Without:
    """Drops fields a base serializer declares (``without``): what a partner must not see
    leaves the contract, its OpenAPI schema and MCP JSON Schema too."""

    without: frozenset[str] = frozenset()

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields: dict[str, serializers.Field[Any, Any, Any, Any]] = super().get_fields()  # type: ignore[misc]  # a mixin: the serializer is the next class in the MRO
        return {name: field for name, field in fields.items() if name not in self.without}


BRAND_ONLY_METRICS = frozenset(
    {"revenue", "profit", "avg_fraud_score", "max_fraud_score", "flagged_conversions"}
)


class MyReportFilters(_Without, ReportFilters):
    without = frozenset({"partner"})  # always the caller


class MyReportArguments(ReportInput):
    metrics = serializers.ListField(
        child=serializers.ChoiceField(choices=PARTNER_REPORT_METRICS),
        min_length=1,
        max_length=len(PARTNER_REPORT_METRICS),
        help_text="Which metrics each row carries: " + ", ".join(PARTNER_REPORT_METRICS) + ".",
    )
    group_by = serializers.ListField(
        child=serializers.ChoiceField(choices=PARTNER_REPORT_DIMENSIONS),
        required=False,
        max_length=3,
        help_text="Up to 3 distinct dimensions: " + ", ".join(PARTNER_REPORT_DIMENSIONS) + ".",
    )
    filters = MyReportFilters(required=False, help_text="Exact value per dimension.")
    order_by = serializers.ChoiceField(
        choices=[*PARTNER_ORDER_BY, *(f"-{name}" for name in PARTNER_ORDER_BY)],
        required=False,
        help_text="A requested metric or group_by dimension; '-' for descending.",
    )


class MyReportMetrics(_Without, ReportMetricsOutput):
    without = BRAND_ONLY_METRICS


class MyReportRow(_Without, ReportRowOutput):
    without = BRAND_ONLY_METRICS | {"partner"}
    previous = MyReportMetrics(
        required=False, help_text="The same metrics over the equally long period just before."
    )
    change = MyReportMetrics(
        required=False, help_text="Current − previous per metric; null where either is null."
    )


class MyReportOutput(ReportOutput):
    rows = MyReportRow(many=True, help_text="The rows, ordered by order_by.")


class PartnerConversionFilters(PageArguments):
    status = serializers.ChoiceField(choices=ConversionStatus.choices, required=False)
    offer_id = serializers.RegexField(required=False, **SLUG_FIELD)
    since = serializers.DateTimeField(required=False, help_text="Recorded at or after (ISO 8601).")
    until = serializers.DateTimeField(required=False, help_text="Recorded before (ISO 8601).")


class PartnerConversionOutput(serializers.Serializer[Conversion]):
    conversion_id = serializers.CharField(source="id", help_text="The conversion's id (conv_…).")
    offer_id = serializers.CharField(source="offer.slug", help_text="The offer's slug.")
    offer_name = serializers.CharField(source="offer.name", help_text="The offer's name.")
    click_id = serializers.SerializerMethodField(
        help_text="Your click it was attributed to (clk_…); null when a coupon won."
    )
    coupon = serializers.SerializerMethodField(
        help_text="Your coupon code that won attribution; null when a click won."
    )
    event_type = serializers.CharField(help_text="The event reported (sale, lead, …).")
    sale_amount = serializers.DecimalField(
        **MONEY_OUT, help_text="The sale amount reported, in currency (decimal string)."
    )
    currency = serializers.CharField(help_text="ISO 4217 code of the amounts.")
    payout = serializers.DecimalField(
        **MONEY_OUT, help_text="What you earn for it, in currency (decimal string)."
    )
    status = serializers.CharField(
        help_text="pending, pending_review (held), approved, rejected or paid."
    )
    reason = serializers.SerializerMethodField(
        help_text="Why it is held or rejected, in plain words; empty otherwise."
    )
    payout_id = serializers.CharField(
        source="payout_batch_id",
        allow_null=True,
        help_text="The payout it is part of (pay_…); null until one covers it.",
    )
    sub1 = serializers.CharField(help_text="Your sub id 1 as sent with the click.")
    sub2 = serializers.CharField(help_text="Your sub id 2.")
    sub3 = serializers.CharField(help_text="Your sub id 3.")
    sub4 = serializers.CharField(help_text="Your sub id 4.")
    sub5 = serializers.CharField(help_text="Your sub id 5.")
    created_at = serializers.DateTimeField(help_text="When it was recorded (ISO 8601, UTC).")
    approved_at = serializers.DateTimeField(allow_null=True, help_text="When approved.")
    rejected_at = serializers.DateTimeField(allow_null=True, help_text="When rejected.")
    paid_at = serializers.DateTimeField(allow_null=True, help_text="When paid.")

    # The attribution can name the click or coupon of the partner who lost it: show only the
    # winner, which is this partner's by definition.
    def get_click_id(self, conversion: Conversion) -> str | None:
        if conversion.attribution.get("winner") == "coupon":
            return None
        return conversion.click_id

    def get_coupon(self, conversion: Conversion) -> str | None:
        if conversion.attribution.get("winner") != "coupon":
            return None
        code = conversion.attribution.get("coupon")
        return str(code) if code else None

    def get_reason(self, conversion: Conversion) -> str:
        return reason_in_words(conversion)


class PartnerPayoutFilters(PageArguments):
    status = serializers.ChoiceField(choices=PayoutStatus.choices, required=False)


class PartnerPayoutOutput(serializers.Serializer[Payout]):
    payout_id = serializers.CharField(source="id", help_text="The payout's id (pay_…).")
    currency = serializers.CharField(help_text="ISO 4217 code of amount.")
    amount = serializers.DecimalField(
        **MONEY_OUT, help_text="What it pays you, in currency (decimal string)."
    )
    partner_currency = serializers.CharField(
        help_text="The currency you are paid in (your payout currency; else currency)."
    )
    partner_amount = serializers.DecimalField(
        **TOTALS, help_text="What you receive, in partner_currency (decimal string)."
    )
    fx_rate = serializers.DecimalField(
        **FX_RATE,
        help_text="1 currency = fx_rate partner_currency, the rate of the day it was generated.",
    )
    period_start = serializers.DateField(
        allow_null=True, help_text="Day of the earliest conversion covered (brand time zone)."
    )
    period_end = serializers.DateField(help_text="Last day covered (brand time zone).")
    status = serializers.CharField(help_text="pending (to pay), paid or void.")
    method = serializers.CharField(help_text="How it was paid; empty until paid.")
    reference = serializers.CharField(help_text="The payment's reference; empty if none.")
    paid_at = serializers.DateTimeField(allow_null=True, help_text="When it was paid.")
    created_at = serializers.DateTimeField(help_text="When it was generated (ISO 8601, UTC).")


class PartnerBalanceOutput(serializers.Serializer[dict[str, Any]]):
    currency = serializers.CharField(help_text="ISO 4217 code of this row.")
    pending = serializers.DecimalField(
        **MONEY_OUT, help_text="Earnings of conversions awaiting the brand's review."
    )
    approved = serializers.DecimalField(
        **MONEY_OUT,
        help_text="Approved earnings in no payout yet, net of reversals and adjustments (may "
        "be negative).",
    )
    in_payout = serializers.DecimalField(
        **MONEY_OUT, help_text="In payouts generated and not yet paid."
    )
    paid = serializers.DecimalField(**MONEY_OUT, help_text="Paid to you to date.")
    balance = serializers.DecimalField(
        max_digits=20,
        decimal_places=2,
        help_text="What the brand owes you from your ledger: approved + in_payout. Negative "
        "when refunds after a payout exceed new commissions; it comes off your next payout.",
    )
