from django.urls import path

from offers import apis

app_name = "offers"

urlpatterns = [
    path("offers/", apis.OfferListCreateApi.as_view(), name="offer-list"),
    path("offers/<str:offer_id>/", apis.OfferDetailApi.as_view(), name="offer-detail"),
    path("offers/<str:offer_id>/pause/", apis.OfferPauseApi.as_view(), name="offer-pause"),
    path("offers/<str:offer_id>/resume/", apis.OfferResumeApi.as_view(), name="offer-resume"),
    path("offers/<str:offer_id>/archive/", apis.OfferArchiveApi.as_view(), name="offer-archive"),
    path("offers/<str:offer_id>/caps/", apis.OfferCapsApi.as_view(), name="offer-caps"),
    path(
        "offers/<str:offer_id>/allowed-partners/",
        apis.OfferAllowedPartnersApi.as_view(),
        name="offer-allowed-partners",
    ),
    path(
        "offers/<str:offer_id>/payout-rules/",
        apis.OfferPayoutRuleApi.as_view(),
        name="offer-payout-rules",
    ),
    path(
        "offers/<str:offer_id>/rotate-postback-secret/",
        apis.OfferRotateSecretApi.as_view(),
        name="offer-rotate-postback-secret",
    ),
]
