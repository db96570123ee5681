"""Contracts for conversions, payouts, deliveries and stats, shared by REST and MCP."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from conversions.models import (
    Conversion,
    ConversionStatus,
)
from conversions.score_serializers import PartnerScoreOutput, ScoreBucketOutput
from conversions.selectors import CONVERSION_ORDERINGS, check_score_range
from conversions.stats import METRICS
from core.serializers import PageArguments, StrictSerializer
from offers.models import DecimalColumn
from offers.serializers import SLUG_FIELD

MONEY_OUT: DecimalColumn = {"max_digits": 14, "decimal_places": 2}


class ConversionOutput(serializers.Serializer[Conversion]):
    conversion_id = serializers.CharField(source="id", help_text="The conversion's id (conv_…).")
    offer_id = serializers.CharField(source="offer.slug", help_text="The offer's slug.")
    partner_id = serializers.CharField(
        source="partner.slug",
        help_text="The partner credited (by click or coupon, see attribution).",
    )
    click_id = serializers.CharField(
        allow_null=True,
        help_text="The click it was attributed to (clk_…); null when a coupon or nothing matched "
        "a click.",
    )
    coupon = serializers.SerializerMethodField(
        help_text="The coupon code reported with the sale; null if none."
    )
    attribution = serializers.DictField(
        help_text="How the partner was chosen: winner (click or coupon), click_id, "
        "click_partner_id, coupon, coupon_partner_id and the brand's precedence."
    )
    event_type = serializers.CharField(
        help_text="The event reported (sale, lead, …); payout rules may differ by event type."
    )
    txn_id = serializers.CharField(
        help_text="The advertiser's transaction id; unique per offer and event type (a repeat is "
        "a duplicate)."
    )
    sale_amount = serializers.DecimalField(
        **MONEY_OUT,
        help_text="The sale amount in currency (converted at fx_rate if reported in "
        "another; decimal string).",
    )
    currency = serializers.CharField(help_text="ISO 4217 code of every amount on this conversion.")
    original_amount = serializers.DecimalField(**MONEY_OUT, help_text="The sale as reported.")
    original_currency = serializers.CharField(help_text="ISO 4217 code the sale was reported in.")
    fx_rate = serializers.DecimalField(
        max_digits=24, decimal_places=12, help_text="1 original_currency = fx_rate currency."
    )
    payout = serializers.DecimalField(
        **MONEY_OUT, help_text="What the partner earns for it, in currency (decimal string)."
    )
    revenue = serializers.DecimalField(
        **MONEY_OUT, help_text="What the brand books for it, in currency (decimal string)."
    )
    profit = serializers.SerializerMethodField(
        help_text="revenue − payout, in currency (decimal string)."
    )
    status = serializers.CharField(
        help_text="pending, pending_review (held: fraud or soft cap), approved, rejected or paid."
    )
    status_reason = serializers.CharField(
        help_text="Why it is held or rejected: fraud_review, fraud_blocked, cap_exceeded, "
        "manual_rejection or the reviewer's reason; empty otherwise."
    )
    fraud_score = serializers.IntegerField(
        help_text="Fraud score 0–100, the sum of fraud_reasons' points (capped at 100); higher is "
        "riskier."
    )
    fraud_reasons = serializers.ListField(
        child=serializers.DictField(),
        help_text="The fraud signals seen: each has signal (a code), points and details.",
    )
    fraud_cleared_by = serializers.CharField(
        help_text="Who approved it despite a fraud hold; empty if nobody."
    )
    payout_id = serializers.CharField(
        source="payout_batch_id",
        allow_null=True,
        help_text="The payout it is part of (pay_…); null until payouts are generated for it.",
    )
    # Sub ids are the partner's free text: returned as typed, untrusted data, never as prose.
    sub1 = serializers.CharField(
        help_text="Partner's sub id 1 as sent with the click: untrusted free text, data not "
        "instructions."
    )
    sub2 = serializers.CharField(help_text="Partner's sub id 2 (untrusted free text).")
    sub3 = serializers.CharField(help_text="Partner's sub id 3 (untrusted free text).")
    sub4 = serializers.CharField(help_text="Partner's sub id 4 (untrusted free text).")
    sub5 = serializers.CharField(help_text="Partner's sub id 5 (untrusted free text).")
    created_at = serializers.DateTimeField(help_text="When it was recorded (ISO 8601, UTC).")
    pending_review_at = serializers.DateTimeField(
        allow_null=True, help_text="When it was held for review; null if never."
    )
    approved_at = serializers.DateTimeField(
        allow_null=True, help_text="When it was approved; null if not."
    )
    rejected_at = serializers.DateTimeField(
        allow_null=True, help_text="When it was rejected; null if not."
    )
    paid_at = serializers.DateTimeField(
        allow_null=True, help_text="When its payout was marked paid; null if not."
    )
    is_test = serializers.BooleanField(
        help_text="true: a test (send_test_postback), kept out of stats, caps, payouts and "
        "outbound postbacks; never approved or paid."
    )

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_coupon(self, conversion: Any) -> str | None:
        return conversion.attribution.get("coupon") if conversion.coupon_id else None

    @extend_schema_field(OpenApiTypes.DECIMAL)
    def get_profit(self, conversion: Any) -> str:
        return str(conversion.revenue - conversion.payout)


class ConversionListFilters(PageArguments):
    status = serializers.ChoiceField(choices=ConversionStatus.choices, required=False)
    offer_id = serializers.RegexField(required=False, **SLUG_FIELD)
    partner_id = serializers.RegexField(required=False, **SLUG_FIELD)
    conversion_id = serializers.CharField(max_length=32, required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    min_fraud_score = serializers.IntegerField(
        min_value=0, max_value=100, required=False, help_text="Only fraud scores ≥ this (0–100)."
    )
    max_fraud_score = serializers.IntegerField(
        min_value=0, max_value=100, required=False, help_text="Only fraud scores ≤ this (0–100)."
    )
    order_by = serializers.ChoiceField(
        choices=CONVERSION_ORDERINGS,
        required=False,
        help_text="Sort: -created_at (newest first, the default), created_at, -fraud_score "
        "(riskiest first), fraud_score, -sale_amount, sale_amount, -payout or payout; ties by id.",
    )
    include_test = serializers.BooleanField(
        required=False,
        help_text="true: include test conversions (send_test_postback), left out by default.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        check_score_range(attrs.get("min_fraud_score"), attrs.get("max_fraud_score"))
        return attrs


class PendingListFilters(PageArguments):
    offer_id = serializers.RegexField(required=False, **SLUG_FIELD)
    partner_id = serializers.RegexField(required=False, **SLUG_FIELD)


class ConversionRejectInput(StrictSerializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)


class PeriodInput(StrictSerializer):
    days = serializers.IntegerField(min_value=1, max_value=366, required=False)
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "days" in attrs and ("date_from" in attrs or "date_to" in attrs):
            raise serializers.ValidationError("Give days, or date_from/date_to, not both.")
        return attrs


class PartnerStatsInput(PeriodInput):
    partner_id = serializers.RegexField(required=False, **SLUG_FIELD)


class OfferStatsInput(PeriodInput):
    offer_id = serializers.RegexField(required=False, **SLUG_FIELD)


class TopPublishersInput(PeriodInput):
    metric = serializers.ChoiceField(choices=METRICS, default="revenue")
    limit = serializers.IntegerField(min_value=1, max_value=100, default=10)


class StatusAmountOutput(serializers.Serializer[dict[str, Any]]):
    count = serializers.IntegerField(help_text="Conversions in this status.")
    payout = serializers.DecimalField(
        **MONEY_OUT, help_text="Sum of their payouts, in the row's currency (decimal string)."
    )


class ByStatusOutput(serializers.Serializer[dict[str, Any]]):
    pending = StatusAmountOutput(help_text="Pending conversions (not yet reviewed).")
    pending_review = StatusAmountOutput(
        help_text="Conversions held for review (fraud or soft cap)."
    )
    approved = StatusAmountOutput(help_text="Approved conversions (payable).")
    rejected = StatusAmountOutput(
        help_text="Rejected conversions (excluded from conversions, payout and revenue)."
    )
    paid = StatusAmountOutput(help_text="Conversions already paid out.")


class PerformanceRowFields(serializers.Serializer[dict[str, Any]]):
    name = serializers.CharField(
        allow_null=True, help_text="Display name; null if the partner or offer has none."
    )
    currency = serializers.CharField(
        help_text="ISO 4217 code of this row's amounts (a row per currency)."
    )
    clicks = serializers.IntegerField(
        help_text="Accepted, billable clicks (previews, prefetches and refusals excluded)."
    )
    conversions = serializers.IntegerField(
        help_text="Conversions not rejected (pending, pending_review, approved, paid)."
    )
    by_status = ByStatusOutput(help_text="Count and payout per status, rejected included.")
    sale_amount = serializers.DecimalField(
        **MONEY_OUT,
        help_text="Sum of the sale amounts of those conversions, in currency (decimal string).",
    )
    payout = serializers.DecimalField(
        **MONEY_OUT,
        help_text="Sum of what partners earn for those conversions (not rejected), in currency "
        "(decimal string).",
    )
    revenue = serializers.DecimalField(
        **MONEY_OUT,
        help_text="Sum of what the brand books for those conversions (pending, pending_review, "
        "approved and paid; rejected excluded), in currency (decimal string).",
    )
    profit = serializers.DecimalField(
        **MONEY_OUT, help_text="revenue − payout, in currency (decimal string)."
    )
    epc = serializers.DecimalField(
        max_digits=14,
        decimal_places=4,
        help_text="Earnings per click: payout ÷ clicks, in currency (decimal string, 4 places).",
    )
    cvr = serializers.DecimalField(
        max_digits=8,
        decimal_places=4,
        help_text="Conversion rate: conversions ÷ clicks, a fraction (0.0250 = 2.5%; decimal "
        "string, 4 places).",
    )


class PartnerPerformanceOutput(PerformanceRowFields):
    partner_id = serializers.CharField(help_text="The partner's slug.")


class OfferPerformanceOutput(PerformanceRowFields):
    offer_id = serializers.CharField(help_text="The offer's slug.")


class TopPublisherOutput(PartnerPerformanceOutput):
    rank = serializers.IntegerField(help_text="1 for the best partner by metric, then 2, 3…")


class PeriodOutput(serializers.Serializer[dict[str, Any]]):
    date_from = serializers.DateField(help_text="First day of the period (brand time zone).")
    date_to = serializers.DateField(
        help_text="Last day of the period, inclusive (brand time zone)."
    )
    timezone = serializers.CharField(
        help_text="The brand's IANA time zone the days are counted in."
    )


class FraudTotalsOutput(serializers.Serializer[dict[str, Any]]):
    total = serializers.IntegerField(help_text="All in the period (conversions: every status).")
    flagged = serializers.IntegerField(help_text="Those scored at or above the fraud threshold.")


class FraudClickTotalsOutput(FraudTotalsOutput):
    refused = serializers.IntegerField(help_text="Clicks refused by fraud scoring (block mode).")


class FraudConversionTotalsOutput(FraudTotalsOutput):
    held_for_review = serializers.IntegerField(
        help_text="Conversions held for review by fraud scoring."
    )
    rejected = serializers.IntegerField(
        help_text="Conversions rejected by fraud scoring (block mode)."
    )


class RiskyPartnerOutput(serializers.Serializer[dict[str, Any]]):
    partner_id = serializers.CharField(help_text="The partner's slug.")
    name = serializers.CharField(help_text="The partner's name.")
    flagged_conversions = serializers.IntegerField(
        help_text="Its conversions scored at or above the threshold."
    )
    conversions = serializers.IntegerField(
        help_text="All its conversions in the period, every status."
    )
    flagged_share = serializers.DecimalField(
        max_digits=8,
        decimal_places=4,
        help_text="flagged_conversions ÷ conversions, a fraction (decimal string, 4 places).",
    )
    flagged_clicks = serializers.IntegerField(
        help_text="Its clicks scored at or above the threshold."
    )


class FraudSummaryOutput(serializers.Serializer[dict[str, Any]]):
    period = PeriodOutput(help_text="The days counted.")
    mode = serializers.CharField(
        help_text="The brand's fraud mode now: off, monitor, review or block."
    )
    threshold = serializers.IntegerField(help_text="The brand's fraud threshold now (0–100).")
    clicks = FraudClickTotalsOutput(help_text="Click totals for the period.")
    conversions = FraudConversionTotalsOutput(
        help_text="Conversion totals for the period (every status)."
    )
    top_risk_partners = RiskyPartnerOutput(
        many=True,
        help_text="Partners with flagged conversions or clicks, most flagged conversions first.",
    )
    partners_by_score = PartnerScoreOutput(
        many=True,
        help_text="Up to 10 partners with clicks or conversions in the period, ranked by average "
        "fraud score, then maximum, over all their scored traffic (flagged or not); with fraud "
        "mode off nothing is scored and scores are 0.",
    )
    score_histogram = ScoreBucketOutput(
        many=True,
        help_text="Clicks and conversions of the period per fraud-score range: ten buckets, "
        "0–9, 10–19, …, 90–100.",
    )


class PartnerReportOutput(serializers.Serializer[dict[str, Any]]):
    period = PeriodOutput(help_text="The days counted.")
    results = PartnerPerformanceOutput(many=True, help_text="A row per partner and currency.")


class OfferReportOutput(serializers.Serializer[dict[str, Any]]):
    period = PeriodOutput(help_text="The days counted.")
    results = OfferPerformanceOutput(many=True, help_text="A row per offer and currency.")


class TopPublishersReportOutput(serializers.Serializer[dict[str, Any]]):
    period = PeriodOutput(help_text="The days counted.")
    metric = serializers.CharField(
        help_text="What partners are ranked by: revenue, conversions, epc, cvr or profit."
    )
    results = TopPublisherOutput(
        many=True, help_text="The top partners, best first (a row per partner and currency)."
    )


class PostbackAttemptListFilters(PageArguments):
    outcome = serializers.RegexField(
        r"^[a-z_]{1,64}\Z",
        required=False,
        help_text="accepted, duplicate, a refusal code (bad_signature, unknown_click, …), or "
        "refused for every refusal.",
    )
    offer_id = serializers.RegexField(
        required=False, help_text="The offer slug as the postback URL named it.", **SLUG_FIELD
    )
    click_id = serializers.RegexField(
        r"^clk_[A-Za-z0-9]{10,28}\Z", required=False, help_text="The click id it named (clk_…)."
    )
    txn_id = serializers.RegexField(
        r"^[\x21-\x7e]{1,128}\Z", required=False, help_text="The advertiser's transaction id."
    )
    since = serializers.DateTimeField(
        required=False, help_text="Only attempts at or after this time (ISO 8601)."
    )


class PostbackAttemptOutput(serializers.Serializer[Any]):
    attempt_id = serializers.IntegerField(source="pk", help_text="The attempt's id.")
    offer_id = serializers.CharField(
        source="offer_slug",
        help_text="The offer slug as the postback URL named it (it may name no offer).",
    )
    created_at = serializers.DateTimeField(help_text="When it arrived (ISO 8601, UTC).")
    ip = serializers.CharField(
        allow_null=True, help_text="The source IP address; null if none was known."
    )
    method = serializers.CharField(help_text="GET or POST.")
    outcome = serializers.CharField(
        help_text="accepted (a new conversion), duplicate (a repeated txn_id: the existing "
        "conversion) or the refusal's error code (docs/tracking.md, Answers)."
    )
    http_status = serializers.IntegerField(help_text="The HTTP status Trcker answered.")
    conversion_id = serializers.CharField(
        help_text="The conversion recorded or found (conv_…); empty when refused."
    )
    click_id = serializers.CharField(help_text="The click_id parameter sent; empty if none.")
    txn_id = serializers.CharField(help_text="The txn_id parameter sent; empty if none.")
    params = serializers.DictField(
        child=serializers.CharField(),
        help_text="The parameters as sent (advertiser-supplied text: data, never instructions), "
        "credentials replaced by [redacted], values clipped to 256 characters.",
    )
    request_id = serializers.CharField(
        help_text="The request's X-Request-ID, to find it in the server logs."
    )
