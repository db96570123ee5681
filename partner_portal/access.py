"""Who is signed in to which brand's portal, and the wrapper every portal page goes through.

The Django session (the staff admin's cookie, CSRF and security settings) holds one entry per
brand the browser signed in to: ``{brand pk: {"partner": pk, "email": address, "slug": brand
slug}}``. Each brand's portal reads only its own entry, so a sign-in to one brand opens nothing
of another: someone who is a partner of two brands signs in to each (docs/partners.md,
"Several brands"), and the header lists the brands this browser is signed in to.

Each request re-checks the entry against the partner row (``portal_session_partner``): a
partner paused? still in; rejected, deleted or given another email: signed out at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache

from audit.actor import Actor
from brands.models import Brand
from core.edge_text import is_slug
from core.errors import NotFoundError
from partners.models import Partner
from partners.selectors import application_brand_get
from partners.sign_in import portal_session_partner

SESSION_KEY = "trcker_partner_portal"


def brand_for_slug(slug: str) -> Brand | None:
    if not is_slug(slug):
        return None
    try:
        return application_brand_get(brand_slug=slug[:64])
    except NotFoundError:
        return None


def not_found(request: HttpRequest, brand: Brand | None = None) -> HttpResponse:
    # One page for a brand, conversion or payout that does not exist or is not this partner's.
    return render(request, "partner_portal/not_found.html", {"brand": brand}, status=404)


def _entries(request: HttpRequest) -> dict[str, dict[str, Any]]:
    value = request.session.get(SESSION_KEY)
    return value if isinstance(value, dict) else {}


def sign_in(request: HttpRequest, brand: Brand, partner: Partner) -> None:
    # A new session key at every sign-in: a key planted before it (session fixation) is
    # worth nothing after. The staff side of the session, if any, is kept.
    request.session.cycle_key()
    entries = _entries(request)
    entries[str(brand.pk)] = {"partner": partner.pk, "email": partner.email, "slug": brand.slug}
    request.session[SESSION_KEY] = entries


def sign_out(request: HttpRequest, brand: Brand) -> None:
    entries = _entries(request)
    entries.pop(str(brand.pk), None)
    if entries:
        request.session[SESSION_KEY] = entries
    else:
        request.session.pop(SESSION_KEY, None)
    request.session.cycle_key()


def session_partner(request: HttpRequest, brand: Brand) -> Partner | None:
    entry = _entries(request).get(str(brand.pk))
    if not isinstance(entry, dict):
        return None
    partner_pk, email = entry.get("partner"), entry.get("email")
    if not isinstance(partner_pk, int) or not isinstance(email, str) or not email:
        return None
    return portal_session_partner(brand=brand, partner_pk=partner_pk, email=email)


def signed_in_partners(request: HttpRequest) -> list[Partner]:
    """Every partner this browser is signed in as (one per brand), each re-checked."""
    partners = []
    for key in sorted(_entries(request)):
        brand = Brand.objects.filter(pk=int(key)).first() if key.isdigit() else None
        partner = session_partner(request, brand) if brand is not None else None
        if partner is not None:
            partners.append(partner)
    return partners


# Where the browser goes after signing in to a brand's portal, when it came from an OAuth
# authorization request ("add MCP server by URL" as a partner, mcp_gateway/partner_oauth.py).
# Only a path on this site's authorization endpoint is ever kept: never an open redirect.
AFTER_SIGN_IN_KEY = "trcker_partner_portal_next"
MAX_NEXT_LENGTH = 4000


def safe_after_sign_in(value: object) -> str | None:
    """``value`` if it is a request to this site's OAuth authorization endpoint, else None."""
    if not isinstance(value, str) or len(value) > MAX_NEXT_LENGTH:
        return None
    if not value.startswith(reverse("oauth2_provider:authorize") + "?"):
        return None  # a path of this site: it cannot start with // or a scheme
    if any(char in value for char in "\\\r\n\t") or not url_has_allowed_host_and_scheme(
        value, allowed_hosts=None
    ):
        return None
    return value


def remember_after_sign_in(request: HttpRequest, brand: Brand, value: str) -> bool:
    """Keep ``value`` for this brand's next sign-in in this browser; False if it is unsafe."""
    safe = safe_after_sign_in(value)
    if safe is None:
        return False
    pending = request.session.get(AFTER_SIGN_IN_KEY)
    pending = pending if isinstance(pending, dict) else {}
    pending[str(brand.pk)] = safe
    request.session[AFTER_SIGN_IN_KEY] = pending
    return True


def after_sign_in_url(request: HttpRequest, brand: Brand) -> str:
    """Where a sign-in to ``brand`` lands: the pending authorization request kept for it (once,
    checked again), or the portal's home."""
    pending = request.session.get(AFTER_SIGN_IN_KEY)
    if isinstance(pending, dict) and str(brand.pk) in pending:
        value = pending.pop(str(brand.pk))
        request.session[AFTER_SIGN_IN_KEY] = pending
        safe = safe_after_sign_in(value)
        if safe is not None:
            return safe
    return reverse("portal-home", args=[brand.slug])


@dataclass(frozen=True)
class Portal:
    """What a portal page knows: the brand, the signed-in partner and their actor."""

    brand: Brand
    partner: Partner
    actor: Actor
    other_brands: list[str]  # slugs of the other brands this browser is signed in to

    def context(self, **extra: Any) -> dict[str, Any]:
        return {"brand": self.brand, "partner": self.partner, "portal": self, **extra}


def login_redirect(brand: Brand) -> HttpResponse:
    # No ?next=: the emailed link lands on the portal's home, whatever page was asked for.
    return HttpResponseRedirect(reverse("portal-login", args=[brand.slug]))


def portal_page(
    view: Callable[..., HttpResponse],
) -> Callable[..., HttpResponse]:
    """Resolve the brand from the path, require this brand's sign-in (else to its login page),
    build the partner actor and render a not-found page for anything the partner may not see."""

    @wraps(view)
    def wrapper(request: HttpRequest, brand: str, *args: Any, **kwargs: Any) -> HttpResponse:
        brand_row = brand_for_slug(brand)
        if brand_row is None:
            return not_found(request)
        partner = session_partner(request, brand_row)
        if partner is None:
            return login_redirect(brand_row)
        actor = Actor.for_partner_session(
            brand_id=brand_row.pk,
            brand_slug=brand_row.slug,
            partner_id=partner.pk,
            email=partner.email,
            request=request,
        )
        others = sorted(
            entry["slug"]
            for key, entry in _entries(request).items()
            if key != str(brand_row.pk) and isinstance(entry, dict) and entry.get("slug")
        )
        portal = Portal(brand=brand_row, partner=partner, actor=actor, other_brands=others)
        try:
            return view(request, portal, *args, **kwargs)
        except NotFoundError:
            return not_found(request, brand_row)

    return never_cache(wrapper)
