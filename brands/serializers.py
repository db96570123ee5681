from __future__ import annotations

from typing import Any

from rest_framework import serializers

from brands.models import Brand, FraudMode
from core.serializers import StrictSerializer


class FraudSettingsOutput(serializers.Serializer[Brand]):
    mode = serializers.CharField(source="fraud_mode")
    threshold = serializers.IntegerField(source="fraud_threshold")
    botd_enabled = serializers.BooleanField()


class FraudSettingsInput(StrictSerializer):
    mode = serializers.ChoiceField(choices=FraudMode.choices, required=False)
    threshold = serializers.IntegerField(min_value=0, max_value=100, required=False)
    botd_enabled = serializers.BooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("Give mode, threshold or botd_enabled.")
        return attrs
