"""The partner ledger's operations: balances, entries, reversals and adjustments
(docs/ledger.md). The minimum payout is a programme setting (operations/program.py)."""

from __future__ import annotations

from rest_framework import serializers

from audit.actor import Actor, Scope
from conversions import ledger, ledger_selectors, reversals, selectors
from conversions.ledger_models import LedgerEntry
from conversions.ledger_serializers import (
    BrandPartnerBalanceOutput,
    LedgerAdjustmentInput,
    LedgerEntryListFilters,
    LedgerEntryOutput,
    PartnerBalanceArguments,
    ReverseConversionInput,
)
from conversions.serializers import ConversionOutput
from operations.declaration import (
    READ,
    WRITE_ADDITIVE,
    WRITE_ONE_WAY,
    Operation,
    RestRoute,
    ToolSpec,
    refetch,
)
from operations.lookups import CONVERSION, CONVERSION_ID, PARTNER

MONEY_HELP = " Money is a decimal string with its ISO 4217 currency."
TAG = "ledger"


class ReverseConversionArguments(ReverseConversionInput):
    conversion_id = serializers.RegexField(CONVERSION_ID, help_text="e.g. conv_9f2a…")


def _entry(actor: Actor, entry: LedgerEntry) -> LedgerEntry:
    return ledger_selectors.ledger_entry_list(actor=actor).get(pk=entry.pk)


OPERATIONS = [
    Operation(
        name="get_partner_balance",
        description="A partner's balance per currency from the ledger: balance (the sum of "
        "every entry = unpaid_commissions − unpaid_reversals + unpaid_adjustments; negative "
        "when reversals after payout exceed new commissions), of which unsettled (in no payout "
        "yet) and in_payout (in pending payouts), paid_out to date, and pending (payouts of "
        "conversions awaiting review, not yet in the balance)." + MONEY_HELP,
        input=PartnerBalanceArguments,
        run=ledger_selectors.partner_balance_get,
        lookups=(PARTNER,),
        output=BrandPartnerBalanceOutput,
        scope=Scope.READ,
        rest=RestRoute("GET", "partners/<partner_id>/balance/", "partner-balance-brand", TAG),
        tool=ToolSpec("Partner balance", READ),
    ),
    Operation(
        name="list_ledger_entries",
        description="Ledger entries, newest first: commission (+, a conversion approved), "
        "reversal (−), adjustment (±) and payout (−, a payout paid), filtered by partner_id, "
        "kind, currency, conversion_id, payout_id or unsettled (true: in no payout yet). "
        "Entries are never changed; the only thing that moves is the payout settling them."
        + MONEY_HELP,
        input=LedgerEntryListFilters,
        run=ledger_selectors.ledger_entry_list,
        output=LedgerEntryOutput,
        shape="page",
        scope=Scope.READ,
        rest=RestRoute("GET", "ledger/entries/", "ledger-entry-list", TAG),
        tool=ToolSpec("Ledger entries", READ),
    ),
    Operation(
        name="reverse_conversion",
        description="Reverse an approved or paid conversion (conv_…): a refund, chargeback, "
        "fraud found later or a duplicate. reason is one of refund, chargeback, fraud, "
        "duplicate, other (other needs a note). Writes a negative ledger entry cancelling its "
        "commission (what partial refunds left of it); if it was already paid, that entry "
        "comes off the partner's next payout. "
        "Its status becomes reversed and it leaves stats' conversions. A pending conversion is "
        "rejected instead (reject_conversion).",
        input=ReverseConversionArguments,
        run=reversals.conversion_reverse,
        lookups=(CONVERSION,),
        present=refetch(selectors.conversion_get_for_actor, "conversion_id", "id"),
        output=ConversionOutput,
        scope=Scope.WRITE,
        rest=RestRoute(
            "POST", "conversions/<conversion_id>/reverse/", "conversion-reverse", "conversions"
        ),
        tool=ToolSpec("Reverse conversion", WRITE_ONE_WAY),
    ),
    Operation(
        name="create_ledger_adjustment",
        description="Add a manual entry to a partner's ledger: amount (signed decimal string, "
        "not 0: positive credits the partner, negative debits) in currency, with a required "
        "reason (audited). It goes into the partner's next payout like any entry." + MONEY_HELP,
        input=LedgerAdjustmentInput,
        run=ledger.ledger_adjustment_create,
        lookups=(PARTNER,),
        present=_entry,
        output=LedgerEntryOutput,
        scope=Scope.WRITE,
        rest=RestRoute("POST", "ledger/adjustments/", "ledger-adjustment", TAG, status=201),
        tool=ToolSpec("Adjust a partner's balance", WRITE_ADDITIVE),
    ),
]
