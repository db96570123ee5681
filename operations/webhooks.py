"""Webhooks to the brand: endpoints subscribed to events, their delivery log, and the signing
secret every outbound request (webhook or postback) carries (docs/webhooks.md)."""

from __future__ import annotations

from rest_framework import serializers

from audit.actor import Scope
from brands import webhooks
from brands.webhook_serializers import (
    SigningSecretOutput,
    SigningSecretRotateInput,
    SigningSecretRotateOutput,
    WebhookCreateInput,
    WebhookOutput,
    WebhookUpdateInput,
    rotation_view,
)
from conversions import selectors as conversion_selectors
from conversions.delivery_serializers import DeliveryOutput
from conversions.models import DeliveryStatus
from core.serializers import PageArguments, StrictSerializer
from operations.declaration import (
    READ,
    WRITE_ADDITIVE,
    WRITE_ONE_WAY,
    WRITE_UPDATE,
    Lookup,
    Operation,
    RestRoute,
    ToolSpec,
    refetch,
)

TAG = "webhooks"
WEBHOOK = Lookup("webhook_id", "endpoint", webhooks.webhook_get_for_actor)
WEBHOOK_FOR_LOG = Lookup("webhook_id", "webhook", webhooks.webhook_get_for_actor)
FRESH_WEBHOOK = refetch(webhooks.webhook_get_for_actor, "webhook_id", "pk")


def _webhook_id() -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, help_text="The endpoint's id (webhook_id).")


class WebhookRef(StrictSerializer):
    webhook_id = _webhook_id()


class UpdateWebhookArguments(WebhookUpdateInput):
    webhook_id = _webhook_id()


class NoArguments(StrictSerializer):
    pass


class WebhookDeliveryFilters(PageArguments):
    webhook_id = _webhook_id()
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False)


def _webhook_deliveries(**kwargs):  # type: ignore[no-untyped-def]  # the list filters pass through
    return conversion_selectors.delivery_list(kind="webhook", **kwargs)


OPERATIONS = [
    Operation(
        name="list_webhooks",
        description="The brand's webhook endpoints: url, subscribed events, active or not.",
        input=NoArguments,
        run=webhooks.webhook_list,
        output=WebhookOutput,
        shape="many",
        scope=Scope.READ,
        rest=RestRoute("GET", "webhooks/", "webhook-list", TAG),
        tool=ToolSpec("Webhooks", READ),
    ),
    Operation(
        name="get_webhook",
        description="One webhook endpoint of the brand: its url, the events it subscribes to, and "
        "whether it is active.",
        input=WebhookRef,
        run=webhooks.webhook_get_for_actor,
        output=WebhookOutput,
        scope=Scope.READ,
        rest=RestRoute("GET", "webhooks/<int:webhook_id>/", "webhook-detail", TAG),
        tool=ToolSpec("Webhook", READ),
    ),
    Operation(
        name="list_webhook_deliveries",
        description="The delivery log of one webhook endpoint, newest first: each event sent, "
        "its attempts, last status and error. Replay a failed or dead one with "
        "replay_delivery.",
        input=WebhookDeliveryFilters,
        run=_webhook_deliveries,
        lookups=(WEBHOOK_FOR_LOG,),
        output=DeliveryOutput,
        shape="page",
        scope=Scope.READ,
        rest=RestRoute("GET", "webhooks/<int:webhook_id>/deliveries/", "webhook-deliveries", TAG),
        tool=ToolSpec("Webhook deliveries", READ),
    ),
    Operation(
        name="get_signing_secret",
        description="Whether the brand has an outbound signing secret and when it was rotated "
        "(never the value). Every webhook and outbound postback carries Standard Webhooks "
        "headers signed with it.",
        input=NoArguments,
        run=webhooks.signing_secret_get,
        output=SigningSecretOutput,
        scope=Scope.READ,
        rest=RestRoute("GET", "signing-secret/", "signing-secret", TAG),
        tool=ToolSpec("Signing secret", READ),
    ),
    Operation(
        name="create_webhook",
        description="Subscribe a URL to events; each event becomes a signed JSON POST "
        "(Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature), retried on "
        'failure. Example: {"url": "https://example.com/hooks/trcker", "events": '
        '["conversion.approved", "payout.paid"]}.',
        input=WebhookCreateInput,
        run=webhooks.webhook_create,
        output=WebhookOutput,
        scope=Scope.WRITE,
        rest=RestRoute("POST", "webhooks/", "webhook-create", TAG, status=201),
        tool=ToolSpec("Create webhook", WRITE_ADDITIVE),
    ),
    Operation(
        name="update_webhook",
        description="Change a webhook endpoint's url, events, description or is_active; only "
        "the fields given change.",
        input=UpdateWebhookArguments,
        run=webhooks.webhook_update,
        lookups=(WEBHOOK,),
        present=FRESH_WEBHOOK,
        output=WebhookOutput,
        scope=Scope.WRITE,
        rest=RestRoute("PATCH", "webhooks/<int:webhook_id>/", "webhook-update", TAG),
        tool=ToolSpec("Update webhook", WRITE_UPDATE),
    ),
    Operation(
        name="delete_webhook",
        description="Delete a webhook endpoint. Its delivery log stays; deliveries not yet "
        "sent are dropped (endpoint_deleted).",
        input=WebhookRef,
        run=webhooks.webhook_delete,
        lookups=(WEBHOOK,),
        output=WebhookOutput,
        scope=Scope.WRITE,
        rest=RestRoute("DELETE", "webhooks/<int:webhook_id>/", "webhook-delete", TAG),
        tool=ToolSpec("Delete webhook", WRITE_ONE_WAY),
    ),
    Operation(
        name="rotate_signing_secret",
        description="Generate a new outbound signing secret (whsec_…) and return it ONCE. The "
        "previous one keeps signing too (a second signature) for overlap_hours (default 24), "
        "so receivers can switch without a gap.",
        input=SigningSecretRotateInput,
        run=webhooks.signing_secret_rotate,
        present=lambda actor, result: rotation_view(result),
        output=SigningSecretRotateOutput,
        scope=Scope.WRITE,
        rest=RestRoute("POST", "signing-secret/rotate/", "signing-secret-rotate", TAG),
        tool=ToolSpec("Rotate signing secret", WRITE_ONE_WAY),
        shows_secret=True,
    ),
]
