from __future__ import annotations

from typing import Any

from rest_framework import serializers

from brands.models import Brand, FraudMode
from core.serializers import StrictSerializer


class FraudSettingsOutput(serializers.Serializer[Brand]):
    mode = serializers.CharField(
        source="fraud_mode",
        help_text="off (no scoring), monitor (score only), review (hold for approval at or above "
        "threshold) or block (refuse at or above threshold).",
    )
    threshold = serializers.IntegerField(
        source="fraud_threshold",
        help_text="Fraud score (0–100) at or above which review holds and block refuses.",
    )
    botd_enabled = serializers.BooleanField(
        help_text="Whether the click page runs browser bot detection (a fraud signal)."
    )


class FraudSettingsInput(StrictSerializer):
    mode = serializers.ChoiceField(choices=FraudMode.choices, required=False)
    threshold = serializers.IntegerField(min_value=0, max_value=100, required=False)
    botd_enabled = serializers.BooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("Give mode, threshold or botd_enabled.")
        return attrs
