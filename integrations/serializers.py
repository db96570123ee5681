"""The integrations contract, shared by REST (and the admin's wording)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.serializers import PageArguments, StrictSerializer
from integrations.models import EventOutcome, IntegrationEvent, Provider, SaleTopic
from offers.serializers import SLUG_FIELD


class ProviderRef(StrictSerializer):
    provider = serializers.ChoiceField(choices=Provider.choices, help_text="stripe or shopify.")


class ConnectInput(ProviderRef):
    signing_secret = serializers.CharField(
        max_length=200,
        required=False,
        help_text="The provider's webhook signing secret (Stripe: whsec_…; Shopify: the key its "
        "webhooks are signed with). Stored encrypted and never shown again.",
    )
    grace_seconds = serializers.IntegerField(
        min_value=0,
        max_value=7 * 24 * 3600,
        required=False,
        help_text="A new secret replaces the old one, which keeps verifying this many seconds "
        "(0: at once).",
    )
    default_offer_id = serializers.RegexField(
        required=False,
        allow_null=True,
        help_text="The offer of a sale attributed by a coupon that names no offer; null clears.",
        **SLUG_FIELD,
    )

    record_sales_on = serializers.ChoiceField(
        choices=SaleTopic.choices,
        required=False,
        help_text="Shopify only: the webhook that records a sale, orders/create (default) or "
        "orders/paid (docs/integrations.md).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not {"signing_secret", "default_offer_id", "record_sales_on"} & set(attrs):
            raise serializers.ValidationError(
                "Give signing_secret, default_offer_id or record_sales_on."
            )
        return attrs


class IntegrationStatusOutput(serializers.Serializer[Any]):
    provider = serializers.CharField(help_text="stripe or shopify.")
    connected = serializers.BooleanField(help_text="Whether a signing secret is set.")
    secret_set_at = serializers.DateTimeField(
        allow_null=True, help_text="When the signing secret was last set."
    )
    previous_secret_valid_until = serializers.DateTimeField(
        allow_null=True, help_text="Until when the replaced secret still verifies (rotation)."
    )
    default_offer_id = serializers.CharField(
        allow_null=True, help_text="The offer of coupon-only sales whose coupon names none."
    )
    record_sales_on = serializers.CharField(
        allow_null=True,
        help_text="Shopify: the webhook that records a sale (orders/create or orders/paid); "
        "null for Stripe.",
    )
    webhook_url_path = serializers.CharField(
        help_text="Paste this path after your Trcker address into the provider's webhook form."
    )
    last_event_at = serializers.DateTimeField(allow_null=True, help_text="Last event received.")
    last_accepted_at = serializers.DateTimeField(
        allow_null=True, help_text="Last event that was accepted."
    )
    days = serializers.IntegerField(help_text="The counts below cover the last N days.")
    accepted = serializers.IntegerField(help_text="Events accepted in the period.")
    duplicates = serializers.IntegerField(help_text="Repeated deliveries, changing nothing.")
    ignored = serializers.IntegerField(help_text="Valid events that will never count.")
    refused = serializers.IntegerField(help_text="Deliveries refused (signature, body).")
    refused_reasons = serializers.DictField(
        child=serializers.IntegerField(), help_text="Refusals by reason (bad_signature, …)."
    )
    ignored_reasons = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Ignored events by reason (unknown_customer, …).",
    )


class IntegrationEventFilters(PageArguments):
    provider = serializers.ChoiceField(choices=Provider.choices, required=False)
    outcome = serializers.ChoiceField(choices=EventOutcome.choices, required=False)
    reason = serializers.RegexField(r"^[a-z0-9_]{1,64}$", required=False)
    since = serializers.DateTimeField(required=False)


class IntegrationEventOutput(serializers.Serializer[IntegrationEvent]):
    provider = serializers.CharField(help_text="stripe or shopify.")
    received_at = serializers.DateTimeField(help_text="When it arrived (ISO 8601, UTC).")
    event_id = serializers.CharField(help_text="The provider's event id; blank when refused.")
    event_type = serializers.CharField(help_text="e.g. invoice.paid, orders/create.")
    outcome = serializers.CharField(help_text="accepted, duplicate, ignored or refused.")
    reason = serializers.CharField(help_text="Why (docs/integrations.md, Reason codes).")
    detail = serializers.CharField(help_text="The reason in words, with the ids involved.")
    object_id = serializers.CharField(help_text="The provider's object (cs_…, in_…, order id).")
    conversion_id = serializers.CharField(help_text="The conversion recorded or reversed.")
    http_status = serializers.IntegerField(help_text="What Trcker answered the provider.")
