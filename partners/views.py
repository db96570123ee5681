"""The public partner application page of a brand: ``/p/<brand>/apply``. Plain Django views
(no API key, no login), CSRF-protected, rate-limited per client IP and brand."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from audit.actor import Actor
from brands.models import Brand
from core.client_ip import request_client_ip
from core.edge_text import is_slug
from core.errors import DomainError, NotFoundError
from core.rate_limits import count_request
from partners.forms import PartnerApplicationForm
from partners.invitations import invitation_accept, invitation_for_token
from partners.selectors import application_brand_get
from partners.services import partner_apply

logger = logging.getLogger(__name__)

# Service error fields → form fields (the model calls the partner id "slug").
_ERROR_FIELDS = {"slug": "partner_id", "partner_id": "partner_id"}


def _not_found(request: HttpRequest) -> HttpResponse:
    # One page for every unknown slug: it must not tell which brands exist.
    return render(request, "partners/apply_not_found.html", status=404)


def _brand(slug: str) -> Brand | None:
    # A slug no row can have is unknown without a lookup (core/edge_text.py); the edge
    # middleware refuses a NUL in the path first, but the page must not depend on it.
    if not is_slug(slug):
        return None
    try:
        return application_brand_get(brand_slug=slug[:64])
    except NotFoundError:
        return None


def _retry_after(request: HttpRequest, brand: Brand) -> int | None:
    """Count this submission; the seconds to wait when over the limit, else None.

    Counted in the shared cache (Redis in production) so the limit holds across processes.
    When that store is down the form stays open: a warning is logged and the submission
    goes through, since refusing every applicant would be worse than a burst of spam.
    """
    ip = request_client_ip(request) or "unknown"
    usage = count_request(
        request,
        group="partner_apply",
        key=f"{brand.pk}:{ip}",
        rate=settings.TRCKER_APPLY_RATE,
    )
    if usage is None or not usage.limited:
        return None
    return usage.reset_seconds


def _add_domain_error(form: PartnerApplicationForm, exc: DomainError) -> None:
    placed = False
    for name, messages in (exc.fields or {}).items():
        target = _ERROR_FIELDS.get(name, name)
        if target in form.VISIBLE_FIELDS:
            form.add_error(target, list(messages))
            placed = True
    if not placed:
        form.add_error(None, exc.message)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def application_form(request: HttpRequest, brand: str) -> HttpResponse:
    brand_row = _brand(brand)
    if brand_row is None:
        return _not_found(request)
    thanks = reverse("partner-apply-thanks", args=[brand_row.slug])
    # An invitation's token (partners.invitations), from the emailed link or the form.
    invite = str(request.POST.get("invite") or request.GET.get("invite") or "")[:80]
    if request.method == "POST":
        retry_after = _retry_after(request, brand_row)
        if retry_after is not None:
            response = render(
                request,
                "partners/apply_rate_limited.html",
                {"brand": brand_row, "retry_minutes": max(1, -(-retry_after // 60))},
                status=429,
            )
            response["Retry-After"] = str(retry_after)
            return response
        form = PartnerApplicationForm(request.POST)
        if form.is_valid():
            if form.is_bot:
                # Same answer as a real application, so the bot learns nothing.
                logger.info("partner application to %s dropped: honeypot filled", brand_row.slug)
                return HttpResponseRedirect(thanks)
            try:
                partner = partner_apply(
                    actor=Actor.for_applicant(
                        brand_id=brand_row.pk, brand_slug=brand_row.slug, request=request
                    ),
                    **form.service_arguments(),
                )
            except DomainError as exc:
                _add_domain_error(form, exc)
            else:
                # Through a brand's invitation with the invited address: approved at once.
                if invite and invitation_accept(brand=brand_row, token=invite, partner=partner):
                    return HttpResponseRedirect(f"{thanks}?invited=1")
                return HttpResponseRedirect(thanks)
    else:
        invitation = invitation_for_token(brand=brand_row, token=invite) if invite else None
        initial = {"email": invitation.email, "name": invitation.name} if invitation else {}
        invite = invite if invitation else ""
        form = PartnerApplicationForm(initial=initial)
    return render(
        request, "partners/apply.html", {"brand": brand_row, "form": form, "invite": invite}
    )


@never_cache
@require_http_methods(["GET", "HEAD"])
def application_thanks(request: HttpRequest, brand: str) -> HttpResponse:
    brand_row = _brand(brand)
    if brand_row is None:
        return _not_found(request)
    return render(
        request,
        "partners/apply_thanks.html",
        {"brand": brand_row, "invited": request.GET.get("invited") == "1"},
    )
