"""Signing in to the partner portal through the brand's own OpenID Connect provider
(``partners.oidc_config``, ``partners.oidc_client``; docs/partners.md, "Signing in with the
brand's provider").

``POST /p/<brand>/login/oidc/`` (CSRF-protected, throttled per IP like the link form) keeps a
fresh ``state``, ``nonce`` and PKCE verifier in the browser's session and redirects to the
provider. ``GET /p/<brand>/login/oidc/callback/`` takes the state out of the session (one use:
a replayed callback finds none), exchanges the code, verifies the ID token and signs in the
brand's partner with the provider's verified address — the rule of the emailed link
(``sign_in_partner_list``). Several partners with that address: the same choice the link flow
gives (one link per partner there, one button per partner here, ``POST .../choose/``). An
address that names no partner gets the same refusal as a rejected applicant's or an
unverified one's wording aside: nothing says whether the address is a partner. Every refusal
but an unreachable provider or a cancel counts as a failed login of the IP
(``core.auth_throttle``), the budget the links share.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from audit.actor import Actor
from brands.models import Brand
from core import auth_throttle
from core.client_ip import request_client_ip
from core.errors import AuthenticationError
from core.rate_limits import count_request
from partner_portal.access import after_sign_in_url, brand_for_slug, not_found, sign_in
from partner_portal.sign_in_views import _rate_limited
from partners.models import Partner, PartnerSignInProvider
from partners.oidc_client import (
    OidcRefused,
    Pending,
    authorization_url,
    endpoints,
    finish,
    new_pending,
)
from partners.oidc_config import brand_sign_in_provider, redirect_uri
from partners.sign_in import sign_in_oidc_record, sign_in_partner_list

logger = logging.getLogger(__name__)

PENDING_KEY = "trcker_partner_oidc"
CHOICE_KEY = "trcker_partner_oidc_choice"
PENDING_SECONDS = 600  # from the redirect to the callback
MAX_PENDING = 5  # sign-ins started in other tabs stay valid, up to this many
STATE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
CODE_PATTERN = re.compile(r"^[\x21-\x7e]{1,2048}$")

# What the refusal page says, by kind; the log keeps the precise code.
REFUSALS = {
    "expired": (
        400,
        "This sign-in attempt is not valid any more: it was used already, it expired, or it "
        "was started in another browser. Start again below.",
    ),
    "cancelled": (400, "The sign-in was cancelled or refused at {provider}. Start again below."),
    "provider": (
        502,
        "{provider} could not complete the sign-in just now. Try again in a moment, or ask for "
        "an emailed link below.",
    ),
    "unverified": (
        403,
        "{provider} has not verified the email address of this account, so it cannot sign you "
        "in. Verify it there, or ask for an emailed link below.",
    ),
    "refused": (
        403,
        "We could not sign you in to the {brand} partner portal with this {provider} account. "
        "If {brand} has you as a partner, ask them which address they have for you, or ask "
        "for an emailed link below.",
    ),
}

# A provider that cannot be reached, or a sign-in the person cancelled at the provider, is no
# guess at anything: it does not count against the IP's failed-login budget (which the emailed
# link shares).
UNCOUNTED = frozenset({"provider", "cancelled"})


def _refused(
    request: HttpRequest, brand: Brand, provider: PartnerSignInProvider | None, kind: str
) -> HttpResponse:
    if kind not in UNCOUNTED:
        auth_throttle.record_failure(request, auth_throttle.LOGIN)
    status, text = REFUSALS[kind]
    name = provider.display_name if provider else "the sign-in provider"
    return render(
        request,
        "partner_portal/oidc_refused.html",
        {"brand": brand, "message": text.format(provider=name, brand=brand.name)},
        status=status,
    )


def _pending(request: HttpRequest) -> dict[str, dict[str, Any]]:
    value = request.session.get(PENDING_KEY)
    if not isinstance(value, dict):
        return {}
    now = time.time()
    return {
        state: entry
        for state, entry in value.items()
        if isinstance(entry, dict)
        and isinstance(entry.get("at"), int | float)
        and now - entry["at"] < PENDING_SECONDS
    }


def _take_pending(request: HttpRequest, brand: Brand, state: str) -> Pending | None:
    """The sign-in ``state`` names, removed from the session whatever it was (one use)."""
    if PENDING_KEY not in request.session:
        return None  # nothing started here: no session is made for a stranger's callback
    entries = _pending(request)
    entry = entries.pop(state, None)
    request.session[PENDING_KEY] = entries
    if entry is None or entry.get("brand") != brand.pk:
        return None
    nonce, verifier = entry.get("nonce"), entry.get("verifier")
    if not isinstance(nonce, str) or not isinstance(verifier, str):
        return None
    return Pending(state=state, nonce=nonce, code_verifier=verifier)


def _partner_actor(request: HttpRequest, brand: Brand, partner: Partner) -> Actor:
    return Actor.for_partner_session(
        brand_id=brand.pk,
        brand_slug=brand.slug,
        partner_id=partner.pk,
        email=partner.email,
        request=request,
    )


def _complete(request: HttpRequest, brand: Brand, partner: Partner, email: str) -> HttpResponse:
    try:
        partner = sign_in_oidc_record(
            actor=_partner_actor(request, brand, partner),
            brand=brand,
            partner_pk=partner.pk,
            email=email,
        )
    except AuthenticationError:
        return _refused(request, brand, brand_sign_in_provider(brand), "expired")
    sign_in(request, brand, partner)
    return HttpResponseRedirect(after_sign_in_url(request, brand))


@never_cache
@require_POST
def start(request: HttpRequest, brand: str) -> HttpResponse:
    brand_row = brand_for_slug(brand)
    provider = brand_sign_in_provider(brand_row) if brand_row is not None else None
    if brand_row is None or provider is None:
        return not_found(request, brand_row)
    seconds = auth_throttle.retry_after(request, auth_throttle.LOGIN)
    if seconds is not None:
        return _rate_limited(request, brand_row, seconds)
    ip = request_client_ip(request) or "unknown"
    usage = count_request(
        request, group="portal_oidc_ip", key=ip, rate=settings.TRCKER_PORTAL_LINKS_PER_IP
    )
    if usage is not None and usage.limited:
        return _rate_limited(request, brand_row, usage.reset_seconds)
    try:
        found = endpoints(provider)
    except OidcRefused as refused:
        logger.warning(
            "partner OIDC sign-in of brand %s: %s (%s)", brand_row.slug, refused.code, refused
        )
        return _refused(request, brand_row, provider, "provider")
    pending = new_pending()
    entries = _pending(request)
    entries[pending.state] = {
        "brand": brand_row.pk,
        "nonce": pending.nonce,
        "verifier": pending.code_verifier,
        "at": int(time.time()),
    }
    newest = sorted(entries.items(), key=lambda item: item[1]["at"])[-MAX_PENDING:]
    request.session[PENDING_KEY] = dict(newest)
    return HttpResponseRedirect(
        authorization_url(provider, found, pending, redirect_uri(brand_row))
    )


def _one(request: HttpRequest, name: str) -> str | None:
    values = request.GET.getlist(name)
    return values[0] if len(values) == 1 else None


@never_cache
@require_http_methods(["GET"])  # not HEAD: answering spends the state, so a probe must not
def callback(request: HttpRequest, brand: str) -> HttpResponse:
    brand_row = brand_for_slug(brand)
    if brand_row is None:
        return not_found(request)
    seconds = auth_throttle.retry_after(request, auth_throttle.LOGIN)
    if seconds is not None:
        return _rate_limited(request, brand_row, seconds)
    provider = brand_sign_in_provider(brand_row)
    state = _one(request, "state")
    if state is None or not STATE_PATTERN.match(state):
        return _refused(request, brand_row, provider, "expired")
    pending = _take_pending(request, brand_row, state)
    if pending is None or provider is None:
        return _refused(request, brand_row, provider, "expired")
    if "error" in request.GET:
        return _refused(request, brand_row, provider, "cancelled")
    code = _one(request, "code")
    if code is None or not CODE_PATTERN.match(code):
        return _refused(request, brand_row, provider, "expired")
    try:
        identity = finish(provider, pending, code, redirect_uri(brand_row))
    except OidcRefused as refused:
        logger.warning(
            "partner OIDC sign-in of brand %s refused: %s (%s)",
            brand_row.slug,
            refused.code,
            refused,
        )
        kind = "unverified" if refused.code == "email_not_verified" else "provider"
        if refused.code in ("nonce_mismatch", "id_token_invalid", "token_refused"):
            kind = "expired"
        return _refused(request, brand_row, provider, kind)
    partners = sign_in_partner_list(brand=brand_row, email=identity.email)
    if not partners:
        logger.info("partner OIDC sign-in of brand %s: the address names no partner", brand)
        return _refused(request, brand_row, provider, "refused")
    if len(partners) == 1:
        return _complete(request, brand_row, partners[0], identity.email)
    request.session[CHOICE_KEY] = {
        "brand": brand_row.pk,
        "email": identity.email,
        "partners": [partner.pk for partner in partners],
        "at": int(time.time()),
    }
    return render(
        request, "partner_portal/oidc_choose.html", {"brand": brand_row, "partners": partners}
    )


@never_cache
@require_POST
def choose(request: HttpRequest, brand: str) -> HttpResponse:
    brand_row = brand_for_slug(brand)
    if brand_row is None:
        return not_found(request)
    choice = request.session.pop(CHOICE_KEY, None)
    wanted = request.POST.get("partner", "")
    valid = (
        isinstance(choice, dict)
        and choice.get("brand") == brand_row.pk
        and isinstance(choice.get("email"), str)
        and isinstance(choice.get("partners"), list)
        and isinstance(choice.get("at"), int)
        and time.time() - choice["at"] < PENDING_SECONDS
        and wanted.isdigit()
        and len(wanted) < 20
        and int(wanted) in choice["partners"]
    )
    if not valid:
        return _refused(request, brand_row, brand_sign_in_provider(brand_row), "expired")
    assert isinstance(choice, dict)
    partner = next(
        (
            row
            for row in sign_in_partner_list(brand=brand_row, email=choice["email"])
            if row.pk == int(wanted)
        ),
        None,
    )
    if partner is None:
        return _refused(request, brand_row, brand_sign_in_provider(brand_row), "expired")
    return _complete(request, brand_row, partner, choice["email"])
