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


PAYOUT_METHOD_HELP = (
    "A payout method's name: lowercase letters, digits, - and _, at most 32 (paypal, wire, sepa)."
)


class ProgramSettingsOutput(serializers.Serializer[Brand]):
    default_hold_days = serializers.IntegerField(
        allow_null=True,
        help_text="Days a pending, unflagged conversion of an offer without its own hold_days "
        "waits before the worker approves it (0–365); null: conversions wait for a person.",
    )
    payout_methods = serializers.ListField(
        child=serializers.CharField(),
        help_text="The closed list of payout methods partners choose from and payouts are paid "
        "by; empty: any method when paying, none for partners to choose.",
    )
    partner_reasons_visible = serializers.BooleanField(
        help_text="Whether partners see why a conversion was held, rejected or reversed "
        "(false: only its status)."
    )
    min_payout_amount = serializers.DecimalField(
        max_digits=14,  # what min_payout_amount holds: numeric(14, 2)
        decimal_places=2,
        help_text="No payout is generated below this total (in the payout's currency); the "
        "entries carry on. 0: any positive total.",
    )


class ProgramSettingsInput(StrictSerializer):
    """Only the fields given change; every other argument is refused by name."""

    default_hold_days = serializers.IntegerField(
        min_value=0,
        max_value=365,
        allow_null=True,
        required=False,
        help_text="0–365 days; null: no auto-approval (conversions wait for a person).",
    )
    payout_methods = serializers.ListField(
        child=serializers.RegexField(r"^[a-z0-9][a-z0-9_-]{0,31}$", help_text=PAYOUT_METHOD_HELP),
        max_length=20,
        required=False,
        help_text="The whole closed list (it replaces the old one), at most 20 names, no "
        "repeats; [] removes every method.",
    )
    partner_reasons_visible = serializers.BooleanField(
        required=False, help_text="true: partners see rejection and reversal reasons."
    )
    min_payout_amount = serializers.DecimalField(
        max_digits=14,  # what min_payout_amount holds: numeric(14, 2)
        decimal_places=2,
        min_value=0,
        required=False,
        help_text="0 or more (decimal string): the smallest total a payout is generated for.",
    )

    def validate_payout_methods(self, value: list[str]) -> list[str]:
        raw = self.initial_data.get("payout_methods") if isinstance(self.initial_data, dict) else []
        # JSON strings only: the list's child would otherwise read 5 as "5".
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            raise serializers.ValidationError("Must be a JSON list of strings.")
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise serializers.ValidationError(f"Repeated: {', '.join(repeated)}.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The write contract adds dry_run to every input: it is not a setting.
        if not set(attrs) - {"dry_run"}:
            raise serializers.ValidationError(
                "Give at least one of default_hold_days, payout_methods, "
                "partner_reasons_visible, min_payout_amount."
            )
        return attrs
