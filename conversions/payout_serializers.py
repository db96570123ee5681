"""Contracts for payouts (list, generate, mark paid), shared by REST and MCP."""

from __future__ import annotations

from rest_framework import serializers

from conversions.models import FX_RATE, TOTALS, Payout, PayoutStatus
from conversions.serializers import MONEY_OUT
from core.serializers import PageArguments, StrictSerializer
from offers.serializers import SLUG_FIELD


class PayoutOutput(serializers.Serializer[Payout]):
    payout_id = serializers.CharField(source="id", help_text="The payout's id (pay_…).")
    partner_id = serializers.CharField(source="partner.slug", help_text="The partner paid.")
    currency = serializers.CharField(help_text="ISO 4217 code of amount.")
    amount = serializers.DecimalField(
        **MONEY_OUT,
        help_text="Sum of the payouts of the approved conversions it covers, in currency (decimal "
        "string).",
    )
    period_start = serializers.DateField(
        allow_null=True,
        help_text="Day of the earliest conversion covered (brand time zone); null on older "
        "payouts.",
    )
    period_end = serializers.DateField(help_text="Last day covered (brand time zone), inclusive.")
    status = serializers.CharField(
        help_text="pending (to pay), paid or void (cancelled; its conversions are payable again)."
    )
    method = serializers.CharField(
        help_text="How it was paid (e.g. bank_transfer, paypal); empty until paid."
    )
    reference = serializers.CharField(
        help_text="The payment's reference (transfer id…); empty if none."
    )
    notes = serializers.CharField(help_text="Free-text notes; empty if none.")
    paid_at = serializers.DateTimeField(
        allow_null=True, help_text="When it was marked paid; null if not."
    )
    partner_currency = serializers.CharField(
        help_text="ISO 4217 code the partner is paid in (their payout_currency; else currency)."
    )
    partner_amount = serializers.DecimalField(
        **TOTALS,
        help_text="amount × fx_rate in partner_currency, rounded half-up to the cent: what the "
        "partner receives (decimal string).",
    )
    fx_rate = serializers.DecimalField(
        **FX_RATE,
        help_text="1 currency = fx_rate partner_currency, the rate of the day the payout was "
        "generated (docs/currencies.md); 1 when both are one currency.",
    )
    created_at = serializers.DateTimeField(help_text="When it was generated (ISO 8601, UTC).")


class PayoutListFilters(PageArguments):
    status = serializers.ChoiceField(choices=PayoutStatus.choices, required=False)
    partner_id = serializers.RegexField(required=False, **SLUG_FIELD)


class PayoutGenerateInput(StrictSerializer):
    up_to = serializers.DateField(
        required=False, help_text="Last day covered (brand time zone); default today."
    )
    partner_id = serializers.RegexField(required=False, **SLUG_FIELD)


class PayoutMarkPaidInput(StrictSerializer):
    method = serializers.CharField(max_length=64)
    reference = serializers.CharField(max_length=200, required=False, allow_blank=True)
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True)
