from __future__ import annotations

from rest_framework import serializers


class ToolCallOutput(serializers.Serializer):
    id = serializers.IntegerField(help_text="The call's id.")
    created_at = serializers.DateTimeField(help_text="When the tool was called (ISO 8601, UTC).")
    tool = serializers.CharField(help_text="The tool's name.")
    arguments = serializers.DictField(
        help_text="The arguments it was called with (secret values redacted)."
    )
    outcome = serializers.CharField(help_text="ok, or the error code it answered.")
    is_error = serializers.BooleanField(help_text="Whether the call answered an error.")
    duration_ms = serializers.IntegerField(help_text="How long the call took, in milliseconds.")
    actor = serializers.CharField(
        source="actor_label", help_text="Who called it (key label or OAuth client and user)."
    )
    credential = serializers.CharField(help_text="The API key prefix or OAuth client id used.")
    request_id = serializers.CharField(help_text="The request's id, to match logs.")
