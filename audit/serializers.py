from __future__ import annotations

from rest_framework import serializers

from audit.models import AuditEvent
from core.serializers import PageArguments


class AuditEventOutput(serializers.Serializer[AuditEvent]):
    id = serializers.IntegerField()
    # Null for the moment between the write's commit and its link into the brand's chain.
    seq = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    actor_kind = serializers.CharField()
    actor = serializers.CharField(source="actor_label")
    actor_detail = serializers.DictField()
    action = serializers.CharField()
    target_type = serializers.CharField()
    target_id = serializers.CharField()
    changes = serializers.DictField()
    channel = serializers.CharField()
    ip = serializers.IPAddressField(allow_null=True)
    user_agent = serializers.CharField()
    request_id = serializers.CharField()
    hash = serializers.CharField()
    prev_hash = serializers.CharField()


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
