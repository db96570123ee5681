"""Admin pages show times in the brand's time zone, not the server's (UTC).

A middleware, so every admin page — changelists, change pages, the dashboard — gets it
without each ModelAdmin opting in. The brand is the one the page is about when the request
says so (``?brand=<slug>`` on the dashboard, ``?brand__id__exact=<id>`` on a list filtered by
brand) and the user may read it; otherwise the user's only brand. Where no single brand
applies — a superuser's list spanning brands, or a member of several brands on an unfiltered
page — times stay in UTC, and Django's admin shows its "UTC" note next to them.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone

from backoffice.admin_base import brand_access
from brands.models import Brand


def brand_timezone_for(request: HttpRequest) -> str | None:
    access = brand_access(request)
    if not (access.is_superuser or access.any_readable):
        return None
    brands = Brand.objects.all()
    if not access.is_superuser:
        brands = brands.filter(pk__in=access.readable_ids)
    slug, brand_id = request.GET.get("brand"), request.GET.get("brand__id__exact", "")
    if slug:
        brands = brands.filter(slug=slug)
    elif brand_id.isdigit():
        brands = brands.filter(pk=int(brand_id))
    elif access.is_superuser:
        return None  # every brand: no single zone
    zones = set(brands.values_list("timezone", flat=True)[:2])
    return zones.pop() if len(zones) == 1 else None


class BrandTimezoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.prefix = reverse("admin:index")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The index is the dashboard, which renders in its brand's zone itself (the brand it
        # shows may be the first of several): no query for it here.
        admin_page = request.path.startswith(self.prefix) and request.path != self.prefix
        zone = brand_timezone_for(request) if admin_page else None
        if zone is None:
            return self.get_response(request)
        with timezone.override(zone):
            return self.get_response(request)
