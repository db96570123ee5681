"""Reads of the partner ledger: balances per currency and the entries themselves. Every read
filters by the actor's brand (another brand's partner or entry is "not found")."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet, Sum

from audit.actor import Actor
from conversions.ledger_models import EntryKind, LedgerEntry
from conversions.models import Conversion, ConversionStatus, PayoutStatus
from core.errors import NotFoundError
from partners.models import Partner
from partners.selectors import partner_get_for_actor

ZERO = Decimal("0.00")
BALANCE_FIELDS = (
    "balance",
    "unpaid_commissions",
    "unpaid_reversals",
    "unpaid_adjustments",
    "unsettled",
    "in_payout",
    "paid_out",
    "pending",
)
# Not yet paid: in no payout, or in one that is still pending (void payouts release theirs).
UNPAID = Q(payout__isnull=True) | Q(payout__status=PayoutStatus.PENDING)


def balances(*, brand_id: int, partner_id: int) -> list[dict[str, Any]]:
    """Per currency, from the ledger (the ``pending`` column excepted, which is not money owed
    yet): ``balance`` = the sum of every entry = ``unpaid_commissions`` − ``unpaid_reversals``
    + ``unpaid_adjustments``; of that, ``unsettled`` is in no payout yet and ``in_payout`` in
    payouts generated and not yet paid; ``paid_out`` = what paid payouts paid (minus the sum of
    the payout entries). ``pending``: the payouts of conversions still awaiting review."""
    entries = (
        LedgerEntry.objects.filter(brand_id=brand_id, partner_id=partner_id)
        .values("currency")
        .annotate(
            balance=Sum("amount"),
            unpaid_commissions=Sum("amount", filter=UNPAID & Q(kind=EntryKind.COMMISSION)),
            unpaid_reversals=Sum("amount", filter=UNPAID & Q(kind=EntryKind.REVERSAL)),
            unpaid_adjustments=Sum("amount", filter=UNPAID & Q(kind=EntryKind.ADJUSTMENT)),
            unsettled=Sum("amount", filter=Q(payout__isnull=True)),
            in_payout=Sum(
                "amount",
                filter=Q(payout__status=PayoutStatus.PENDING) & ~Q(kind=EntryKind.PAYOUT),
            ),
            paid_out=Sum("amount", filter=Q(kind=EntryKind.PAYOUT)),
        )
        .order_by()
    )
    pending = (
        Conversion.objects.filter(
            brand_id=brand_id,
            partner_id=partner_id,
            is_test=False,
            status__in=[ConversionStatus.PENDING, ConversionStatus.PENDING_REVIEW],
        )
        .values("currency")
        .annotate(pending=Sum("payout"))
        .order_by()
    )
    rows: dict[str, dict[str, Any]] = {}
    for row in [*entries, *pending]:
        entry = rows.setdefault(
            row["currency"], {"currency": row["currency"], **dict.fromkeys(BALANCE_FIELDS, ZERO)}
        )
        for name in BALANCE_FIELDS:
            if row.get(name) is not None:
                entry[name] += Decimal(row[name])
    for row in rows.values():
        # Shown as positive amounts: what was reversed, what was paid out.
        row["unpaid_reversals"] = -row["unpaid_reversals"] + 0
        row["paid_out"] = -row["paid_out"] + 0
    return [rows[currency] for currency in sorted(rows)]


def partner_balance_get(*, actor: Actor, partner: Partner) -> dict[str, Any]:
    """One partner's balance per currency (``balances``), for the brand."""
    if partner.brand_id != actor.brand_id:
        raise NotFoundError("partner", partner.slug)
    return {
        "partner_id": partner.slug,
        "currencies": balances(brand_id=actor.brand_id, partner_id=partner.pk),
    }


def ledger_entry_list(
    *,
    actor: Actor,
    partner_id: str | None = None,
    kind: str | None = None,
    currency: str | None = None,
    conversion_id: str | None = None,
    payout_id: str | None = None,
    unsettled: bool | None = None,
) -> QuerySet[LedgerEntry]:
    """The brand's ledger entries, newest first."""
    qs = LedgerEntry.objects.filter(brand_id=actor.brand_id).select_related(
        "partner", "conversion", "payout"
    )
    if partner_id:
        qs = qs.filter(partner=partner_get_for_actor(actor=actor, partner_id=partner_id))
    if kind:
        qs = qs.filter(kind=kind)
    if currency:
        qs = qs.filter(currency=currency)
    if conversion_id:
        qs = qs.filter(conversion_id=conversion_id)
    if payout_id:
        qs = qs.filter(payout_id=payout_id)
    if unsettled is not None:
        qs = qs.filter(payout__isnull=unsettled)
    return qs.order_by("-created_at", "-pk")
