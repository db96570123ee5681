"""OAuth "add MCP server by URL" for partners (docs/oauth.md, "Partners").

The authorization endpoint serves two kinds of people. Staff signed in to the admin get the
brand consent page (``oauth_consent.ConsentView``), as before. Someone not signed in as staff
but signed in to one or more partner portals in this browser gets the partner consent page:
which client asks, for which of their partner accounts ("<partner> at <brand>"), read or read
and write.
Approving binds the code, and every token from it, to that partner: the scope
``partner:<brand>:<partner id>`` and the partner's own grant user (``partner_grants.py``) —
chosen here, from the portal session, never from what the client asked for.

Nobody signed in: the staff login page, which offers "I'm a partner" (``partner_start``): the
partner names the brand, the pending authorization request is kept in the session for that
brand's portal sign-in, and the emailed link brings them back to it (only a path on this
site's authorization endpoint is ever kept: ``partner_portal.access.safe_after_sign_in``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.forms import AllowForm
from oauth2_provider.models import get_application_model
from oauth2_provider.views import AuthorizationView
from oauthlib.oauth2.rfc6749 import errors as oauth_errors

from audit.actor import Actor
from core.edge_text import is_slug
from mcp_gateway.oauth import READ_SCOPE, WRITE_SCOPE
from mcp_gateway.oauth_consent import ConsentView
from mcp_gateway.partner_grants import (
    partner_oauth_consent_record,
    partner_oauth_user,
    partner_scope,
)
from partner_portal.access import (
    brand_for_slug,
    remember_after_sign_in,
    safe_after_sign_in,
    session_partner,
    signed_in_partners,
)
from partners.models import Partner, PartnerStatus

# What a partner consent ignores of the request: ``prompt`` (login/create would send the
# partner to the staff login or sign them out) and ``approval_prompt`` (auto-approval looks
# up a signed-in user's earlier tokens; a partner always sees the consent page).
IGNORED_PARAMETERS = ("prompt", "approval_prompt")


class PartnerConsentForm(AllowForm):
    partner = forms.ChoiceField(label="Partner account")
    access = forms.ChoiceField(
        label="Access",
        choices=[("read", "Read only"), ("read_write", "Read and write")],
        initial="read",
    )

    def __init__(
        self, *args: Any, partner_choices: list[tuple[str, str]], write_offered: bool, **kw: Any
    ) -> None:
        super().__init__(*args, **kw)
        self.fields["partner"].choices = partner_choices
        if not write_offered:
            self.fields["access"].choices = [("read", "Read only")]


class AuthorizeView(ConsentView):
    """/oauth/authorize/: the staff consent, or the partner consent for a browser signed in
    to partner portals and not to the admin."""

    partner_template_name = "oauth/partner_consent.html"
    partners: list[Partner]

    @property
    def partner_mode(self) -> bool:
        return bool(getattr(self, "partners", None))

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        self.partners = []
        if not request.user.is_authenticated:
            self.partners = signed_in_partners(request)
        if not self.partner_mode:
            return super().dispatch(request, *args, **kwargs)
        self.oauth2_data: dict[str, Any] = {}
        if any(name in request.GET for name in IGNORED_PARAMETERS):
            query = request.GET.copy()
            for name in IGNORED_PARAMETERS:
                query.pop(name, None)
            query._mutable = False
            request.GET = query  # type: ignore[assignment]  # a copy, read-only again
        # Past LoginRequiredMixin (BaseAuthorizationView's next dispatch): the portal session
        # is the sign-in here.
        return View.dispatch(self, request, *args, **kwargs)

    def create_authorization_response(
        self, request: HttpRequest, scopes: str, credentials: dict[str, Any], allow: bool
    ) -> Any:
        if self.partner_mode and not request.user.is_authenticated:
            # Only form_valid issues a partner's code (with their grant user). The library's
            # other path, an application marked skip_authorization, has no one to bind to.
            raise OAuthToolkitError(
                error=oauth_errors.AccessDeniedError(state=credentials.get("state")),
                redirect_uri=credentials.get("redirect_uri"),
            )
        return super().create_authorization_response(request, scopes, credentials, allow)

    def get_template_names(self) -> list[str]:
        return [self.partner_template_name] if self.partner_mode else super().get_template_names()

    def get_form_class(self) -> Any:
        return PartnerConsentForm if self.partner_mode else super().get_form_class()

    def _requested_scopes(self, kwargs: dict[str, Any]) -> set[str]:
        if self.request.method == "POST":
            return set(str(self.request.POST.get("scope", "")).split())
        return set(str(kwargs.get("initial", {}).get("scope", "") or "").split())

    def get_form_kwargs(self) -> dict[str, Any]:
        if not self.partner_mode:
            return super().get_form_kwargs()
        kwargs = super(ConsentView, self).get_form_kwargs()
        kwargs["partner_choices"] = [
            (partner.brand.slug, f"{partner.name} at {partner.brand.name}")
            for partner in self.partners
        ]
        kwargs["write_offered"] = WRITE_SCOPE in self._requested_scopes(kwargs)
        return kwargs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        if not self.partner_mode:
            return super().get_context_data(**kwargs)
        context = super(ConsentView, self).get_context_data(**kwargs)
        redirect_uri = context.get("redirect_uri") or ""
        context["redirect_host"] = redirect_uri.split("://", 1)[-1].split("/", 1)[0]
        if "application" not in context and not context.get("error"):
            # A form answered again (a refused choice): the client, as the GET showed it.
            client_id = str(self.request.POST.get("client_id", ""))[:255]
            context["application"] = (
                get_application_model().objects.filter(client_id=client_id).first()
            )
        application = context.get("application")
        context["client_label"] = (
            (application.name or application.client_id) if application else "An application"
        )
        context["partners"] = self.partners
        context["single"] = self.partners[0] if len(self.partners) == 1 else None
        context["write_asked"] = WRITE_SCOPE in set(context.get("scopes") or [])
        return context

    def form_valid(self, form: Any) -> HttpResponse:
        if not self.partner_mode:
            return super().form_valid(form)
        if (refused := self.tampered_request(form)) is not None:
            return refused
        chosen = {partner.brand.slug: partner for partner in self.partners}
        partner = chosen.get(form.cleaned_data["partner"])
        if partner is None:  # the choices already restrict this; a tampered POST lands here
            form.add_error("partner", "You are not signed in as a partner of that brand.")
            return self.form_invalid(form)
        if partner.status != PartnerStatus.ACTIVE:
            form.add_error(
                "partner",
                f"Your partnership with {partner.brand.name} is "
                f"{partner.get_status_display().lower()}: nothing can be connected until it "
                "is active again.",
            )
            return self.form_invalid(form)
        write = form.cleaned_data["access"] == "read_write"
        scopes = [READ_SCOPE, *([WRITE_SCOPE] if write else [])]
        form.cleaned_data["scope"] = " ".join(
            [*scopes, partner_scope(partner.brand.slug, partner.pk)]
        )
        if not form.cleaned_data.get("allow"):
            return AuthorizationView.form_valid(self, form)  # denied: no code, no account
        actor = Actor.for_partner_session(
            brand_id=partner.brand_id,
            brand_slug=partner.brand.slug,
            partner_id=partner.pk,
            email=partner.email,
            request=self.request,
        )
        anonymous = self.request.user
        with transaction.atomic():
            # The library stores the grant on request.user: the partner's grant user, only
            # for this call (nothing signs the browser in as it).
            self.request.user = partner_oauth_user(partner)
            try:
                response = AuthorizationView.form_valid(self, form)
            finally:
                self.request.user = anonymous
            if response.status_code == 302 and "code=" in response.get("Location", ""):
                client_id = form.cleaned_data["client_id"]
                application = get_application_model().objects.filter(client_id=client_id).first()
                partner_oauth_consent_record(
                    actor=actor,
                    client_id=client_id,
                    client_name=(application.name if application else "") or client_id,
                    write=write,
                )
        return response


class PartnerStartForm(forms.Form):
    brand = forms.CharField(
        label="Brand",
        max_length=64,
        help_text="The name in your partner portal's address: https://…/p/<brand>/",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True}),
    )
    next = forms.CharField(widget=forms.HiddenInput, max_length=4000)

    def clean_brand(self) -> str:
        value = self.cleaned_data["brand"].strip().strip("/").lower()
        if not is_slug(value) or brand_for_slug(value) is None:
            raise forms.ValidationError("No partner portal has that name.", code="unknown_brand")
        return value

    def clean_next(self) -> str:
        value = safe_after_sign_in(self.cleaned_data["next"])
        if value is None:
            raise forms.ValidationError(
                "This page continues an authorization request; start again from your app.",
                code="invalid_next",
            )
        return value


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def partner_start(request: HttpRequest) -> HttpResponse:
    """/oauth/partner/: "I'm a partner of <brand>" — on to that brand's portal sign-in, and
    back to the authorization request afterwards."""
    if request.method != "POST":
        next_value = safe_after_sign_in(request.GET.get("next", ""))
        if next_value is None:
            return render(request, "oauth/partner_start.html", {"invalid_next": True}, status=400)
        form = PartnerStartForm(initial={"next": next_value})
        return render(request, "oauth/partner_start.html", {"form": form})
    form = PartnerStartForm(request.POST)
    if not form.is_valid():
        return render(request, "oauth/partner_start.html", {"form": form}, status=400)
    brand = brand_for_slug(form.cleaned_data["brand"])
    assert brand is not None  # clean_brand checked it
    if session_partner(request, brand) is not None:
        return HttpResponseRedirect(form.cleaned_data["next"])
    remember_after_sign_in(request, brand, form.cleaned_data["next"])
    return HttpResponseRedirect(reverse("portal-login", args=[brand.slug]))
