"""Public integration endpoints (no API key): the providers' webhooks and /t.js."""

from django.urls import path

from integrations import views

urlpatterns = [
    path("t.js", views.tracker_script, name="tracker-script"),
    path("api/integrations/stripe/<str:brand>", views.stripe_webhook, name="stripe-webhook"),
    path("api/integrations/shopify/<str:brand>", views.shopify_webhook, name="shopify-webhook"),
]
