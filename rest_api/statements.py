"""The one REST endpoint that is not an operation: a payout's partner statement as a CSV
download (every other endpoint is derived from its declaration in ``operations/``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request

from conversions import statements
from rest_api.base import TenantApi


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
