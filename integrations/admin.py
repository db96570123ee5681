"""The integrations in the admin: connecting Stripe or Shopify (the signing secret is typed
into a password field, stored encrypted and never shown again), disconnecting, and the
webhook event log (read-only). Every write goes through ``integrations.services``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from audit.actor import Actor
from backoffice.admin_base import (
    BrandScopedAdmin,
    ReadOnlyBrandAdmin,
    ServiceModelForm,
    admin_actor,
    brand_list_filter,
    service_action,
)
from backoffice.admin_columns import related_slug, when
from integrations.models import IntegrationConnection, IntegrationEvent, Provider
from integrations.services import MAX_GRACE_SECONDS, connection_disconnect, connection_set_secret


class _SecretFields(ServiceModelForm):
    new_signing_secret = forms.CharField(
        required=False,
        strip=True,
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
        label="Signing secret",
        help_text="Stripe: the endpoint's signing secret (whsec_…). Shopify: the key its "
        "webhooks are signed with. Stored encrypted; never shown again. Leave empty to keep "
        "the current one.",
    )
    grace_seconds = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_GRACE_SECONDS,
        help_text="When replacing a secret: seconds the old one keeps verifying.",
    )
    error_fields = {"signing_secret": "new_signing_secret"}


class ConnectionAddForm(_SecretFields):
    class Meta(ServiceModelForm.Meta):
        model = IntegrationConnection
        fields = ("brand", "provider", "default_offer")


class ConnectionChangeForm(_SecretFields):
    class Meta(ServiceModelForm.Meta):
        model = IntegrationConnection
        fields = ("default_offer", "record_sales_on")


def _disconnect(*, actor: Actor, connection: IntegrationConnection) -> IntegrationConnection:
    return connection_disconnect(actor=actor, provider=connection.provider)


_disconnect.__name__ = "disconnect_integrations"


@admin.register(IntegrationConnection)
class IntegrationConnectionAdmin(BrandScopedAdmin):
    """One row per brand and provider (docs/integrations.md)."""

    admin_add = True
    admin_change = True
    add_form = ConnectionAddForm
    form = ConnectionChangeForm
    list_display = (
        "provider",
        related_slug("brand"),
        "connected",
        when("secret_set_at", description="secret set"),
        related_slug("default_offer"),
        "webhook_path",
    )
    list_select_related = ("brand", "default_offer")
    list_filter = ("provider", brand_list_filter())
    add_fieldsets = (
        (None, {"fields": ("brand", "provider", "new_signing_secret", "default_offer")}),
    )
    fieldsets = (
        (None, {"fields": ("brand", "provider", "connected", "webhook_path", "secret_set_at")}),
        (
            "Change",
            {
                "fields": (
                    "new_signing_secret",
                    "grace_seconds",
                    "default_offer",
                    "record_sales_on",
                )
            },
        ),
        ("Rotation", {"fields": ("previous_secret_valid_until",)}),
    )
    readonly_fields = (
        "brand",
        "provider",
        "connected",
        "webhook_path",
        "secret_set_at",
        "previous_secret_valid_until",
    )
    actions = ("disconnect_integrations",)

    @admin.display(boolean=True, description="connected")
    def connected(self, obj: IntegrationConnection) -> bool:
        return bool(obj.signing_secret)

    @admin.display(description="webhook URL path")
    def webhook_path(self, obj: IntegrationConnection) -> str:
        return f"/api/integrations/{obj.provider}/{obj.brand.slug}"

    def perform_write(
        self, request: HttpRequest, form: ServiceModelForm, obj: IntegrationConnection | None
    ) -> IntegrationConnection:
        data: dict[str, Any] = form.cleaned_data
        brand = obj.brand if obj is not None else data["brand"]
        provider = obj.provider if obj is not None else data["provider"]
        return connection_set_secret(
            actor=admin_actor(request, brand),
            provider=provider,
            signing_secret=data.get("new_signing_secret") or None,
            grace_seconds=data.get("grace_seconds"),
            default_offer=data.get("default_offer"),
            clear_default_offer=data.get("default_offer") is None,
            record_sales_on=data.get("record_sales_on")
            if provider == Provider.SHOPIFY and data.get("record_sales_on")
            else None,
        )

    disconnect_integrations = service_action(
        _disconnect,
        target="connection",
        description="Disconnect (forget the signing secrets)",
        done="Disconnected {count} integration(s).",
    )


@admin.register(IntegrationEvent)
class IntegrationEventAdmin(ReadOnlyBrandAdmin):
    """Every webhook delivery of a known brand, accepted or not, with its reason; pruned after
    TRCKER_POSTBACK_LOG_DAYS."""

    list_display = (
        when("received_at", description="received"),
        related_slug("brand"),
        "provider",
        "event_type",
        "outcome",
        "reason",
        "conversion_id",
        "object_id",
    )
    list_select_related = ("brand",)
    list_filter = ("provider", "outcome", "reason", brand_list_filter())
    search_fields = ("event_id", "object_id", "conversion_id")
    ordering = ("-received_at", "-id")
