"""Contracts for webhook endpoints and the signing secret, shared by REST and MCP."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from brands.events import EVENTS
from brands.webhook_models import SigningSecret, WebhookEndpoint
from brands.webhooks import MAX_OVERLAP_HOURS
from core.serializers import StrictSerializer

EVENT_CHOICES = list(EVENTS)
EVENTS_HELP = "Event names: " + ", ".join(EVENTS) + "."


class WebhookOutput(serializers.Serializer[WebhookEndpoint]):
    webhook_id = serializers.IntegerField(source="pk", help_text="The endpoint's id.")
    url = serializers.CharField(help_text="Where the signed POSTs go.")
    events = serializers.ListField(child=serializers.CharField(), help_text=EVENTS_HELP)
    description = serializers.CharField(help_text="The brand's note; empty if none.")
    is_active = serializers.BooleanField(help_text="false: nothing is sent (nor queued).")
    created_at = serializers.DateTimeField(help_text="When it was created (ISO 8601, UTC).")
    updated_at = serializers.DateTimeField(help_text="When it was last changed (ISO 8601, UTC).")


class WebhookCreateInput(StrictSerializer):
    url = serializers.URLField(
        max_length=2048,
        help_text="https URL to POST events to (public address; checked again at each send).",
    )
    events = serializers.ListField(
        child=serializers.CharField(max_length=40),
        min_length=1,
        max_length=len(EVENT_CHOICES),
        help_text=EVENTS_HELP,
    )
    description = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )
    is_active = serializers.BooleanField(required=False, default=True)


class WebhookUpdateInput(StrictSerializer):
    url = serializers.URLField(max_length=2048, required=False)
    events = serializers.ListField(
        child=serializers.CharField(max_length=40),
        min_length=1,
        max_length=len(EVENT_CHOICES),
        required=False,
        help_text=EVENTS_HELP,
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not {name: value for name, value in attrs.items() if name != "webhook_id"}:
            raise serializers.ValidationError("Give at least one field to change.")
        return attrs


class SigningSecretOutput(serializers.Serializer[dict[str, Any]]):
    has_secret = serializers.BooleanField(
        help_text="Whether the brand has a signing secret (one is made at the first send)."
    )
    rotated_at = serializers.DateTimeField(
        allow_null=True, help_text="When the current secret was made; null if none yet."
    )
    previous_valid_until = serializers.DateTimeField(
        allow_null=True,
        help_text="Until when the previous secret still signs too (overlap); null if not.",
    )


class SigningSecretRotateInput(StrictSerializer):
    overlap_hours = serializers.IntegerField(
        min_value=0,
        max_value=MAX_OVERLAP_HOURS,
        default=24,
        help_text="How long the previous secret keeps signing too (a second signature), so "
        f"receivers can switch without a gap; 0 to {MAX_OVERLAP_HOURS}, default 24.",
    )


class SigningSecretRotateOutput(SigningSecretOutput):
    signing_secret = serializers.CharField(
        help_text="The new secret (whsec_…). Shown once, in this answer; store it now "
        "(rotate again to get a new one)."
    )


def rotation_view(result: tuple[SigningSecret, str]) -> dict[str, Any]:
    row, secret = result
    return {
        "has_secret": True,
        "rotated_at": row.rotated_at,
        "previous_valid_until": row.previous_valid_until,
        "signing_secret": secret,
    }
