"""REST endpoints for conversions, payouts, deliveries, stats and the fraud summary."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from conversions import selectors, services, statements, stats
from conversions.serializers import (
    ConversionListFilters,
    ConversionOutput,
    ConversionRejectInput,
    DeliveryListFilters,
    DeliveryOutput,
    FraudSummaryOutput,
    OfferReportOutput,
    OfferStatsInput,
    PartnerReportOutput,
    PartnerStatsInput,
    PayoutGenerateInput,
    PayoutListFilters,
    PayoutMarkPaidInput,
    PayoutOutput,
    PendingListFilters,
    PeriodInput,
    TopPublishersInput,
    TopPublishersReportOutput,
)
from partners.selectors import partner_get_for_actor
from rest_api.base import TenantApi, paginate, paginated, query_params


def _validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _query(request: Request, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
    data = _validated(serializer_class, query_params(request))
    data.pop("cursor", None)
    if serializer_class is not TopPublishersInput:
        data.pop("limit", None)
    return data


class ConversionListApi(TenantApi):
    @extend_schema(
        tags=["conversions"],
        parameters=[ConversionListFilters],
        responses=paginated(ConversionOutput),
    )
    def get(self, request: Request) -> Response:
        conversions = selectors.conversion_list(
            actor=self.actor, **_query(request, ConversionListFilters)
        )
        return paginate(self, request, conversions, ConversionOutput)


class ConversionPendingListApi(TenantApi):
    @extend_schema(
        tags=["conversions"], parameters=[PendingListFilters], responses=paginated(ConversionOutput)
    )
    def get(self, request: Request) -> Response:
        queue = selectors.conversion_pending_list(
            actor=self.actor, **_query(request, PendingListFilters)
        )
        return paginate(self, request, queue, ConversionOutput, ordering=("created_at", "pk"))


class ConversionDetailApi(TenantApi):
    @extend_schema(tags=["conversions"], responses=ConversionOutput)
    def get(self, request: Request, conversion_id: str) -> Response:
        conversion = selectors.conversion_get_for_actor(
            actor=self.actor, conversion_id=conversion_id
        )
        return Response(ConversionOutput(conversion).data)


class ConversionApproveApi(TenantApi):
    @extend_schema(tags=["conversions"], request=None, responses=ConversionOutput)
    def post(self, request: Request, conversion_id: str) -> Response:
        conversion = selectors.conversion_get_for_actor(
            actor=self.actor, conversion_id=conversion_id
        )
        services.conversion_approve(actor=self.actor, conversion=conversion)
        return Response(
            ConversionOutput(
                selectors.conversion_get_for_actor(actor=self.actor, conversion_id=conversion_id)
            ).data
        )


class ConversionRejectApi(TenantApi):
    @extend_schema(tags=["conversions"], request=ConversionRejectInput, responses=ConversionOutput)
    def post(self, request: Request, conversion_id: str) -> Response:
        data = _validated(ConversionRejectInput, request.data)
        conversion = selectors.conversion_get_for_actor(
            actor=self.actor, conversion_id=conversion_id
        )
        services.conversion_reject(
            actor=self.actor, conversion=conversion, reason=data.get("reason", "")
        )
        return Response(
            ConversionOutput(
                selectors.conversion_get_for_actor(actor=self.actor, conversion_id=conversion_id)
            ).data
        )


class PayoutListApi(TenantApi):
    @extend_schema(
        tags=["payouts"], parameters=[PayoutListFilters], responses=paginated(PayoutOutput)
    )
    def get(self, request: Request) -> Response:
        payouts = selectors.payout_list(actor=self.actor, **_query(request, PayoutListFilters))
        return paginate(self, request, payouts, PayoutOutput)


class PayoutGenerateApi(TenantApi):
    @extend_schema(
        tags=["payouts"],
        request=PayoutGenerateInput,
        responses={
            201: inline_serializer(
                name="GeneratedPayouts", fields={"results": PayoutOutput(many=True)}
            )
        },
    )
    def post(self, request: Request) -> Response:
        data = _validated(PayoutGenerateInput, request.data)
        partner_id = data.get("partner_id")
        partner = (
            partner_get_for_actor(actor=self.actor, partner_id=partner_id) if partner_id else None
        )
        payouts = services.payouts_generate(
            actor=self.actor, up_to=data.get("up_to"), partner=partner
        )
        fresh = selectors.payout_list(actor=self.actor).filter(
            pk__in=[payout.pk for payout in payouts]
        )
        return Response({"results": PayoutOutput(fresh, many=True).data}, status=201)


class PayoutDetailApi(TenantApi):
    @extend_schema(tags=["payouts"], responses=PayoutOutput)
    def get(self, request: Request, payout_id: str) -> Response:
        return Response(
            PayoutOutput(selectors.payout_get_for_actor(actor=self.actor, payout_id=payout_id)).data
        )


class PayoutMarkPaidApi(TenantApi):
    @extend_schema(tags=["payouts"], request=PayoutMarkPaidInput, responses=PayoutOutput)
    def post(self, request: Request, payout_id: str) -> Response:
        data = _validated(PayoutMarkPaidInput, request.data)
        payout = selectors.payout_get_for_actor(actor=self.actor, payout_id=payout_id)
        services.payout_mark_paid(actor=self.actor, payout=payout, **data)
        return Response(
            PayoutOutput(selectors.payout_get_for_actor(actor=self.actor, payout_id=payout_id)).data
        )


class PayoutVoidApi(TenantApi):
    @extend_schema(tags=["payouts"], request=None, responses=PayoutOutput)
    def post(self, request: Request, payout_id: str) -> Response:
        payout = selectors.payout_get_for_actor(actor=self.actor, payout_id=payout_id)
        services.payout_void(actor=self.actor, payout=payout)
        return Response(
            PayoutOutput(selectors.payout_get_for_actor(actor=self.actor, payout_id=payout_id)).data
        )


class PayoutStatementApi(TenantApi):
    """The partner statement of one payout as CSV (``conversions.statements``)."""

    @extend_schema(
        tags=["payouts"],
        operation_id="payouts_statement_csv",
        summary="Partner statement of a payout (CSV)",
        description=(
            "The payout as `field,value` lines (payout_id, partner, period, time zone, "
            "currency, total, status, payment), a blank line, then one row per conversion it "
            "covers: conversion_id, date (brand time zone), offer_id, event, txn_id, "
            "sale_amount, payout, status, currency. Text a spreadsheet would run as a formula "
            "(starting with = + - @) is prefixed with a single quote."
        ),
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="Payout summary lines, a blank line, then one row per conversion.",
            )
        },
    )
    def get(self, request: Request, payout_id: str) -> HttpResponse:
        statement = statements.payout_statement(actor=self.actor, payout_id=payout_id)
        response = HttpResponse(statement.content, content_type=statement.content_type)
        response["Content-Disposition"] = statements.statement_content_disposition(statement)
        return response

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # The CSV bypasses renderers; errors stay JSON whatever Accept asks for (text/csv
        # would otherwise be refused with 406 before the view runs).
        return super().perform_content_negotiation(request, force=True)


class DeliveryListApi(TenantApi):
    @extend_schema(
        tags=["deliveries"], parameters=[DeliveryListFilters], responses=paginated(DeliveryOutput)
    )
    def get(self, request: Request) -> Response:
        deliveries = selectors.delivery_list(
            actor=self.actor, **_query(request, DeliveryListFilters)
        )
        return paginate(self, request, deliveries, DeliveryOutput)


class DeliveryDetailApi(TenantApi):
    @extend_schema(tags=["deliveries"], responses=DeliveryOutput)
    def get(self, request: Request, delivery_id: int) -> Response:
        return Response(
            DeliveryOutput(
                selectors.delivery_get_for_actor(actor=self.actor, delivery_id=delivery_id)
            ).data
        )


class DeliveryReplayApi(TenantApi):
    @extend_schema(tags=["deliveries"], request=None, responses=DeliveryOutput)
    def post(self, request: Request, delivery_id: int) -> Response:
        delivery = selectors.delivery_get_for_actor(actor=self.actor, delivery_id=delivery_id)
        return Response(
            DeliveryOutput(services.delivery_replay(actor=self.actor, delivery=delivery)).data
        )


class PartnerStatsApi(TenantApi):
    @extend_schema(tags=["stats"], parameters=[PartnerStatsInput], responses=PartnerReportOutput)
    def get(self, request: Request) -> Response:
        report = stats.partner_report(actor=self.actor, **_query(request, PartnerStatsInput))
        return Response(PartnerReportOutput(report).data)


class OfferStatsApi(TenantApi):
    @extend_schema(tags=["stats"], parameters=[OfferStatsInput], responses=OfferReportOutput)
    def get(self, request: Request) -> Response:
        report = stats.offer_report(actor=self.actor, **_query(request, OfferStatsInput))
        return Response(OfferReportOutput(report).data)


class TopPublishersApi(TenantApi):
    @extend_schema(
        tags=["stats"], parameters=[TopPublishersInput], responses=TopPublishersReportOutput
    )
    def get(self, request: Request) -> Response:
        report = stats.top_publishers_report(
            actor=self.actor, **_query(request, TopPublishersInput)
        )
        return Response(TopPublishersReportOutput(report).data)


class FraudSummaryApi(TenantApi):
    @extend_schema(tags=["fraud"], parameters=[PeriodInput], responses=FraudSummaryOutput)
    def get(self, request: Request) -> Response:
        report = stats.fraud_summary_report(actor=self.actor, **_query(request, PeriodInput))
        return Response(FraudSummaryOutput(report).data)
