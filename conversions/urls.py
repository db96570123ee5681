from django.urls import path

from conversions import apis

app_name = "conversions"

urlpatterns = [
    path("conversions/", apis.ConversionListApi.as_view(), name="conversion-list"),
    path(
        "conversions/pending/", apis.ConversionPendingListApi.as_view(), name="conversion-pending"
    ),
    path(
        "conversions/<str:conversion_id>/",
        apis.ConversionDetailApi.as_view(),
        name="conversion-detail",
    ),
    path(
        "conversions/<str:conversion_id>/approve/",
        apis.ConversionApproveApi.as_view(),
        name="conversion-approve",
    ),
    path(
        "conversions/<str:conversion_id>/reject/",
        apis.ConversionRejectApi.as_view(),
        name="conversion-reject",
    ),
    path("payouts/", apis.PayoutListApi.as_view(), name="payout-list"),
    path("payouts/generate/", apis.PayoutGenerateApi.as_view(), name="payout-generate"),
    path("payouts/<str:payout_id>/", apis.PayoutDetailApi.as_view(), name="payout-detail"),
    path(
        "payouts/<str:payout_id>/mark-paid/",
        apis.PayoutMarkPaidApi.as_view(),
        name="payout-mark-paid",
    ),
    path("payouts/<str:payout_id>/void/", apis.PayoutVoidApi.as_view(), name="payout-void"),
    path(
        "payouts/<str:payout_id>/statement.csv",
        apis.PayoutStatementApi.as_view(),
        name="payout-statement",
    ),
    path("deliveries/", apis.DeliveryListApi.as_view(), name="delivery-list"),
    path("deliveries/<int:delivery_id>/", apis.DeliveryDetailApi.as_view(), name="delivery-detail"),
    path(
        "deliveries/<int:delivery_id>/replay/",
        apis.DeliveryReplayApi.as_view(),
        name="delivery-replay",
    ),
    path("stats/partners/", apis.PartnerStatsApi.as_view(), name="stats-partners"),
    path("stats/offers/", apis.OfferStatsApi.as_view(), name="stats-offers"),
    path("stats/top-publishers/", apis.TopPublishersApi.as_view(), name="stats-top-publishers"),
    path("fraud/summary/", apis.FraudSummaryApi.as_view(), name="fraud-summary"),
]
