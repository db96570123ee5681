"""The partner portal under ``/p/<brand>/`` (docs/partners.md). The application form at
``/p/<brand>/apply`` is ``partners.urls_public``'s."""

from django.urls import path

from partner_portal import account_views, oidc_views, sign_in_views, views

urlpatterns = [
    path("p/<str:brand>/login/", sign_in_views.login, name="portal-login"),
    path("p/<str:brand>/login/sent/", sign_in_views.login_sent, name="portal-login-sent"),
    path("p/<str:brand>/login/link/<str:token>/", sign_in_views.login_link, name="portal-link"),
    path("p/<str:brand>/login/oidc/", oidc_views.start, name="portal-oidc-start"),
    path("p/<str:brand>/login/oidc/callback/", oidc_views.callback, name="portal-oidc-callback"),
    path("p/<str:brand>/login/oidc/choose/", oidc_views.choose, name="portal-oidc-choose"),
    path("p/<str:brand>/logout/", sign_in_views.logout, name="portal-logout"),
    path("p/<str:brand>/", views.home, name="portal-home"),
    path("p/<str:brand>/links/", views.links, name="portal-links"),
    path("p/<str:brand>/conversions/", views.conversions, name="portal-conversions"),
    path(
        "p/<str:brand>/conversions/<str:conversion_id>/",
        views.conversion_detail,
        name="portal-conversion",
    ),
    path("p/<str:brand>/payouts/", views.payouts, name="portal-payouts"),
    path(
        "p/<str:brand>/payouts/<str:payout_id>/statement.csv",
        views.statement,
        name="portal-statement",
    ),
    path("p/<str:brand>/coupons/", views.coupons, name="portal-coupons"),
    path("p/<str:brand>/profile/", account_views.profile, name="portal-profile"),
    path("p/<str:brand>/keys/", account_views.keys, name="portal-keys"),
    path(
        "p/<str:brand>/keys/<str:key_id>/revoke/",
        account_views.key_revoke,
        name="portal-key-revoke",
    ),
    path(
        "p/<str:brand>/keys/apps/<str:app_id>/revoke/",
        account_views.app_revoke,
        name="portal-app-revoke",
    ),
]
