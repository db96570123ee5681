"""Admin for brands, staff memberships, API keys, webhook endpoints and the outbound signing
secret. Every write is a brands.services / brands.webhooks call."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db.models import Q
from django.http import HttpRequest

from audit.actor import Actor, Channel
from backoffice.admin_base import (
    BrandScopedAdmin,
    CommaListField,
    ServiceModelForm,
    admin_actor,
    brand_access,
    brand_list_filter,
    service_action,
)
from backoffice.admin_columns import related_slug
from backoffice.admin_keys import IssuedKeyAdmin, KeyStateFilter
from brands.events import EVENTS
from brands.fx_services import fx_rate_set
from brands.models import ApiKey, Brand, FxRate, FxReferenceRate, StaffMembership
from brands.services import (
    BRAND_SETTINGS_FIELDS,
    FRAUD_SETTINGS_FIELDS,
    PROGRAM_SETTINGS_FIELDS,
    api_key_create,
    api_key_revoke,
    brand_create,
    brand_program_settings_update,
    brand_set_fraud_settings,
    brand_update,
    staff_membership_remove,
    staff_membership_set,
)
from brands.webhook_models import WebhookEndpoint
from brands.webhooks import (
    ENDPOINT_FIELDS,
    signing_secret_rotate,
    webhook_create,
    webhook_delete,
    webhook_update,
)

# Form field → service argument, where the two names differ.
BRAND_ARGS = {"timezone": "timezone_name"}
FRAUD_ARGS = {"fraud_mode": "mode", "fraud_threshold": "threshold", "botd_enabled": "botd_enabled"}


class BrandAddForm(ServiceModelForm):
    error_fields = {"brand_slug_taken": "slug"}

    class Meta(ServiceModelForm.Meta):
        model = Brand
        fields = ("slug", "name", "timezone", "currency")
        help_texts = {
            "timezone": "IANA name, e.g. Europe/Berlin.",
            "currency": "ISO 4217, e.g. EUR.",
        }


class BrandChangeForm(ServiceModelForm):
    error_fields = {"mode": "fraud_mode", "threshold": "fraud_threshold"}
    payout_methods = CommaListField(
        required=False,
        label="Payout methods",
        help_text="The methods partners choose from and payouts are paid by, separated by "
        "commas (paypal, wire, sepa). Empty: any method when paying; partners choose none.",
    )

    class Meta(ServiceModelForm.Meta):
        model = Brand
        fields = (*BRAND_SETTINGS_FIELDS, *FRAUD_SETTINGS_FIELDS, *PROGRAM_SETTINGS_FIELDS)
        help_texts = {
            "timezone": "IANA name; caps and daily stats use it for day, week and month edges.",
            "fraud_threshold": "0–100; review/block modes act on scores at or above it.",
            "min_payout_amount": "No payout is generated below this total (in the payout's "
            "currency); 0 pays any positive total. docs/ledger.md.",
        }


def rotate_signing_secret(*, actor: Actor, brand: Brand) -> tuple[Any, str]:
    """The Brand admin's action: a new outbound signing secret (24 h overlap)."""
    return signing_secret_rotate(actor=actor)


def _show_signing_secrets(request: HttpRequest, results: list[tuple[Any, Any]]) -> None:
    for brand, (_, secret) in results:
        messages.warning(
            request,
            f"New signing secret for {brand.slug}: {secret} — Copy it now; it won't be shown "
            "again. The previous one keeps signing for 24 hours.",
        )


