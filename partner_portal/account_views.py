"""The partner's own account in the portal (docs/partners.md): their profile, payout details and
postback URL (``/p/<brand>/profile/``) and their API keys (``/p/<brand>/keys/``).

Every write goes through the partner-side services with the portal's partner actor
(``partner:<id>`` on the portal channel): ``partner_profile_update``,
``partner_payout_details_update``, ``partner_api_key_create`` / ``_revoke``; each is
CSRF-protected (POST), audited by the service, and answers the page again with the service's
message beside the field it concerns. The keys page also lists the apps the partner authorized
over OAuth ("add MCP server by URL", ``mcp_gateway.partner_grants``) and disconnects them.
A new key's plaintext is shown once, in the answer to the POST that made it (never cached,
never stored), and never again.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from brands.fx import payout_currency_choices
from core.errors import DomainError, NotFoundError
from mcp_gateway.oauth import mcp_resource_url
from mcp_gateway.partner_grants import partner_oauth_app_revoke, partner_oauth_apps
from partner_portal.access import Portal, portal_page
from partners.api_keys import (
    partner_api_key_create,
    partner_api_key_get_for_actor,
    partner_api_key_list,
    partner_api_key_revoke,
)
from partners.self_service import (
    PAYOUT_DETAILS_MAX,
    partner_payout_details_update,
    partner_profile_update,
    partner_self,
    payout_details_hint,
)

GET_POST = require_http_methods(["GET", "HEAD", "POST"])
POST = require_http_methods(["POST"])


class ProfileForm(forms.Form):
    name = forms.CharField(max_length=200, label="Name")
    website = forms.URLField(max_length=500, required=False, assume_scheme="https")
    postback_url_template = forms.URLField(
        max_length=2048,
        required=False,
        assume_scheme="https",
        label="Postback URL",
        help_text="Called for each of your conversions; placeholders such as {CLICK_ID}, "
        "{PAYOUT}, {SUB1} are filled in. Empty: none.",
    )


class PayoutForm(forms.Form):
    """How the partner is paid: a method and its details when the brand lists methods, and the
    currency, from ``brands.fx.payout_currency_choices`` (the brand's currency and those it
    has rates for). A currency saved before that is no longer listed stays choosable, so the
    form can be saved without changing it; the service refuses any other."""

    def __init__(
        self, *args: Any, methods: list[str], currencies: list[str], current: str, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if methods:
            self.fields["payout_method"] = forms.ChoiceField(
                label="Payout method",
                choices=[("", "Choose…"), *((method, method) for method in methods)],
                required=False,
            )
            self.fields["payout_details"] = forms.CharField(
                label="Payout details",
                max_length=PAYOUT_DETAILS_MAX,
                required=False,
                widget=forms.Textarea(attrs={"rows": 3}),
                help_text="What the method needs (an account, an address). Kept encrypted; "
                "shown back only as its last four characters. Leave empty to keep what is "
                "saved.",
            )
        codes = sorted({*currencies, current} - {""})
        self.fields["payout_currency"] = forms.ChoiceField(
            label="Paid in",
            choices=[("", "Each payout's own currency"), *((code, code) for code in codes)],
            required=False,
            help_text="Each payout is also stated in this currency, at the rate of the day it "
            "is made.",
        )


def _place_error(form: forms.Form, exc: DomainError) -> None:
    placed = False
    for name, messages in (exc.fields or {}).items():
        if name in form.fields:
            form.add_error(name, list(messages))
            placed = True
    if not placed:
        form.add_error(None, exc.message)


@portal_page
@GET_POST
def profile(request: HttpRequest, portal: Portal) -> HttpResponse:
    partner = partner_self(actor=portal.actor)
    methods = list(partner.brand.payout_methods)
    payout_choices: dict[str, Any] = {
        "methods": methods,
        "currencies": payout_currency_choices(brand=partner.brand),
        "current": partner.payout_currency,
    }
    profile_form = ProfileForm(
        initial={
            "name": partner.name,
            "website": partner.website,
            "postback_url_template": partner.postback_url_template,
        }
    )
    payout_form = PayoutForm(
        initial={
            "payout_method": partner.payout_method,
            "payout_currency": partner.payout_currency,
        },
        **payout_choices,
    )
    saved = request.GET.get("saved", "")
    if request.method == "POST":
        which = request.POST.get("form", "")
        if which == "profile":
            profile_form = ProfileForm(request.POST)
            if profile_form.is_valid():
                try:
                    partner_profile_update(actor=portal.actor, **profile_form.cleaned_data)
                except DomainError as exc:
                    _place_error(profile_form, exc)
                else:
                    return _saved(portal, "profile")
        elif which == "payout":
            payout_form = PayoutForm(request.POST, **payout_choices)
            if payout_form.is_valid():
                data = payout_form.cleaned_data
                try:
                    partner_payout_details_update(
                        actor=portal.actor,
                        payout_method=data["payout_method"] if methods else None,
                        # Empty keeps what is saved: the form never shows the details back.
                        payout_details=(data["payout_details"] or None) if methods else None,
                        payout_currency=data["payout_currency"],
                    )
                except DomainError as exc:
                    _place_error(payout_form, exc)
                else:
                    return _saved(portal, "payout")
    return render(
        request,
        "partner_portal/profile.html",
        portal.context(
            page="profile",
            profile_form=profile_form,
            payout_form=payout_form,
            payout_methods=methods,
            details_hint=payout_details_hint(partner),
            saved=saved if saved in ("profile", "payout") else "",
        ),
    )


def _saved(portal: Portal, which: str) -> HttpResponse:
    # Post/redirect/get: a reload does not send the form again.
    url = reverse("portal-profile", args=[portal.brand.slug])
    return HttpResponseRedirect(f"{url}?saved={which}")


class KeyForm(forms.Form):
    name = forms.CharField(
        max_length=100, required=False, label="Name", help_text="What the key is for."
    )
    write = forms.BooleanField(
        required=False,
        label="Write access",
        help_text="Also lets the key change your profile, postback URL and payout details. "
        "Leave unticked for a read-only key.",
    )


@portal_page
@GET_POST
def keys(request: HttpRequest, portal: Portal) -> HttpResponse:
    form = KeyForm()
    created = None
    if request.method == "POST":
        form = KeyForm(request.POST)
        if form.is_valid():
            try:
                key, plaintext = partner_api_key_create(
                    actor=portal.actor,
                    partner=portal.partner,
                    label=form.cleaned_data["name"],
                    write=form.cleaned_data["write"],
                )
            except DomainError as exc:
                _place_error(form, exc)
            else:
                created = {"key": key, "plaintext": plaintext}
                form = KeyForm()
    rows = list(partner_api_key_list(actor=portal.actor, partner=portal.partner)[:100])
    response = render(
        request,
        "partner_portal/keys.html",
        portal.context(
            page="keys",
            form=form,
            rows=rows,
            created=created,
            apps=partner_oauth_apps(actor=portal.actor),
            mcp_url=mcp_resource_url(),
        ),
    )
    response["Cache-Control"] = "no-store"
    return response


@portal_page
@POST
def key_revoke(request: HttpRequest, portal: Portal, key_id: str) -> HttpResponse:
    key = partner_api_key_get_for_actor(
        actor=portal.actor, partner=portal.partner, key_id=key_id[:16]
    )
    partner_api_key_revoke(actor=portal.actor, api_key=key)
    return HttpResponseRedirect(reverse("portal-keys", args=[portal.brand.slug]) + "?revoked=1")


@portal_page
@POST
def app_revoke(request: HttpRequest, portal: Portal, app_id: str) -> HttpResponse:
    """Disconnect an app the partner authorized over OAuth: its tokens stop working at once.
    Another partner's app, or anything but a known id, is the portal's not-found page."""
    if not app_id.isascii() or not app_id.isdigit() or len(app_id) > 18:
        raise NotFoundError("authorized app", app_id[:32])
    partner_oauth_app_revoke(actor=portal.actor, application_id=int(app_id))
    return HttpResponseRedirect(
        reverse("portal-keys", args=[portal.brand.slug]) + "?disconnected=1"
    )
