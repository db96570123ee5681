"""Public tracking endpoints (no API key): clicks, the BotD beacon, inbound postbacks."""

from django.urls import path

from conversions import views

urlpatterns = [
    path("c/_botd", views.botd_verdict, name="botd-verdict"),
    path("c/<str:brand>/<str:offer>/<str:partner>", views.click_redirect, name="click"),
    path("api/postback/<str:brand>/<str:offer>", views.inbound_postback, name="inbound-postback"),
]