@admin.register(Brand)
class BrandAdmin(BrandScopedAdmin):
    brand_path = "pk"
    admin_add = True
    admin_change = True
    form = BrandChangeForm
    add_form = BrandAddForm
    list_display = (
        "slug",
        "name",
        "currency",
        "timezone",
        "fraud_mode",
        "fraud_threshold",
        "attribution_precedence",
        "created_at",
    )
    list_filter = ("fraud_mode", "attribution_precedence")
    search_fields = ("slug", "name")
    ordering = ("slug",)
    add_fieldsets = ((None, {"fields": ("slug", "name", "timezone", "currency")}),)
    fieldsets = (
        (None, {"fields": ("slug", "name", "timezone", "currency", "attribution_precedence")}),
        ("Partners", {"fields": ("partner_reasons_visible", "payout_methods")}),
        ("Fraud", {"fields": ("fraud_mode", "fraud_threshold", "botd_enabled")}),
        ("Approval", {"fields": ("default_hold_days",)}),
        ("Payouts", {"fields": ("min_payout_amount",)}),
        ("Identity provider", {"fields": ("external_org_id",)}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )
    # external_org_id decides which IdP users and tokens reach this brand: set by an operator
    # with `manage.py set_brand_org`, shown here.
    readonly_fields = ("slug", "external_org_id", "created_at", "updated_at")
    actions = ("rotate_signing_secrets",)
    rotate_signing_secrets = service_action(
        rotate_signing_secret,
        target="brand",
        description="Rotate the outbound signing secret (webhooks, postbacks)",
        done="Rotated the signing secret of {count} brand(s).",
        report=_show_signing_secrets,
    )

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        # A new tenant is an operator decision, not something a brand's staff can do.
        return brand_access(request).is_superuser

    def perform_write(
        self, request: HttpRequest, form: ServiceModelForm, obj: Brand | None
    ) -> Brand:
        data = form.cleaned_data
        if obj is None:
            return brand_create(
                creator_label=f"user:{request.user.pk}",
                channel=Channel.ADMIN,
                slug=data["slug"],
                name=data["name"],
                timezone_name=data["timezone"],
                currency=data["currency"],
            )
        actor = admin_actor(request, obj)
        changed = set(form.changed_data)
        brand = obj
        general = {BRAND_ARGS.get(f, f): data[f] for f in BRAND_SETTINGS_FIELDS if f in changed}
        if general:
            brand = brand_update(actor=actor, **general)
        fraud = {FRAUD_ARGS[f]: data[f] for f in FRAUD_SETTINGS_FIELDS if f in changed}
        if fraud:
            brand = brand_set_fraud_settings(actor=actor, **fraud)
        program = {f: data[f] for f in PROGRAM_SETTINGS_FIELDS if f in changed}
        if program:
            brand = brand_program_settings_update(actor=actor, **program)
        return brand


class MembershipAddForm(ServiceModelForm):
    username = forms.CharField(
        label="User",
        max_length=254,
        help_text="Username or email address of an existing account.",
    )

    class Meta(ServiceModelForm.Meta):
        model = StaffMembership
        fields = ("brand", "role")
        help_texts = {"role": "Owners and admins can change data; analysts can only read."}

    def clean_username(self) -> str:
        # A text box rather than a user picker: a picker would list every tenant's staff.
        value: str = self.cleaned_data["username"].strip()
        users = get_user_model()._default_manager.filter(
            Q(username=value) | Q(email__iexact=value), is_active=True
        )[:2]
        if len(users) != 1:
            raise forms.ValidationError("No single active account has that username or email.")
        self.member = users[0]
        return value


class MembershipChangeForm(ServiceModelForm):
    class Meta(ServiceModelForm.Meta):
        model = StaffMembership
        fields = ("role",)


@admin.register(StaffMembership)
class StaffMembershipAdmin(BrandScopedAdmin):
    admin_add = True
    admin_change = True
    admin_delete = True
    form = MembershipChangeForm
    add_form = MembershipAddForm
    list_display = ("user", related_slug("brand"), "role", "created_at")
    list_select_related = ("user", "brand")
    list_filter = ("role", brand_list_filter())
    search_fields = ("user__username", "user__email", "brand__slug")
    ordering = ("brand__slug", "user__username")
    add_fieldsets = ((None, {"fields": ("brand", "username", "role")}),)
    fields = ("user", "brand", "role", "created_at")
    readonly_fields = ("user", "brand", "created_at")

    def perform_write(
        self, request: HttpRequest, form: ServiceModelForm, obj: StaffMembership | None
    ) -> StaffMembership:
        data = form.cleaned_data
        if obj is None:
            assert isinstance(form, MembershipAddForm)  # add_form
            membership = staff_membership_set(
                actor=admin_actor(request, data["brand"]), user=form.member, role=data["role"]
            )
            if not form.member.is_staff:
                messages.warning(
                    request,
                    f"{form.member.get_username()} is not marked as staff, so cannot sign in to "
                    "the admin until a superuser sets “Staff status” on the account.",
                )
            return membership
        if "role" not in form.changed_data:
            return obj
        return staff_membership_set(
            actor=self.actor_for(request, obj), user=obj.user, role=data["role"]
        )

    def perform_delete(self, request: HttpRequest, obj: StaffMembership) -> None:
        staff_membership_remove(actor=self.actor_for(request, obj), membership=obj)


class ApiKeyAddForm(ServiceModelForm):
    class Meta(ServiceModelForm.Meta):
        model = ApiKey
        fields = ("brand", "label", "scope")


@admin.register(ApiKey)
class ApiKeyAdmin(IssuedKeyAdmin):
    key_prefix = "trk_"
    owner_fields = ("brand",)
    add_form = ApiKeyAddForm
    add_fieldsets = ((None, {"fields": ("brand", "label", "scope")}),)
    list_select_related = ("brand", "created_by")
    list_filter = ("scope", KeyStateFilter, brand_list_filter())
    search_fields = ("prefix", "label")
    actions = ("revoke_keys",)

    def perform_write(
        self, request: HttpRequest, form: ServiceModelForm, obj: ApiKey | None
    ) -> ApiKey:
        data = form.cleaned_data
        assert isinstance(request.user, User)  # the admin serves signed-in staff only
        key, plaintext = api_key_create(
            actor=admin_actor(request, data["brand"]),
            label=data["label"],
            scope=data["scope"],
            created_by=request.user,
        )
        self.show_once(request, f"New API key for {data['brand'].slug}", plaintext)
        return key

    revoke_keys = service_action(
        api_key_revoke,
        target="api_key",
        description="Revoke selected API keys",
        done="Revoked {count} API key(s).",
    )


class FxRateForm(ServiceModelForm):
    class Meta(ServiceModelForm.Meta):
        model = FxRate
        fields = ("brand", "base", "quote", "day", "rate")
        help_texts = {
            "base": "ISO 4217, e.g. GBP: 1 unit of it…",
            "quote": "…is worth rate units of this, e.g. USD.",
            "day": "From this day on (brand time zone), until a later rate of the pair.",
            "rate": "Beats the ECB reference rates for this brand (docs/currencies.md).",
        }


class FxRateChangeForm(ServiceModelForm):
    class Meta(ServiceModelForm.Meta):
        model = FxRate
        fields = ("rate",)


@admin.register(FxRate)
class FxRateAdmin(BrandScopedAdmin):
    """A brand's own exchange rates: set one (a pair and day again replaces its rate) or
    correct a rate; every write is ``fx_rate_set``, audited."""

    admin_add = True
    admin_change = True
    form = FxRateChangeForm
    add_form = FxRateForm
    list_display = ("day", "base", "quote", "rate", related_slug("brand"), "updated_at")
    list_select_related = ("brand",)
    list_filter = ("base", "quote", brand_list_filter())
    date_hierarchy = "day"
    ordering = ("-day", "base", "quote")
    add_fieldsets = ((None, {"fields": ("brand", "base", "quote", "day", "rate")}),)
    fields = ("brand", "base", "quote", "day", "rate", "created_at", "updated_at")
    readonly_fields = ("brand", "base", "quote", "day", "created_at", "updated_at")

    def perform_write(
        self, request: HttpRequest, form: ServiceModelForm, obj: FxRate | None
    ) -> FxRate:
        data = form.cleaned_data
        if obj is None:
            return fx_rate_set(
                actor=admin_actor(request, data["brand"]),
                base=data["base"],
                quote=data["quote"],
                day=data["day"],
                rate=data["rate"],
            )
        return fx_rate_set(
            actor=self.actor_for(request, obj),
            base=obj.base,
            quote=obj.quote,
            day=obj.day,
            rate=data["rate"],
        )


@admin.register(FxReferenceRate)
class FxReferenceRateAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # not subscriptable at run time
    """The ECB reference rates every brand shares (``load_fx_rates``): anyone who can read a
    brand can read them; nobody writes them here."""

    list_display = ("day", "currency", "rate", "updated_at")
    list_filter = ("currency",)
    date_hierarchy = "day"
    ordering = ("-day", "currency")
    show_full_result_count = False

    def has_module_permission(self, request: HttpRequest) -> bool:
        return brand_access(request).any_readable

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return brand_access(request).any_readable

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- webhooks and the outbound signing secret (docs/webhooks.md) -----------------------------


class WebhookForm(ServiceModelForm):
    error_fields = {"unknown_event": "events", "too_many_webhooks": "url"}
    events = forms.MultipleChoiceField(
        choices=[(name, f"{name} — {text}") for name, text in EVENTS.items()],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta(ServiceModelForm.Meta):
        model = WebhookEndpoint
        fields: tuple[str, ...] = ("brand", "url", "events", "description", "is_active")


class WebhookChangeForm(WebhookForm):
    class Meta(WebhookForm.Meta):
        fields = ENDPOINT_FIELDS


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(BrandScopedAdmin):
    """The brand's webhook subscriptions; their deliveries are in Postback deliveries (kind
    webhook), replayed from there."""

    admin_add = True
    admin_change = True
    admin_delete = True
    form = WebhookChangeForm
    add_form = WebhookForm
    list_display = ("id", related_slug("brand"), "url", "event_list", "is_active", "created_at")
    list_select_related = ("brand",)
    list_filter = ("is_active", brand_list_filter())
    search_fields = ("url",)
    ordering = ("-created_at", "-id")
    add_fieldsets = ((None, {"fields": ("brand", "url", "events", "description", "is_active")}),)
    fieldsets = (
        (None, {"fields": ("brand", "url", "events", "description", "is_active")}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )
    readonly_fields = ("brand", "created_at", "updated_at")

    @admin.display(description="events")
    def event_list(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.events)

    def perform_write(
        self, request: HttpRequest, form: ServiceModelForm, obj: WebhookEndpoint | None
    ) -> WebhookEndpoint:
        data = form.cleaned_data
        if obj is None:
            return webhook_create(
                actor=admin_actor(request, data["brand"]),
                url=data["url"],
                events=data["events"],
                description=data["description"],
                is_active=data["is_active"],
            )
        fields = {name: data[name] for name in ENDPOINT_FIELDS if name in form.changed_data}
        if not fields:
            return obj
        return webhook_update(actor=self.actor_for(request, obj), endpoint=obj, **fields)

    def perform_delete(self, request: HttpRequest, obj: WebhookEndpoint) -> None:
        webhook_delete(actor=self.actor_for(request, obj), endpoint=obj)
