"""Admin for partners, coupons and the brand's partner sign-in provider (its client secret is
typed into a password field, stored encrypted and never shown again). Every write is a
partners service call; statuses change only through the actions (approve, reject, pause,
resume; disable, enable)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from backoffice.admin_base import (
    BrandScopedAdmin,
    ServiceModelForm,
    admin_actor,
    brand_list_filter,
    related_filter,
    service_action,
)
from backoffice.admin_columns import related_slug, when
from backoffice.admin_keys import IssuedKeyAdmin, KeyStateFilter
from partners.api_keys import partner_api_key_create, partner_api_key_revoke
from partners.invitations import invitation_resend, invitation_revoke, partner_invite
from partners.models import (
    Coupon,
    Partner,
    PartnerApiKey,
    PartnerApiKeyScope,
    PartnerInvitation,
    PartnerSignInProvider,
    PartnerStatus,
)
from partners.oidc_config import redirect_uri, sign_in_provider_remove, sign_in_provider_set
from partners.services import (
    PARTNER_UPDATABLE_FIELDS,
    coupon_create,
    coupon_disable,
    coupon_enable,
    partner_approve,
    partner_create,
    partner_pause,
    partner_reject,
    partner_resume,
    partner_update,
)


class PartnerAddForm(ServiceModelForm):
    error_fields = {"partner_id": "slug", "partner_id_taken": "slug", "status": "initial_status"}
    # Only the starting point of a new partner; later changes are the status actions.
    initial_status = forms.ChoiceField(
        label="Start as",
        choices=[
            (PartnerStatus.ACTIVE.value, "Active (approved now)"),
            (PartnerStatus.PENDING.value, "Pending application (approve or reject later)"),
        ],
        initial=PartnerStatus.ACTIVE.value,
    )

    class Meta(ServiceModelForm.Meta):
        model = Partner
        fields = ("brand", "slug", "name", "email", "website")
        help_texts = {
            "slug": "The partner_id used in tracking links; derived from the name when empty."
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "slug" in self.fields:
            self.fields["slug"].required = False


class PartnerChangeForm(ServiceModelForm):
    class Meta(ServiceModelForm.Meta):
        model = Partner
        fields = PARTNER_UPDATABLE_FIELDS


@admin.register(Partner)
class PartnerAdmin(BrandScopedAdmin):
    admin_add = True
    admin_change = True
    form = PartnerChangeForm
    add_form = PartnerAddForm
    list_display = ("slug", "name", related_slug("brand"), "status", "email", "created_at")
    list_select_related = ("brand",)
    list_filter = ("status", brand_list_filter())
    search_fields = ("slug", "name", "email")
    ordering = ("-created_at", "-id")
    actions = ("approve_partners", "reject_partners", "pause_partners", "resume_partners")
    add_fieldsets = (
        (None, {"fields": ("brand", "slug", "name", "email", "website", "initial_status")}),
    )
    fieldsets = (
        (None, {"fields": ("brand", "slug", "status", "name", "email", "website")}),
        ("Postbacks", {"fields": ("postback_url_template",)}),
        ("History", {"fields": ("applied_at", "approved_at", "created_at", "updated_at")}),
    )
    readonly_fields = (
        "brand",
        "slug",
        "status",
        "applied_at",
        "approved_at",
        "created_at",
        "updated_at",
    )

    def perform_write(
        self, request: HttpRequest, form: ServiceModelForm, obj: Partner | None
    ) -> Partner:
        data = form.cleaned_data
        if obj is None:
            return partner_create(
                actor=admin_actor(request, data["brand"]),
                partner_id=data["slug"] or None,
                name=data["name"],
                email=data["email"],
                website=data["website"],
                status=data["initial_status"],
            )
        fields = {
            name: data[name] for name in PARTNER_UPDATABLE_FIELDS if name in form.changed_data
        }
        if not fields:
            return obj
        return partner_update(actor=self.actor_for(request, obj), partner=obj, **fields)

    approve_partners = service_action(
        partner_approve,
        target="partner",
        description="Approve selected applications",
        done="Approved {count} partner(s).",
    )

    reject_partners = service_action(
        partner_reject,
        target="partner",
        description="Reject selected applications",
        done="Rejected {count} partner(s).",
    )

    pause_partners = service_action(
        partner_pause,
        target="partner",
        description="Pause selected partners",
        done="Paused {count} partner(s).",
    )

    resume_partners = service_action(
        partner_resume,
        target="partner",
        description="Resume selected partners",
        done="Resumed {count} partner(s).",
    )


class CouponAddForm(ServiceModelForm):
    error_fields = {"coupon_code_taken": "code"}

    class Meta(ServiceModelForm.Meta):
        model = Coupon
        fields = ("partner", "offer", "code", "max_uses")
        help_texts = {
            "code": "Letters, digits, hyphens and underscores; unique in the brand, ignoring case.",
            "offer": "Leave empty for a coupon valid on every offer.",
            "max_uses": "Leave empty for unlimited uses.",
        }

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # what ModelForm.clean returns
        partner, offer = data.get("partner"), data.get("offer")
        if partner and offer and partner.brand_id != offer.brand_id:
            self.add_error("offer", "This offer is not in the partner's brand.")
        return data


@admin.register(Coupon)
class CouponAdmin(BrandScopedAdmin):
    """Coupons are issued here and switched on and off by action. There is no update service
    (max_uses, offer) yet, so an existing coupon's page is view-only."""

    admin_add = True
    add_form = CouponAddForm
    list_display = (
        "code",
        related_slug("brand"),
        related_slug("partner"),
        related_slug("offer"),
        "status",
        "used_count",
        "max_uses",
        "created_at",
    )
    list_select_related = ("brand", "partner", "offer")
    list_filter = ("status", brand_list_filter(), related_filter("partner"))
    search_fields = ("code", "partner__slug", "offer__slug")
    ordering = ("-created_at", "-id")
    actions = ("disable_coupons", "enable_coupons")
    add_fieldsets = ((None, {"fields": ("partner", "offer", "code", "max_uses")}),)
    fields = (
        "code",
        "brand",
        "partner",
        "offer",
        "status",
        "used_count",
        "max_uses",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    def perform_write(
        self, request: HttpRequest, form: ServiceModelForm, obj: Coupon | None
    ) -> Coupon:
        data = form.cleaned_data
        partner = data["partner"]
        return coupon_create(
            actor=admin_actor(request, partner.brand),
            partner=partner,
            offer=data["offer"],
            code=data["code"],
            max_uses=data["max_uses"],
        )

    disable_coupons = service_action(
        coupon_disable,
        target="coupon",
        description="Disable selected coupons",
        done="Disabled {count} coupon(s).",
    )

    enable_coupons = service_action(
        coupon_enable,
        target="coupon",
        description="Enable selected coupons",
        done="Enabled {count} coupon(s).",
    )


class PartnerApiKeyAddForm(ServiceModelForm):
    class Meta(ServiceModelForm.Meta):
        model = PartnerApiKey
        fields = ("partner", "label", "scope")
        help_texts = {
            "scope": "Read: the partner's own numbers. Read and write: also their profile.",
        }


@admin.register(PartnerApiKey)
class PartnerApiKeyAdmin(IssuedKeyAdmin):
    """Partner-scoped keys (docs/partners.md), issued here for one partner."""

    key_prefix = "trkp_"
    owner_fields = ("partner", "brand")
    add_form = PartnerApiKeyAddForm
    add_fieldsets = ((None, {"fields": ("partner", "label", "scope")}),)
    list_select_related = ("brand", "partner")
    list_filter = ("scope", KeyStateFilter, brand_list_filter(), related_filter("partner"))
    search_fields = ("prefix", "label", "partner__slug")
    actions = ("revoke_partner_keys",)

    def perform_write(
        self, request: HttpRequest, form: ServiceModelForm, obj: PartnerApiKey | None
    ) -> PartnerApiKey:
        data = form.cleaned_data
        partner = data["partner"]
        key, plaintext = partner_api_key_create(
            actor=admin_actor(request, partner.brand),
            partner=partner,
            label=data["label"],
            write=data["scope"] == PartnerApiKeyScope.READ_WRITE,
        )
        self.show_once(
            request,
            f"New partner API key for {partner.slug}",
            plaintext,
            " and give it to the partner",
        )
        return key

    revoke_partner_keys = service_action(
        partner_api_key_revoke,
        target="api_key",
        select_related=("partner",),
        description="Revoke selected partner API keys",
        done="Revoked {count} partner API key(s).",
    )


class PartnerInvitationAddForm(ServiceModelForm):
    error_fields = {"partner_email_taken": "email"}

    class Meta(ServiceModelForm.Meta):
        model = PartnerInvitation
        fields = ("brand", "email", "name")
        help_texts = {"name": "Used in the email's greeting; optional."}


@admin.register(PartnerInvitation)
class PartnerInvitationAdmin(BrandScopedAdmin):
    """Invitations by email (docs/partners.md): sent from here (partners.invitations), never
    edited; the link exists only in the email. Resent (a new link, the old one dead) and
    revoked by the actions, through the same services as REST and MCP."""

    admin_add = True
    add_form = PartnerInvitationAddForm
    list_display = (
        "email",
        "name",
        related_slug("brand"),
        "state",
        "invited_by",
        "created_at",
        "expires_at",
        "sent_count",
    )
    list_select_related = ("brand",)
    list_filter = (brand_list_filter(),)
    search_fields = ("email", "name", "invitation_id")
    ordering = ("-created_at", "-id")
    add_fieldsets = ((None, {"fields": ("brand", "email", "name")}),)
    fields = (
        "invitation_id",
        "email",
        "name",
        "brand",
        "state",
        "invited_by",
        "created_at",
        "last_sent_at",
        "sent_count",
        "expires_at",
        "accepted_at",
        "revoked_at",
    )
    readonly_fields = fields
    exclude = ("selector", "verifier_sha256")
    actions = ("resend_invitations", "revoke_invitations")
    resend_invitations = service_action(
        invitation_resend,
        target="invitation",
        description="Resend selected invitations (a new link; the old one stops working)",
        done="Resent {count} invitation(s).",
    )
    revoke_invitations = service_action(
        invitation_revoke,
        target="invitation",
        description="Revoke selected invitations",
        done="Revoked {count} invitation(s).",
    )

    @admin.display(description="status")
    def state(self, invitation: PartnerInvitation) -> str:
        return invitation.status

    def perform_write(
        self, request: HttpRequest, form: ServiceModelForm, obj: PartnerInvitation | None
    ) -> PartnerInvitation:
        data = form.cleaned_data
        invitation = partner_invite(
            actor=admin_actor(request, data["brand"]), email=data["email"], name=data["name"]
        )
        messages.success(request, f"Invitation sent to {invitation.email}.")
        return invitation


class _ProviderFields(ServiceModelForm):
    new_client_secret = forms.CharField(
        required=False,
        strip=True,
        max_length=512,
        widget=forms.PasswordInput(render_value=False),
        label="Client secret",
        help_text="The client secret the provider gave Trcker. Stored encrypted; never shown "
        "again. Leave empty to keep the current one.",
    )
    error_fields = {"client_secret": "new_client_secret"}


class ProviderAddForm(_ProviderFields):
    class Meta(ServiceModelForm.Meta):
        model = PartnerSignInProvider
        fields = ("brand", "display_name", "issuer", "client_id")


class ProviderChangeForm(_ProviderFields):
    class Meta(ServiceModelForm.Meta):
        model = PartnerSignInProvider
        fields = ("display_name", "issuer", "client_id")


@admin.register(PartnerSignInProvider)
class PartnerSignInProviderAdmin(BrandScopedAdmin):
    """One row per brand: the provider partners may sign in with besides the emailed link."""

    admin_add = True
    admin_change = True
    admin_delete = True
    add_form = ProviderAddForm
    form = ProviderChangeForm
    list_display = (
        "display_name",
        related_slug("brand"),
        "issuer",
        "client_id",
        when("secret_set_at", description="secret set"),
    )
    list_select_related = ("brand",)
    list_filter = (brand_list_filter(),)
    add_fieldsets = (
        (None, {"fields": ("brand", "display_name", "issuer", "client_id", "new_client_secret")}),
    )
    fieldsets = (
        (None, {"fields": ("brand", "callback_url", "secret_set_at")}),
        ("Change", {"fields": ("display_name", "issuer", "client_id", "new_client_secret")}),
    )
    readonly_fields = ("brand", "callback_url", "secret_set_at")

    @admin.display(description="redirect URI to register with the provider")
    def callback_url(self, obj: PartnerSignInProvider) -> str:
        return redirect_uri(obj.brand)

    def perform_write(
        self, request: HttpRequest, form: ServiceModelForm, obj: PartnerSignInProvider | None
    ) -> PartnerSignInProvider:
        data: dict[str, Any] = form.cleaned_data
        brand = obj.brand if obj is not None else data["brand"]
        sign_in_provider_set(
            actor=admin_actor(request, brand),
            display_name=data.get("display_name"),
            issuer=data.get("issuer"),
            client_id=data.get("client_id"),
            client_secret=data.get("new_client_secret") or None,
        )
        return PartnerSignInProvider.objects.get(brand=brand)

    def perform_delete(self, request: HttpRequest, obj: PartnerSignInProvider) -> None:
        sign_in_provider_remove(actor=admin_actor(request, obj.brand))
