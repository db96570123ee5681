"""Writes of the partner ledger (``conversions.ledger_models``): the entries every money
movement leaves, and the manual adjustment.

One function per kind of entry, called inside the transaction of the change that moves the
money, so an entry exists exactly when its change committed:

- ``commission_record``: from ``conversion_approve`` (``conversions.services``), the one
  function every approval goes through (the REST/MCP operation, bulk approval, the admin and
  the worker's auto-approval all call it);
- ``reversal_record``: from ``conversion_reverse`` (``conversions.reversals``) and the
  rejection of an approved conversion: what is left of the commission;
- ``refund_share_record``: a partial refund's share of a revenue-share commission, from
  ``conversions.refund_ledger`` (and from ``conversion_approve`` for a sale partly refunded
  while it was pending);
- ``payout_entry_record``: from ``payout_mark_paid`` (``conversions.payouts``);
- ``ledger_adjustment_create``: a person's (or a tool's) adjustment with a reason, audited.

Entries are never updated or deleted (the model, and on PostgreSQL a trigger, refuse it);
only the payout that settles them moves (``conversions.payouts``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Max, Min, Q, Sum
from django.utils import timezone

from audit.actor import Actor
from audit.services import audit_record
from brands.fx import to_cents
from conversions.ledger_models import ConversionRefund, EntryKind, LedgerEntry
from conversions.models import Conversion, Payout
from conversions.payouts_math import CENT, MAX_MONEY
from core.errors import NotFoundError, ValidationError
from offers.models import AmountType, Offer, PayoutRule
from partners.models import Partner

CURRENCY = re.compile(r"^[A-Z]{3}$")
REASON_MAX = 500


def commission_record(conversion: Conversion, *, actor: Actor) -> LedgerEntry | None:
    """The commission entry of a conversion that has just become approved (none for a test
    conversion, which is never approved anyway, and none twice: the unique constraint)."""
    if conversion.is_test:
        return None
    return LedgerEntry.objects.create(
        brand_id=conversion.brand_id,
        partner_id=conversion.partner_id,
        kind=EntryKind.COMMISSION,
        currency=conversion.currency,
        amount=conversion.payout,
        conversion=conversion,
        created_by=actor.label[:200],
        created_at=conversion.approved_at or timezone.now(),
    )


def commissions_bulk(conversions: Iterable[Conversion], *, created_by: str) -> int:
    """Commission entries for conversions written approved or paid in bulk (the demo's seed),
    dated at their approval; returns how many were written."""
    entries = [
        LedgerEntry(
            brand_id=conversion.brand_id,
            partner_id=conversion.partner_id,
            kind=EntryKind.COMMISSION,
            currency=conversion.currency,
            amount=conversion.payout,
            conversion_id=conversion.pk,
            created_by=created_by,
            created_at=conversion.approved_at or conversion.created_at,
        )
        for conversion in conversions
        if conversion.status in ("approved", "paid") and not conversion.is_test
    ]
    LedgerEntry.objects.bulk_create(entries, batch_size=2000)
    return len(entries)


def paid_in_bulk(*, brand_id: int, created_by: str, method: str = "demo") -> list[Payout]:
    """For conversions written ``paid`` in bulk (the demo's volume seed): one paid payout per
    partner and currency settling their unsettled commissions, its payout entry, and the
    conversions pointing at it — a few queries per partner and currency, none per row — so
    their balance is what an approve-generate-pay sequence would leave."""
    owed = LedgerEntry.objects.filter(
        brand_id=brand_id,
        kind=EntryKind.COMMISSION,
        payout__isnull=True,
        conversion__status="paid",
    )
    groups = (
        owed.values("partner_id", "currency")
        .annotate(total=Sum("amount"), first=Min("created_at"), last=Max("created_at"))
        .order_by("partner_id", "currency")
    )
    now = timezone.now()
    payouts = []
    for group in groups:
        payout = Payout.objects.create(
            brand_id=brand_id,
            partner_id=group["partner_id"],
            currency=group["currency"],
            amount=group["total"],
            period_start=group["first"].date(),
            period_end=group["last"].date(),
            status="paid",
            method=method,
            paid_at=now,
        )
        mine = {"partner_id": group["partner_id"], "currency": group["currency"]}
        owed.filter(**mine).update(payout=payout)
        Conversion.objects.filter(
            brand_id=brand_id, status="paid", payout_batch__isnull=True, **mine
        ).update(payout_batch=payout)
        LedgerEntry.objects.create(
            brand_id=brand_id,
            kind=EntryKind.PAYOUT,
            currency=payout.currency,
            amount=-payout.amount,
            payout=payout,
            created_by=created_by,
            created_at=now,
            partner_id=group["partner_id"],
        )
        payouts.append(payout)
    return payouts


def commission_of(conversion: Conversion) -> LedgerEntry | None:
    return LedgerEntry.objects.filter(conversion=conversion, kind=EntryKind.COMMISSION).first()


def reversed_so_far(conversion: Conversion) -> Decimal:
    """What the conversion's reversal entries have taken back of its commission (positive):
    partial refunds before the whole is reversed."""
    total = LedgerEntry.objects.filter(conversion=conversion, kind=EntryKind.REVERSAL).aggregate(
        total=Sum("amount")
    )["total"]
    return -total if total else Decimal("0.00")


def reversal_record(conversion: Conversion, *, actor: Actor, reason: str, note: str) -> LedgerEntry:
    """The negative entry that cancels what is left of a conversion's commission (all of it,
    unless partial refunds took a share back already: together they are exactly minus the
    commission). It settles nothing by itself: unsettled, it goes into the partner's next
    payout, which nets it."""
    commission = commission_of(conversion)
    amount = commission.amount if commission is not None else conversion.payout
    currency = commission.currency if commission is not None else conversion.currency
    remaining = max(amount - reversed_so_far(conversion), Decimal("0.00"))
    return LedgerEntry.objects.create(
        brand_id=conversion.brand_id,
        partner_id=conversion.partner_id,
        kind=EntryKind.REVERSAL,
        currency=currency,
        amount=-remaining,
        conversion=conversion,
        reason_code=reason,
        note=note,
        created_by=actor.label[:200],
        created_at=conversion.reversed_at or timezone.now(),
    )


def payout_is_share(conversion: Conversion) -> bool:
    """Is the conversion's payout a share of the sale (a percent rule), which partial refunds
    take back in proportion? A flat one (a CPA) is not (docs/ledger.md). Conversions recorded
    before the payout type was kept are judged by the offer's rule for them now."""
    if conversion.payout_type:
        return conversion.payout_type == AmountType.PERCENT
    rules = PayoutRule.objects.filter(
        Q(partner_id=conversion.partner_id) | Q(partner__isnull=True),
        Q(event_type=conversion.event_type) | Q(event_type=""),
        offer_id=conversion.offer_id,
    )
    # The order of payouts_math.resolve_amounts: partner + event, partner, event, the offer.
    rule = min(rules, key=lambda r: (r.partner_id is None, r.event_type == ""), default=None)
    if rule is not None:
        return rule.payout_type == AmountType.PERCENT
    payout_type = Offer.objects.values_list("payout_type", flat=True).get(pk=conversion.offer_id)
    return payout_type == AmountType.PERCENT


def refunded_total(conversion: Conversion) -> Decimal:
    """What the refunds recorded against the conversion took back of its sale (in its
    ``original_currency``)."""
    total = ConversionRefund.objects.filter(conversion=conversion).aggregate(total=Sum("amount"))
    return total["total"] or Decimal("0.00")


def refund_share_record(
    conversion: Conversion, *, actor: Actor, refunded: Decimal, reason: str, note: str
) -> LedgerEntry | None:
    """The reversal entry of a partial refund of an approved (or paid) revenue-share sale: the
    commission times the share of the sale refunded so far (``refunded`` of
    ``original_amount``), rounded half-up to the cent, less what earlier partial refunds took
    back — so the entries always sum to the rounded share of the whole refunded so far, never
    drift a cent per refund, and never exceed the commission. None when there is nothing to
    write: no commission yet (its approval catches up), a flat payout, or a share that rounds
    to what was already taken back."""
    commission = commission_of(conversion)
    if commission is None or conversion.original_amount <= 0 or not payout_is_share(conversion):
        return None
    refunded = min(refunded, conversion.original_amount)
    target = to_cents(commission.amount, refunded, divided_by=conversion.original_amount)
    delta = min(target, commission.amount) - reversed_so_far(conversion)
    if delta <= 0:
        return None
    return LedgerEntry.objects.create(
        brand_id=conversion.brand_id,
        partner_id=conversion.partner_id,
        kind=EntryKind.REVERSAL,
        currency=commission.currency,
        amount=-delta,
        conversion=conversion,
        reason_code=reason,
        note=note,
        created_by=actor.label[:200],
        created_at=timezone.now(),
    )


def payout_entry_record(payout: Payout, *, actor: Actor) -> LedgerEntry:
    """The entry of a payout marked paid: minus what it paid, settled by the payout itself, so
    the entries it covers and it sum to zero."""
    return LedgerEntry.objects.create(
        brand_id=payout.brand_id,
        partner_id=payout.partner_id,
        kind=EntryKind.PAYOUT,
        currency=payout.currency,
        amount=-payout.amount,
        payout=payout,
        created_by=actor.label[:200],
        created_at=payout.paid_at or timezone.now(),
    )


def _adjustment_amount(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        amount = Decimal("NaN")
    if not amount.is_finite():
        raise ValidationError(
            "amount must be a decimal number such as 12.50 or -3.00.",
            fields={"amount": ["Not a number."]},
        )
    if abs(amount) > MAX_MONEY:
        raise ValidationError(
            f"amount must be between -{MAX_MONEY} and {MAX_MONEY}.",
            fields={"amount": ["Out of range."]},
        )
    if amount != amount.quantize(CENT):
        raise ValidationError(
            "amount has at most two decimal places.", fields={"amount": ["Too many decimals."]}
        )
    if amount == 0:
        raise ValidationError(
            "amount must not be zero: positive credits the partner, negative debits.",
            fields={"amount": ["Zero."]},
        )
    return amount.quantize(CENT)


@transaction.atomic
def ledger_adjustment_create(
    *, actor: Actor, partner: Partner, currency: str, amount: Any, reason: str
) -> LedgerEntry:
    """A manual entry in a partner's ledger: positive credits the partner (a bonus, a
    correction in their favour), negative debits them. The reason is required and kept on the
    entry and in the audit log. Like every entry, it goes into the partner's next payout."""
    actor.require_write()
    if partner.brand_id != actor.brand_id:  # the lookup scopes it; a backstop
        raise NotFoundError("partner", partner.slug)
    if not isinstance(currency, str) or not CURRENCY.match(currency):
        raise ValidationError(
            "currency must be an ISO 4217 code in capitals, e.g. USD.",
            code="invalid_currency",
            fields={"currency": ["Use an ISO 4217 code, e.g. USD."]},
        )
    value = _adjustment_amount(amount)
    text = (reason or "").strip()
    if not text or "\x00" in text:
        raise ValidationError(
            "reason is required: say why the partner's balance changes.",
            fields={"reason": ["Required."]},
        )
    if len(text) > REASON_MAX:
        raise ValidationError(
            f"reason is at most {REASON_MAX} characters.", fields={"reason": ["Too long."]}
        )
    entry = LedgerEntry.objects.create(
        brand_id=actor.brand_id,
        partner=partner,
        kind=EntryKind.ADJUSTMENT,
        currency=currency,
        amount=value,
        note=text,
        created_by=actor.label[:200],
        created_at=timezone.now(),
    )
    audit_record(
        actor=actor,
        action="ledger.adjust",
        target=entry,
        target_type="ledger_entry",
        changes={
            "partner_id": [None, partner.slug],
            "currency": [None, currency],
            "amount": [None, value],
            "reason": [None, text],
        },
    )
    return entry
