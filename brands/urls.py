from django.urls import path

from brands import apis

app_name = "brands"

urlpatterns = [
    path("fraud/settings/", apis.FraudSettingsApi.as_view(), name="fraud-settings"),
]
