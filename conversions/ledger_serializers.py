"""Contracts of the partner ledger's operations, shared by REST and MCP."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from conversions.ledger_models import EntryKind, LedgerEntry, ReversalReason
from conversions.payout_serializers import PayoutOutput
from core.serializers import PageArguments, StrictSerializer
from offers.models import DecimalColumn
from offers.serializers import SLUG_FIELD

TOTALS_OUT: DecimalColumn = {"max_digits": 20, "decimal_places": 2}
CURRENCY_FIELD: dict[str, Any] = {
    "regex": r"^[A-Z]{3}$",
    "help_text": "ISO 4217 code in capitals, e.g. USD.",
}
REASONS_HELP = (
    "refund (the customer was refunded), chargeback, fraud (found fraudulent after approval), "
    "duplicate (of another sale) or other (note required)."
)


class BalanceRowOutput(serializers.Serializer[dict[str, Any]]):
    currency = serializers.CharField(help_text="ISO 4217 code of this row.")
    balance = serializers.DecimalField(
        **TOTALS_OUT,
        help_text="What the brand owes the partner in this currency: the sum of every ledger "
        "entry = unpaid_commissions − unpaid_reversals + unpaid_adjustments. Negative when "
        "reversals after payout exceed new commissions (the partner owes; it nets against the "
        "next payout).",
    )
    unpaid_commissions = serializers.DecimalField(
        **TOTALS_OUT, help_text="Commissions of approved conversions not yet paid out."
    )
    unpaid_reversals = serializers.DecimalField(
        **TOTALS_OUT,
        help_text="Reversed commissions (refunds, chargebacks…) not yet netted by a paid "
        "payout, as a positive amount.",
    )
    unpaid_adjustments = serializers.DecimalField(
        **TOTALS_OUT, help_text="Manual adjustments (±) not yet paid out."
    )
    unsettled = serializers.DecimalField(
        **TOTALS_OUT, help_text="Of balance: in no payout yet (the next generate_payouts)."
    )
    in_payout = serializers.DecimalField(
        **TOTALS_OUT, help_text="Of balance: in payouts generated and not yet paid."
    )
    paid_out = serializers.DecimalField(
        **TOTALS_OUT, help_text="Paid to the partner to date: the sum of paid payouts."
    )
    pending = serializers.DecimalField(
        **TOTALS_OUT,
        help_text="Not in the balance: payouts of conversions still awaiting review.",
    )


class PartnerBalanceArguments(StrictSerializer):
    partner_id = serializers.RegexField(
        help_text="The partner's id (slug), e.g. abc-123.", **SLUG_FIELD
    )


class BrandPartnerBalanceOutput(serializers.Serializer[dict[str, Any]]):
    partner_id = serializers.CharField(help_text="The partner (slug).")
    currencies = BalanceRowOutput(many=True, help_text="One row per currency, by code.")


class LedgerEntryOutput(serializers.Serializer[LedgerEntry]):
    entry_id = serializers.CharField(source="id", help_text="The entry's id (led_…).")
    partner_id = serializers.CharField(source="partner.slug", help_text="The partner (slug).")
    kind = serializers.CharField(
        help_text="commission (+, a conversion approved), reversal (−, a conversion reversed or "
        "an approved one rejected), adjustment (±, by hand) or payout (−, a payout paid)."
    )
    currency = serializers.CharField(help_text="ISO 4217 code of amount.")
    amount = serializers.DecimalField(**TOTALS_OUT, help_text="Signed amount (decimal string).")
    conversion_id = serializers.CharField(
        allow_null=True, help_text="The conversion of a commission or reversal; null otherwise."
    )
    payout_id = serializers.CharField(
        allow_null=True,
        help_text="The payout that settles it (pending or paid); null while unsettled.",
    )
    reason_code = serializers.CharField(
        help_text="A reversal's reason (refund, chargeback, fraud, duplicate, other; rejected "
        "for an approved conversion rejected); empty otherwise."
    )
    note = serializers.CharField(help_text="An adjustment's reason, a reversal's note.")
    actor = serializers.CharField(
        source="created_by", help_text="Who wrote it (the actor's label, e.g. api_key:…)."
    )
    created_at = serializers.DateTimeField(help_text="When it was written (ISO 8601, UTC).")


class LedgerEntryListFilters(PageArguments):
    partner_id = serializers.RegexField(required=False, **SLUG_FIELD)
    kind = serializers.ChoiceField(choices=EntryKind.choices, required=False)
    currency = serializers.RegexField(required=False, **CURRENCY_FIELD)
    conversion_id = serializers.RegexField(r"^conv_[A-Za-z0-9]{1,28}$", required=False)
    payout_id = serializers.RegexField(r"^pay_[A-Za-z0-9]{1,28}$", required=False)
    unsettled = serializers.BooleanField(
        required=False,
        default=None,
        allow_null=True,
        help_text="true: only entries in no payout yet; false: only settled ones.",
    )


class ReverseConversionInput(StrictSerializer):
    reason = serializers.ChoiceField(choices=ReversalReason.choices, help_text=REASONS_HELP)
    note = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        help_text="Free text for the audit trail and the ledger entry; required with other.",
    )


class LedgerAdjustmentInput(StrictSerializer):
    partner_id = serializers.RegexField(
        help_text="The partner's id (slug), e.g. abc-123.", **SLUG_FIELD
    )
    currency = serializers.RegexField(**CURRENCY_FIELD)
    amount = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        help_text="Signed decimal string: positive credits the partner, negative debits; not 0.",
    )
    reason = serializers.CharField(
        max_length=500, help_text="Why the balance changes (kept on the entry and audited)."
    )


class PayoutSkipOutput(serializers.Serializer[dict[str, Any]]):
    partner_id = serializers.CharField(help_text="The partner (slug).")
    currency = serializers.CharField(help_text="ISO 4217 code.")
    amount = serializers.DecimalField(
        **TOTALS_OUT, help_text="The total of the unsettled entries left out."
    )
    entries = serializers.IntegerField(help_text="How many entries carry on unsettled.")
    reason = serializers.CharField(
        help_text="not_positive (the total is zero or below: nothing is owed), below_minimum "
        "(under the brand's min_payout_amount) or fx_rate_missing (the partner is paid in "
        "another currency and there is no rate for the day)."
    )
    message = serializers.CharField(help_text="The same in words.")


class GeneratedPayoutsOutput(serializers.Serializer[dict[str, Any]]):
    payouts = PayoutOutput(many=True, help_text="The pending payouts generated.")
    skipped = PayoutSkipOutput(
        many=True,
        help_text="Each partner and currency with unsettled entries but no payout this time, "
        "and why; their entries carry on.",
    )
