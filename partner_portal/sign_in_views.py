"""Signing in to the partner portal by an emailed one-time link (``partners/sign_in.py``).

``/p/<brand>/login/`` takes an address and answers the same page whatever it was: a partner's,
an applicant's, nobody's, or one whose link budget is spent (no account enumeration). The
link's page (GET) only shows whom it would sign in, with a button; the POST spends it, so a
mail scanner that opens links signs nobody in and burns nothing. Throttled per client IP
(``TRCKER_PORTAL_LINKS_PER_IP``, 429 past it) and per address and brand
(``TRCKER_PORTAL_LINKS_PER_EMAIL``, silently: the same answer, no email); a presented link
that is not valid counts as a failed login of the IP (``core.auth_throttle``), the budget the
staff login shares.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from typing import Any

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from audit.actor import USER_AGENT_MAX, Actor, Channel
from brands.models import Brand
from core import auth_throttle
from core.client_ip import request_client_ip
from core.errors import AuthenticationError
from core.rate_limits import count_request
from partner_portal.access import (
    after_sign_in_url,
    brand_for_slug,
    not_found,
    session_partner,
    sign_in,
    sign_out,
)
from partners.oidc_config import brand_sign_in_provider
from partners.sign_in import (
    normalized_email,
    partner_sign_in_links_send,
    sign_in_link_partner,
    sign_in_link_use,
)

logger = logging.getLogger(__name__)


class SignInForm(forms.Form):
    email = forms.EmailField(
        label="Your email address",
        max_length=254,
        help_text="The address the brand has for you as a partner.",
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )


def _context(brand: Brand, form: SignInForm) -> dict[str, Any]:
    # The brand's own provider, when it has one: "Sign in with <name>" beside the link form.
    return {"brand": brand, "form": form, "sign_in_provider": brand_sign_in_provider(brand)}


def _visitor(request: HttpRequest, brand: Brand) -> Actor:
    """The anonymous visitor of the login form, as the audit log records who asked for a
    link: ``system:partner_sign_in`` on the portal channel, with the request's facts."""
    return replace(
        Actor.system(
            brand_id=brand.pk, brand_slug=brand.slug, name="partner_sign_in", channel=Channel.PORTAL
        ),
        ip=request_client_ip(request),
        user_agent=request.headers.get("User-Agent", "")[:USER_AGENT_MAX],
        request_id=getattr(request, "request_id", ""),
    )


def _rate_limited(request: HttpRequest, brand: Brand, seconds: int) -> HttpResponse:
    response = render(
        request,
        "partner_portal/rate_limited.html",
        {"brand": brand, "retry_minutes": max(1, -(-seconds // 60))},
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response


def _email_budget_left(request: HttpRequest, brand: Brand, address: str) -> bool:
    # The address is hashed into the counter's name: the cache holds no email addresses.
    digest = hashlib.sha256(address.encode()).hexdigest()[:32]
    usage = count_request(
        request,
        group="portal_link_email",
        key=f"{brand.pk}:{digest}",
        rate=settings.TRCKER_PORTAL_LINKS_PER_EMAIL,
    )
    return usage is None or not usage.limited


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def login(request: HttpRequest, brand: str) -> HttpResponse:
    brand_row = brand_for_slug(brand)
    if brand_row is None:
        return not_found(request)
    if request.method != "POST":
        if session_partner(request, brand_row) is not None:
            return HttpResponseRedirect(after_sign_in_url(request, brand_row))
        return render(request, "partner_portal/login.html", _context(brand_row, SignInForm()))
    ip = request_client_ip(request) or "unknown"
    usage = count_request(
        request, group="portal_link_ip", key=ip, rate=settings.TRCKER_PORTAL_LINKS_PER_IP
    )
    if usage is not None and usage.limited:
        return _rate_limited(request, brand_row, usage.reset_seconds)
    form = SignInForm(request.POST)
    if not form.is_valid():
        return render(request, "partner_portal/login.html", _context(brand_row, form), status=400)
    address = normalized_email(form.cleaned_data["email"])
    if _email_budget_left(request, brand_row, address):
        partner_sign_in_links_send(
            actor=_visitor(request, brand_row), brand=brand_row, email=address
        )
    else:
        logger.info("portal sign-in link not sent: address over its budget (brand %s)", brand)
    return HttpResponseRedirect(reverse("portal-login-sent", args=[brand_row.slug]))


@never_cache
@require_http_methods(["GET", "HEAD"])
def login_sent(request: HttpRequest, brand: str) -> HttpResponse:
    brand_row = brand_for_slug(brand)
    if brand_row is None:
        return not_found(request)
    return render(
        request,
        "partner_portal/login_sent.html",
        {"brand": brand_row, "minutes": settings.TRCKER_PORTAL_LINK_MINUTES},
    )


def _invalid_link(request: HttpRequest, brand: Brand, message: str) -> HttpResponse:
    auth_throttle.record_failure(request, auth_throttle.LOGIN)
    return render(
        request,
        "partner_portal/login.html",
        {**_context(brand, SignInForm()), "link_error": message},
        status=400,
    )


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def login_link(request: HttpRequest, brand: str, token: str) -> HttpResponse:
    brand_row = brand_for_slug(brand)
    if brand_row is None:
        return not_found(request)
    seconds = auth_throttle.retry_after(request, auth_throttle.LOGIN)
    if seconds is not None:
        return _rate_limited(request, brand_row, seconds)
    try:
        partner = sign_in_link_partner(brand=brand_row, token=token)
        if request.method != "POST":
            return render(
                request,
                "partner_portal/login_confirm.html",
                {"brand": brand_row, "partner": partner},
            )
        actor = Actor.for_partner_session(
            brand_id=brand_row.pk,
            brand_slug=brand_row.slug,
            partner_id=partner.pk,
            email=partner.email,
            request=request,
        )
        partner = sign_in_link_use(actor=actor, brand=brand_row, token=token)
    except AuthenticationError as exc:
        return _invalid_link(request, brand_row, exc.message)
    sign_in(request, brand_row, partner)
    return HttpResponseRedirect(after_sign_in_url(request, brand_row))


@never_cache
@require_POST
def logout(request: HttpRequest, brand: str) -> HttpResponse:
    brand_row = brand_for_slug(brand)
    if brand_row is None:
        return not_found(request)
    sign_out(request, brand_row)
    return HttpResponseRedirect(reverse("portal-login", args=[brand_row.slug]) + "?signed_out=1")
