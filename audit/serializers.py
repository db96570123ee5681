from __future__ import annotations

from rest_framework import serializers

from audit.models import AuditEvent
from core.serializers import PageArguments


class AuditEventOutput(serializers.Serializer[AuditEvent]):
    id = serializers.IntegerField(help_text="The event's id.")
    # Null for the moment between the write's commit and its link into the brand's chain.
    seq = serializers.IntegerField(
        allow_null=True,
        help_text="Position in the brand's audit hash chain; null for the moment before the event "
        "is linked in.",
    )
    created_at = serializers.DateTimeField(help_text="When the change was made (ISO 8601, UTC).")
    actor_kind = serializers.CharField(
        help_text="Who made it: user, api_key, mcp (an agent) or system."
    )
    actor = serializers.CharField(
        source="actor_label", help_text="The actor's label (user email, key label, OAuth client…)."
    )
    actor_detail = serializers.DictField(
        help_text="More about the actor (key prefix, OAuth client, tool…)."
    )
    action = serializers.CharField(
        help_text="What was done, as target.verb (e.g. offer.update, conversion.approve)."
    )
    target_type = serializers.CharField(
        help_text="The kind of object changed (offer, partner, conversion…)."
    )
    target_id = serializers.CharField(help_text="The changed object's id (slug or id).")
    changes = serializers.DictField(
        help_text="Field → [before, after] for every field the action changed."
    )
    channel = serializers.CharField(
        help_text="Where the change came in: admin, rest, mcp, postback, click, cli, worker or "
        "apply."
    )
    ip = serializers.IPAddressField(
        allow_null=True,
        help_text="Client IP address; null when there was no request (worker, cli).",
    )
    user_agent = serializers.CharField(
        help_text="Client User-Agent; empty when there was no request."
    )
    request_id = serializers.CharField(
        help_text="The request's id, to match logs; empty when there was no request."
    )
    hash = serializers.CharField(help_text="This event's keyed hash in the chain (hex).")
    prev_hash = serializers.CharField(
        help_text="The previous event's hash in the chain (hex); an edited or deleted row breaks "
        "the chain."
    )


class AuditEventListFilters(PageArguments):
    action = serializers.RegexField(r"^[a-z_]+(\.[a-z_]+)?$", required=False)
    target_type = serializers.RegexField(r"^[a-z_]{1,32}$", required=False)
    target_id = serializers.CharField(max_length=64, required=False)
    actor = serializers.CharField(max_length=200, required=False, source="actor_label")
    channel = serializers.ChoiceField(
        choices=["admin", "rest", "mcp", "postback", "click", "cli", "worker", "apply"],
        required=False,
    )
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
