"""/api/partner/v1/: every routed partner operation, derived from its declaration, and the one
download that is not an operation (a payout's statement as CSV)."""

from __future__ import annotations

from django.urls import path

from operations.catalog import PARTNER_OPERATIONS
from rest_api.operations import urlpatterns_for
from rest_api.partner import PartnerOperationApi, PartnerStatementApi

urlpatterns = [
    *urlpatterns_for(PARTNER_OPERATIONS.values(), base=PartnerOperationApi),
    path(
        "payouts/<str:payout_id>/statement.csv",
        PartnerStatementApi.as_view(),
        name="partner-payout-statement",
    ),
]
