"""Public partner pages (no API key, no login): the application form of a brand."""

from django.urls import path

from partners import views

urlpatterns = [
    path("p/<str:brand>/apply", views.application_form, name="partner-apply"),
    path("p/<str:brand>/apply/thanks", views.application_thanks, name="partner-apply-thanks"),
]
