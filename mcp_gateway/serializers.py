from __future__ import annotations

from rest_framework import serializers


class ToolCallOutput(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    tool = serializers.CharField()
    arguments = serializers.DictField()
    outcome = serializers.CharField()
    is_error = serializers.BooleanField()
    duration_ms = serializers.IntegerField()
    actor = serializers.CharField(source="actor_label")
    credential = serializers.CharField()
    request_id = serializers.CharField()
