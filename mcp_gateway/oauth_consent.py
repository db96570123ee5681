"""The brand consent page of the built-in authorization server: which client asks, for which
brand (one of the signed-in staff member's), with which access; and the check, shared with the
partner consent (``partner_oauth``), that the form's hidden fields still describe the request
the page showed."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpResponse, HttpResponseBadRequest
from oauth2_provider.forms import AllowForm
from oauth2_provider.models import get_application_model
from oauth2_provider.oauth2_validators import is_valid_resource_uri
from oauth2_provider.views import AuthorizationView

from brands.models import WRITE_ROLES, Brand
from brands.selectors import staff_roles_for_user
from mcp_gateway.oauth import BRAND_SCOPE_PREFIX, READ_SCOPE, WRITE_SCOPE


class ConsentForm(AllowForm):
    brand = forms.ChoiceField(label="Brand")
    access = forms.ChoiceField(
        label="Access",
        choices=[("read", "Read only"), ("read_write", "Read and write")],
        initial="read",
    )

    def __init__(
        self, *args: Any, brand_choices: list[tuple[str, str]], write_allowed: bool, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["brand"].choices = brand_choices
        if not write_allowed:
            self.fields["access"].choices = [("read", "Read only")]


class ConsentView(AuthorizationView):
    """The consent page: which client asks, for which brand (one of the user's), with which
    access. The chosen brand becomes a brand:<slug> scope on the grant and every token."""

    template_name = "oauth/consent.html"
    form_class = ConsentForm

    def _brand_roles(self) -> dict[str, str]:
        roles = staff_roles_for_user(self.request.user)
        return {
            brand.slug: roles[brand.pk]
            for brand in Brand.objects.filter(pk__in=roles).order_by("name")
        }

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        roles = self._brand_roles()
        names = dict(Brand.objects.filter(slug__in=roles).values_list("slug", "name"))
        requested = set(str(kwargs.get("initial", {}).get("scope", "") or "").split())
        if self.request.method == "POST":
            requested = set(str(self.request.POST.get("scope", "")).split())
        kwargs["brand_choices"] = [(slug, f"{names[slug]} ({slug})") for slug in roles]
        kwargs["write_allowed"] = WRITE_SCOPE in requested and any(
            role in WRITE_ROLES for role in roles.values()
        )
        return kwargs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        redirect_uri = context.get("redirect_uri") or ""
        context["redirect_host"] = redirect_uri.split("://", 1)[-1].split("/", 1)[0]
        context["has_brands"] = bool(self._brand_roles())
        return context

    def tampered_request(self, form: Any) -> HttpResponse | None:
        """A 400 when the consent form's hidden fields no longer describe a request the GET
        could have shown: the library trusts them on POST, so a changed client_id raised a
        500, a changed redirect_uri received the denial (an open redirect) and a malformed
        resource reached the grant row (a 500). Checked before the library sees them."""
        data = form.cleaned_data
        application = (
            get_application_model().objects.filter(client_id=data.get("client_id") or "").first()
        )
        resources = str(data.get("resource") or "").split()
        # An emptied resource field let the library fall back to the query's raw string.
        asked = self.request.GET.getlist("resource")
        if (
            sorted(resources) != sorted(asked)
            or application is None
            or not application.redirect_uri_allowed(data.get("redirect_uri") or "")
            or not all(is_valid_resource_uri(uri) for uri in resources)
        ):
            return HttpResponseBadRequest(
                "This authorization request was changed after it was shown. Start again from "
                "the application that sent you here.",
                content_type="text/plain; charset=utf-8",
            )
        return None

    def form_valid(self, form: ConsentForm) -> HttpResponse:
        if (refused := self.tampered_request(form)) is not None:
            return refused
        roles = self._brand_roles()
        slug = form.cleaned_data["brand"]
        if slug not in roles:  # the choices already restrict this; a tampered POST lands here
            form.add_error("brand", "You are not a member of that brand.")
            return self.form_invalid(form)
        scopes = [READ_SCOPE]
        if form.cleaned_data["access"] == "read_write" and roles[slug] in WRITE_ROLES:
            scopes.append(WRITE_SCOPE)
        scopes.append(f"{BRAND_SCOPE_PREFIX}{slug}")
        form.cleaned_data["scope"] = " ".join(scopes)
        return super().form_valid(form)
