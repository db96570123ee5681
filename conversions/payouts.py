"""Payouts settle ledger entries (``conversions.ledger_models``): generating one covers a
partner's unsettled entries in one currency — commissions, reversals, adjustments — and its
amount is their sum; paying it writes the payout entry that brings them to zero and pays the
conversions whose commissions it covers; voiding it releases the entries for a later payout.

A payout is never generated for a total of zero or less (a reversal after payout can leave a
partner owing: the entries stay unsettled, the balance shows negative, and the next payout
nets them), nor below the brand's ``min_payout_amount`` (the total carries on). The answer
names each partner and currency left out and why (``PayoutBatch.skipped``)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, Min, Sum
from django.utils import timezone

from audit.actor import Actor
from audit.services import audit_record
from brands import events
from brands.models import Brand
from brands.services import payout_method_check
from conversions.ledger import payout_entry_record
from conversions.ledger_models import EntryKind, LedgerEntry
from conversions.models import (
    Conversion,
    ConversionStatus,
    Payout,
    PayoutStatus,
)
from conversions.payout_currency import paid_in, rate_missing_skip
from conversions.rollups import rollup_conversions_moved
from conversions.services import brand_tz
from conversions.webhooks import payout_data
from core.errors import ConflictError, InvalidTransitionError, NotFoundError, ValidationError
from core.locking import lock_in_pk_order, lock_one
from partners.models import Partner


def _end_of_day(day: dt.date, tz: Any) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=tz)


class PayoutBatch(list[Payout]):
    """The payouts generated (a list, as before), and ``skipped``: each partner and currency
    whose unsettled total was not paid out this time, with the reason."""

    def __init__(
        self, payouts: Iterable[Payout] = (), skipped: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(payouts)
        self.skipped = skipped or []


def _skip(
    partner_slug: str, currency: str, total: Decimal, entries: int, minimum: Decimal
) -> dict[str, Any]:
    if total <= 0:
        reason = "not_positive"
        message = (
            f"{partner_slug} {currency}: unsettled entries total {total:.2f}, nothing is owed; "
            "they carry into the next payout."
        )
    else:
        reason = "below_minimum"
        message = (
            f"{partner_slug} {currency}: unsettled entries total {total:.2f}, below the brand's "
            f"minimum payout of {minimum:.2f}; they carry into a later payout."
        )
    return {
        "partner_id": partner_slug,
        "currency": currency,
        "amount": total,
        "entries": entries,
        "reason": reason,
        "message": message,
    }


@transaction.atomic
def payouts_generate(
    *, actor: Actor, up_to: dt.date | None = None, partner: Partner | None = None
) -> PayoutBatch:
    """One pending payout per partner and currency covering the ledger entries not yet
    settled and written up to the end of ``up_to`` (brand time zone; default today), when
    their total is positive and at least the brand's ``min_payout_amount``."""
    actor.require_write()
    brand = Brand.objects.get(pk=actor.brand_id)
    tz = zoneinfo.ZoneInfo(brand.timezone)
    up_to = up_to or timezone.now().astimezone(tz).date()
    if partner is not None and partner.brand_id != actor.brand_id:
        raise NotFoundError("partner", partner.slug)
    eligible = LedgerEntry.objects.filter(
        brand_id=actor.brand_id,
        payout__isnull=True,
        created_at__lt=_end_of_day(up_to, tz),
    ).exclude(kind=EntryKind.PAYOUT)
    if partner is not None:
        eligible = eligible.filter(partner=partner)
    # Locked, so concurrent generators cannot double-cover; the lock re-reads the filter, so
    # an entry settled meanwhile is left out.
    locked_ids = lock_in_pk_order(eligible.values_list("pk", flat=True))
    groups = list(
        LedgerEntry.objects.filter(pk__in=locked_ids)
        .values("partner_id", "partner__slug", "partner__payout_currency", "currency")
        .annotate(total=Sum("amount"), first=Min("created_at"), entries=Count("pk"))
        .order_by("partner_id", "currency")
    )
    today = timezone.now().astimezone(tz).date()  # the payout's rate is its generation day's
    payouts, skipped = [], []
    minimum = brand.min_payout_amount
    for group in groups:
        total = group["total"] or Decimal("0")
        if total <= 0 or total < minimum:
            skipped.append(
                _skip(group["partner__slug"], group["currency"], total, group["entries"], minimum)
            )
            continue
        receives = paid_in(
            brand_id=actor.brand_id,
            partner_currency=group["partner__payout_currency"],
            currency=group["currency"],
            amount=total,
            day=today,
        )
        if receives is None:
            skipped.append(rate_missing_skip(group, total=total, day=today))
            continue
        payout = Payout.objects.create(
            brand_id=actor.brand_id,
            partner_id=group["partner_id"],
            currency=group["currency"],
            amount=total,
            period_start=group["first"].astimezone(tz).date(),
            period_end=up_to,
            **receives.fields(),
        )
        settled = LedgerEntry.objects.filter(
            pk__in=locked_ids, partner_id=group["partner_id"], currency=group["currency"]
        )
        covered = settled.update(payout=payout)
        # The approved conversions whose commissions it covers carry it too (statements, the
        # portal, and the rule that a conversion in a payout is not rejected but reversed). A
        # conversion rejected or reversed before this payout has its commission and its
        # reversal netted here, and is not "in" it.
        conversions = Conversion.objects.filter(
            pk__in=settled.filter(kind=EntryKind.COMMISSION).values("conversion_id"),
            status=ConversionStatus.APPROVED,
        ).update(payout_batch=payout)
        audit_record(
            actor=actor,
            action="payout.generate",
            target=payout,
            changes={
                "amount": [None, payout.amount],
                "currency": [None, payout.currency],
                "entries": [None, covered],
                "conversions": [None, conversions],
                "period_end": [None, up_to],
                **receives.audit_changes(payout.currency),
            },
        )
        payouts.append(payout)
    return PayoutBatch(payouts, skipped)


