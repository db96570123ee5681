from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from backoffice import dashboard
from trcker_site.health import health

urlpatterns = [
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("", include("conversions.urls_public")),
    path("", include("integrations.urls_public")),
    path("", include("partners.urls_public")),
    path("", include("partner_portal.urls")),
    path("", include("mcp_gateway.urls")),
    path("admin/", include(dashboard)),  # the index with the dashboard; admin/dashboard/… POSTs
    path("admin/", admin.site.urls),
    path("api/health", health, name="health"),
    path("api/v1/", include("rest_api.urls")),
    path("api/partner/v1/", include("rest_api.partner_urls")),
    path(
        "api/docs",
        SpectacularSwaggerView.as_view(
            url_name="openapi", authentication_classes=[], permission_classes=[AllowAny]
        ),
        name="api-docs",
    ),
]

if settings.TRCKER_BENCH_URLS:
    # Baselines for `make bench`; see bench/views.py.
    urlpatterns.append(path("", include("bench.views")))

handler404 = "rest_api.base.api_not_found"
