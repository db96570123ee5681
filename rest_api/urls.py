"""/api/v1/: every routed operation (derived from its declaration), the one download that is
not an operation (a payout statement as CSV), and the OpenAPI document."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularJSONAPIView
from rest_framework.permissions import AllowAny

from operations.catalog import OPERATIONS
from rest_api.operations import urlpatterns_for
from rest_api.statements import PayoutStatementApi

urlpatterns = [
    *urlpatterns_for(OPERATIONS.values()),
    path(
        "payouts/<str:payout_id>/statement.csv",
        PayoutStatementApi.as_view(),
        name="payout-statement",
    ),
    path(
        "openapi.json",
        SpectacularJSONAPIView.as_view(authentication_classes=[], permission_classes=[AllowAny]),
        name="openapi",
    ),
]
