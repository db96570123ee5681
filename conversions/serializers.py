"""Contracts for conversions, payouts, deliveries and stats, shared by REST and MCP."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from conversions.models import (
    Conversion,
    ConversionStatus,
    DeliveryStatus,
    Payout,
    PayoutStatus,
    PostbackDelivery,
)
from conversions.stats import METRICS
from core.serializers import PageArguments, StrictSerializer
from offers.models import DecimalColumn
from offers.serializers import SLUG_FIELD

MONEY_OUT: DecimalColumn = {"max_digits": 14, "decimal_places": 2}


class ConversionOutput(serializers.Serializer[Conversion]):
    conversion_id = serializers.CharField(source="id")
    offer_id = serializers.CharField(source="offer.slug")
    partner_id = serializers.CharField(source="partner.slug")
    click_id = serializers.CharField(allow_null=True)
    coupon = serializers.SerializerMethodField()
    attribution = serializers.DictField()
    event_type = serializers.CharField()
    txn_id = serializers.CharField()
    sale_amount = serializers.DecimalField(**MONEY_OUT)
    currency = serializers.CharField()
    payout = serializers.DecimalField(**MONEY_OUT)
    revenue = serializers.DecimalField(**MONEY_OUT)
    profit = serializers.SerializerMethodField()
    status = serializers.CharField()
    status_reason = serializers.CharField()
    fraud_score = serializers.IntegerField()
    fraud_reasons = serializers.ListField(child=serializers.DictField())
    fraud_cleared_by = serializers.CharField()
    payout_id = serializers.CharField(source="payout_batch_id", allow_null=True)
    # Sub ids are the partner's free text: returned as typed, untrusted data, never as prose.
    sub1 = serializers.CharField()
    sub2 = serializers.CharField()
    sub3 = serializers.CharField()
    sub4 = serializers.CharField()
    sub5 = serializers.CharField()
    created_at = serializers.DateTimeField()
    pending_review_at = serializers.DateTimeField(allow_null=True)
    approved_at = serializers.DateTimeField(allow_null=True)
    rejected_at = serializers.DateTimeField(allow_null=True)
    paid_at = serializers.DateTimeField(allow_null=True)

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


class PendingListFilters(PageArguments):
    offer_id = serializers.RegexField(required=False, **SLUG_FIELD)
    partner_id = serializers.RegexField(required=False, **SLUG_FIELD)


class ConversionRejectInput(StrictSerializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)


class PayoutOutput(serializers.Serializer[Payout]):
    payout_id = serializers.CharField(source="id")
    partner_id = serializers.CharField(source="partner.slug")
    currency = serializers.CharField()
    amount = serializers.DecimalField(**MONEY_OUT)
    period_start = serializers.DateField(allow_null=True)
    period_end = serializers.DateField()
    status = serializers.CharField()
    method = serializers.CharField()
    reference = serializers.CharField()
    notes = serializers.CharField()
    paid_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class PayoutListFilters(PageArguments):
    status = serializers.ChoiceField(choices=PayoutStatus.choices, required=False)
    partner_id = serializers.RegexField(required=False, **SLUG_FIELD)


class PayoutGenerateInput(StrictSerializer):
    up_to = serializers.DateField(
        required=False, help_text="Last day covered (brand time zone); default today."
    )
    partner_id = serializers.RegexField(required=False, **SLUG_FIELD)


class PayoutMarkPaidInput(StrictSerializer):
    method = serializers.CharField(max_length=64)
    reference = serializers.CharField(max_length=200, required=False, allow_blank=True)
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class DeliveryOutput(serializers.Serializer[PostbackDelivery]):
    delivery_id = serializers.IntegerField(source="pk")
    conversion_id = serializers.CharField()
    url = serializers.CharField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)


class DeliveryListFilters(PageArguments):
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False)
    conversion_id = serializers.CharField(max_length=32, required=False)


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
    count = serializers.IntegerField()
    payout = serializers.DecimalField(**MONEY_OUT)


class ByStatusOutput(serializers.Serializer[dict[str, Any]]):
    pending = StatusAmountOutput()
    pending_review = StatusAmountOutput()
    approved = StatusAmountOutput()
    rejected = StatusAmountOutput()
    paid = StatusAmountOutput()


class PerformanceRowFields(serializers.Serializer[dict[str, Any]]):
    name = serializers.CharField(allow_null=True)
    currency = serializers.CharField()
    clicks = serializers.IntegerField()
    conversions = serializers.IntegerField()
    by_status = ByStatusOutput()
    sale_amount = serializers.DecimalField(**MONEY_OUT)
    payout = serializers.DecimalField(**MONEY_OUT)
    revenue = serializers.DecimalField(**MONEY_OUT)
    profit = serializers.DecimalField(**MONEY_OUT)
    epc = serializers.DecimalField(max_digits=14, decimal_places=4)
    cvr = serializers.DecimalField(max_digits=8, decimal_places=4)


class PartnerPerformanceOutput(PerformanceRowFields):
    partner_id = serializers.CharField()


class OfferPerformanceOutput(PerformanceRowFields):
    offer_id = serializers.CharField()


class TopPublisherOutput(PartnerPerformanceOutput):
    rank = serializers.IntegerField()


class PeriodOutput(serializers.Serializer[dict[str, Any]]):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    timezone = serializers.CharField()


class FraudTotalsOutput(serializers.Serializer[dict[str, Any]]):
    total = serializers.IntegerField()
    flagged = serializers.IntegerField()


class FraudClickTotalsOutput(FraudTotalsOutput):
    refused = serializers.IntegerField()


class FraudConversionTotalsOutput(FraudTotalsOutput):
    held_for_review = serializers.IntegerField()
    rejected = serializers.IntegerField()


class RiskyPartnerOutput(serializers.Serializer[dict[str, Any]]):
    partner_id = serializers.CharField()
    name = serializers.CharField()
    flagged_conversions = serializers.IntegerField()
    conversions = serializers.IntegerField()
    flagged_share = serializers.DecimalField(max_digits=8, decimal_places=4)
    flagged_clicks = serializers.IntegerField()


class FraudSummaryOutput(serializers.Serializer[dict[str, Any]]):
    period = PeriodOutput()
    mode = serializers.CharField()
    threshold = serializers.IntegerField()
    clicks = FraudClickTotalsOutput()
    conversions = FraudConversionTotalsOutput()
    top_risk_partners = RiskyPartnerOutput(many=True)


class PartnerReportOutput(serializers.Serializer[dict[str, Any]]):
    period = PeriodOutput()
    results = PartnerPerformanceOutput(many=True)


class OfferReportOutput(serializers.Serializer[dict[str, Any]]):
    period = PeriodOutput()
    results = OfferPerformanceOutput(many=True)


class TopPublishersReportOutput(serializers.Serializer[dict[str, Any]]):
    period = PeriodOutput()
    metric = serializers.CharField()
    results = TopPublisherOutput(many=True)