def _lock_payout(actor: Actor, payout: Payout) -> Payout:
    return lock_one(
        Payout.objects.filter(pk=payout.pk, brand_id=actor.brand_id),
        not_found=("payout", payout.pk),
    )


@transaction.atomic
def payout_mark_paid(
    *, actor: Actor, payout: Payout, method: str, reference: str = "", notes: str = ""
) -> Payout:
    """Flip a pending payout to paid, write its payout entry in the ledger (minus its amount,
    so the entries it settles and it sum to zero) and cascade the approved conversions whose
    commissions it covers to paid, together."""
    actor.require_write()
    if not method.strip():
        raise ValidationError(
            "method is required (e.g. paypal, wire, ach).", fields={"method": ["Required."]}
        )
    # One of the brand's closed list of methods, when it has one (Brand.payout_methods).
    brand = Brand.objects.only("payout_methods").get(pk=actor.brand_id)
    method = payout_method_check(brand, method)
    locked = _lock_payout(actor, payout)
    if locked.status == PayoutStatus.PAID:
        _same_payment_or_conflict(locked, method=method, reference=reference, notes=notes)
        return locked
    if locked.status != PayoutStatus.PENDING:
        raise InvalidTransitionError(f"Cannot mark payout {locked.pk} paid: it is {locked.status}.")
    now = timezone.now()
    locked.status = PayoutStatus.PAID
    locked.method, locked.reference, locked.notes = method.strip()[:64], reference[:200], notes
    locked.paid_at = now
    locked.save(update_fields=["status", "method", "reference", "notes", "paid_at", "updated_at"])
    entry = payout_entry_record(locked, actor=actor)
    covered = Conversion.objects.filter(payout_batch=locked, status=ConversionStatus.APPROVED)
    fields = (
        "brand_id",
        "created_at",
        "offer_id",
        "partner_id",
        "currency",
        "payout",
        "revenue",
        "sale_amount",
    )
    moving = lock_in_pk_order(covered.only(*fields))
    cascaded = covered.update(status=ConversionStatus.PAID, paid_at=now, updated_at=now)
    rollup_conversions_moved(
        moving, tz=brand_tz(actor), old=ConversionStatus.APPROVED, new=ConversionStatus.PAID
    )
    audit_record(
        actor=actor,
        action="payout.mark_paid",
        target=locked,
        changes={
            "status": [PayoutStatus.PENDING, PayoutStatus.PAID],
            "method": [None, locked.method],
            "reference": [None, locked.reference or None],
            "conversions_paid": [None, cascaded],
            "paid_out": [None, -entry.amount],
        },
    )
    events.emit(brand_id=locked.brand_id, event=events.PAYOUT_PAID, data=payout_data(locked))
    return locked


def _same_payment_or_conflict(payout: Payout, *, method: str, reference: str, notes: str) -> None:
    """Paying a paid payout again is a no-op only when it says what was recorded: a repeat
    with another method, reference or note is an error that shows the recorded payment,
    never a success that silently keeps the old values."""
    given = {"method": method.strip()[:64], "reference": reference[:200], "notes": notes}
    recorded = {"method": payout.method, "reference": payout.reference, "notes": payout.notes}
    differs = [
        name
        for name, value in given.items()
        if value != recorded[name] and (name != "notes" or value)  # omitted notes: no claim
    ]
    if differs:
        paid_at = payout.paid_at.isoformat() if payout.paid_at else "unknown"
        raise ConflictError(
            f"Payout {payout.pk} is already paid (method {payout.method!r}, reference "
            f"{payout.reference!r}, paid at {paid_at}); nothing was changed. Its recorded "
            f"{', '.join(differs)} differ from this call's.",
            code="payout_already_paid",
            fields={name: [f"Recorded: {recorded[name]!r}."] for name in differs},
        )


@transaction.atomic
def payout_void(*, actor: Actor, payout: Payout) -> Payout:
    """Cancel a pending payout and release its ledger entries (and the conversions they are
    about) for a later payout."""
    actor.require_write()
    locked = _lock_payout(actor, payout)
    if locked.status == PayoutStatus.VOID:
        return locked
    if locked.status != PayoutStatus.PENDING:
        raise InvalidTransitionError(f"Cannot void payout {locked.pk}: it is {locked.status}.")
    locked.status = PayoutStatus.VOID
    locked.save(update_fields=["status", "updated_at"])
    entries = LedgerEntry.objects.filter(payout=locked).update(payout=None)
    released = Conversion.objects.filter(payout_batch=locked).update(payout_batch=None)
    audit_record(
        actor=actor,
        action="payout.void",
        target=locked,
        changes={
            "status": [PayoutStatus.PENDING, PayoutStatus.VOID],
            "conversions_released": [None, released],
            "entries_released": [None, entries],
        },
    )
    return locked
