"""Input and output contracts of ``get_report`` (conversions.reports), for REST and MCP."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from conversions.models import TOTALS, ClickOutcome, ConversionStatus
from conversions.reports import DIMENSIONS, MAX_GROUP_BY, MAX_LIMIT, MAX_REPORT_DAYS, METRICS
from conversions.serializers import PeriodOutput
from core.serializers import StrictSerializer
from offers.serializers import SLUG_FIELD

ORDER_BY = [*METRICS, *DIMENSIONS]


class ReportFilters(StrictSerializer):
    """One exact value per dimension; the time dimensions are filtered by the period."""

    offer = serializers.RegexField(required=False, help_text="Offer slug.", **SLUG_FIELD)
    partner = serializers.RegexField(required=False, help_text="Partner slug.", **SLUG_FIELD)
    event_type = serializers.CharField(max_length=64, required=False)
    country = serializers.CharField(
        max_length=2, required=False, allow_blank=True, help_text="ISO 3166 alpha-2; '' unknown."
    )
    device = serializers.CharField(
        max_length=8, required=False, allow_blank=True, help_text="Device class; '' unknown."
    )
    sub1 = serializers.CharField(max_length=255, required=False, allow_blank=True)
    sub2 = serializers.CharField(max_length=255, required=False, allow_blank=True)
    sub3 = serializers.CharField(max_length=255, required=False, allow_blank=True)
    sub4 = serializers.CharField(max_length=255, required=False, allow_blank=True)
    sub5 = serializers.CharField(max_length=255, required=False, allow_blank=True)
    outcome = serializers.ChoiceField(
        choices=ClickOutcome.choices, required=False, help_text="Click outcome (refusal reason)."
    )
    status = serializers.ChoiceField(choices=ConversionStatus.choices, required=False)
    original_currency = serializers.RegexField(
        r"^[A-Z]{3}\Z", required=False, help_text="The ISO 4217 code sales were reported in."
    )


class ReportInput(StrictSerializer):
    metrics = serializers.ListField(
        child=serializers.ChoiceField(choices=METRICS),
        min_length=1,
        max_length=len(METRICS),
        help_text="Which metrics each row carries.",
    )
    group_by = serializers.ListField(
        child=serializers.ChoiceField(choices=DIMENSIONS),
        required=False,
        max_length=MAX_GROUP_BY,
        help_text=f"Up to {MAX_GROUP_BY} distinct dimensions; none gives one total row (per "
        "currency when a money metric is asked for). Sub ids (sub1-sub5) are each partner's "
        "own labels: grouping or filtering by one needs filters.partner.",
    )
    filters = ReportFilters(
        required=False,
        help_text="Exact value per dimension; a sub-id dimension or filter needs partner here.",
    )
    days = serializers.IntegerField(min_value=1, max_value=MAX_REPORT_DAYS, required=False)
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    compare_previous = serializers.BooleanField(
        default=False,
        help_text="Also the equally long period just before, and the change (not with day, "
        "week or month).",
    )
    order_by = serializers.ChoiceField(
        choices=[*ORDER_BY, *(f"-{name}" for name in ORDER_BY)],
        required=False,
        help_text="A requested metric or group_by dimension; '-' for descending. Default: the "
        "dimensions ascending.",
    )
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=100)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "days" in attrs and ("date_from" in attrs or "date_to" in attrs):
            raise serializers.ValidationError("Give days, or date_from/date_to, not both.")
        return attrs


def _money(help_text: str) -> serializers.DecimalField:
    return serializers.DecimalField(**TOTALS, required=False, help_text=help_text)


class ReportMetricsOutput(serializers.Serializer[dict[str, Any]]):
    """Only the requested metrics are present."""

    def to_representation(self, instance: dict[str, Any]) -> dict[str, Any]:
        # DRF would answer null for an absent nullable field; absent means "not asked for".
        rendered = super().to_representation(instance)
        return {name: value for name, value in rendered.items() if name in instance}

    clicks = serializers.IntegerField(
        required=False, help_text="Every recorded click, refusals included."
    )
    billable_clicks = serializers.IntegerField(
        required=False, help_text="Accepted, billable clicks (no previews, prefetches, refusals)."
    )
    refused_clicks = serializers.IntegerField(
        required=False, help_text="Clicks refused (outcome other than accepted)."
    )
    conversions = serializers.IntegerField(
        required=False,
        help_text="Conversions not rejected (pending, pending_review, approved, paid).",
    )
    sale_amount = _money("Sum of the sale amounts of those conversions, in currency.")
    revenue = _money("Sum of what the brand books for those conversions, in currency.")
    payout = _money("Sum of what partners earn for those conversions, in currency.")
    profit = _money("revenue − payout, in currency.")
    epc = serializers.DecimalField(
        max_digits=24,
        decimal_places=4,
        required=False,
        help_text="Earnings per click: payout ÷ billable clicks, in currency (0 without clicks).",
    )
    cvr = serializers.DecimalField(
        max_digits=24,
        decimal_places=4,
        required=False,
        help_text="Conversions ÷ billable clicks, a fraction (0.0250 = 2.5%; 0 without clicks).",
    )
    avg_fraud_score = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        required=False,
        allow_null=True,
        help_text="Average fraud score (0–100) of every conversion, rejected included; null "
        "without conversions.",
    )
    max_fraud_score = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Highest fraud score of those conversions; null without conversions.",
    )
    flagged_conversions = serializers.IntegerField(
        required=False,
        help_text="Conversions scored at or above the brand threshold, rejected included.",
    )


def _dimension(help_text: str) -> serializers.CharField:
    return serializers.CharField(
        required=False, allow_null=True, allow_blank=True, help_text=help_text
    )


class ReportRowOutput(ReportMetricsOutput):
    """The row's key (only the group_by dimensions, and currency with money metrics), its
    metrics, and with compare_previous the previous period's values and the change."""

    day = serializers.DateField(required=False, help_text="Local day (brand time zone).")
    week = serializers.DateField(
        required=False, help_text="Monday starting the week (ISO weeks, brand time zone)."
    )
    month = serializers.DateField(
        required=False, help_text="First day of the month (brand time zone)."
    )
    offer = _dimension("Offer slug; null for clicks that named no known offer.")
    partner = _dimension("Partner slug; null for clicks that named no known partner.")
    event_type = _dimension("Conversion event type (sale, lead…).")
    country = _dimension("Click country (ISO alpha-2); a conversion's is its click's, '' unknown.")
    device = _dimension("Device class of the click; '' unknown.")
    sub1 = _dimension("Partner sub id 1 (untrusted text as sent).")
    sub2 = _dimension("Partner sub id 2 (untrusted text as sent).")
    sub3 = _dimension("Partner sub id 3 (untrusted text as sent).")
    sub4 = _dimension("Partner sub id 4 (untrusted text as sent).")
    sub5 = _dimension("Partner sub id 5 (untrusted text as sent).")
    outcome = _dimension("Click outcome: accepted or the refusal reason.")
    status = _dimension("Conversion status.")
    original_currency = _dimension(
        "The ISO 4217 code the sales were reported in (their amounts are in currency)."
    )
    currency = _dimension("ISO 4217 code of the row's amounts; null for clicks with no offer.")
    previous = ReportMetricsOutput(
        required=False, help_text="The same metrics over the equally long period just before."
    )
    change = ReportMetricsOutput(
        required=False, help_text="Current − previous per metric; null where either is null."
    )


class ReportOutput(serializers.Serializer[dict[str, Any]]):
    period = PeriodOutput(help_text="The period reported (brand time zone).")
    metrics = serializers.ListField(
        child=serializers.CharField(), help_text="The metrics each row carries."
    )
    group_by = serializers.ListField(
        child=serializers.CharField(),
        help_text="The row key: the group_by dimensions, then currency with money metrics.",
    )
    rows = ReportRowOutput(many=True, help_text="The rows, ordered by order_by.")
    truncated = serializers.BooleanField(help_text="Whether rows beyond limit were left out.")
