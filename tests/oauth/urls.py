"""The project's URLs plus mozilla-django-oidc's, for the SSO tests."""

from django.urls import include, path

from trcker_site.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("oidc/", include("mozilla_django_oidc.urls")),
    *project_urlpatterns,
]
