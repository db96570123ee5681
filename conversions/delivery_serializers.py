"""Contracts for the outbox's deliveries (outbound postbacks and webhooks), shared by REST
and MCP."""

from __future__ import annotations

from rest_framework import serializers

from conversions.models import DeliveryKind, DeliveryStatus, PostbackDelivery
from core.serializers import PageArguments


class DeliveryOutput(serializers.Serializer[PostbackDelivery]):
    delivery_id = serializers.IntegerField(source="pk", help_text="The delivery's id.")
    kind = serializers.CharField(help_text="offer_postback, partner_postback or webhook.")
    event = serializers.CharField(help_text="e.g. conversion.approved; empty on old rows.")
    conversion_id = serializers.CharField(allow_null=True, help_text="null for a webhook.")
    webhook_id = serializers.IntegerField(
        source="endpoint_id", allow_null=True, help_text="The endpoint; null for a postback."
    )
    url = serializers.CharField(help_text="The URL called (placeholders filled in).")
    status = serializers.CharField(
        help_text="pending, delivered, failed (will retry) or dead (retries exhausted; replay to "
        "try again)."
    )
    attempts = serializers.IntegerField(help_text="Attempts made so far.")
    next_attempt_at = serializers.DateTimeField(
        allow_null=True, help_text="When the next attempt is due; null if none is scheduled."
    )
    last_status_code = serializers.IntegerField(
        allow_null=True, help_text="HTTP status of the last attempt; null if none answered."
    )
    last_error = serializers.CharField(
        help_text="The last attempt's error (timeout, http_500…); empty if none."
    )
    created_at = serializers.DateTimeField(
        help_text="When the delivery was queued (ISO 8601, UTC)."
    )
    delivered_at = serializers.DateTimeField(
        allow_null=True, help_text="When it was delivered; null if not."
    )


class DeliveryListFilters(PageArguments):
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False)
    conversion_id = serializers.CharField(max_length=32, required=False)
    kind = serializers.ChoiceField(choices=DeliveryKind.choices, required=False)
