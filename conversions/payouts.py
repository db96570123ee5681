"""Payouts: generating them from approved conversions, paying them (which pays the
conversions they cover) and voiding them."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Min, Sum
from django.utils import timezone

from audit.actor import Actor
from audit.services import audit_record
from brands.models import Brand
from conversions.models import (
    Conversion,
    ConversionStatus,
    Payout,
    PayoutStatus,
)
from conversions.rollups import rollup_conversions_moved
from conversions.services import brand_tz
from core.errors import ConflictError, InvalidTransitionError, NotFoundError, ValidationError
from core.locking import lock_in_pk_order, lock_one
from partners.models import Partner


def _end_of_day(day: dt.date, tz: Any) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=tz)


@transaction.atomic
def payouts_generate(
    *, actor: Actor, up_to: dt.date | None = None, partner: Partner | None = None
) -> list[Payout]:
    """One pending payout per partner and currency, covering approved conversions not yet in
    a payout and recorded up to the end of ``up_to`` (brand time zone; default today)."""
    actor.require_write()
    brand = Brand.objects.get(pk=actor.brand_id)
    tz = zoneinfo.ZoneInfo(brand.timezone)
    up_to = up_to or timezone.now().astimezone(tz).date()
    if partner is not None and partner.brand_id != actor.brand_id:
        raise NotFoundError("partner", partner.slug)
    eligible = Conversion.objects.filter(
        brand_id=actor.brand_id,
        status=ConversionStatus.APPROVED,
        payout_batch__isnull=True,
        created_at__lt=_end_of_day(up_to, tz),
        is_test=False,  # never approved (conversion_approve refuses); never paid either way
    )
    if partner is not None:
        eligible = eligible.filter(partner=partner)
    # Locked, so concurrent generators cannot double-cover; the lock re-reads the filter, so
    # a conversion rejected or covered meanwhile is left out.
    locked_ids = lock_in_pk_order(eligible.values_list("pk", flat=True))
    groups = (
        Conversion.objects.filter(pk__in=locked_ids)
        .values("partner_id", "currency")
        .annotate(total=Sum("payout"), first=Min("created_at"))
        .order_by("partner_id", "currency")
    )
    payouts = []
    for group in groups:
        payout = Payout.objects.create(
            brand_id=actor.brand_id,
            partner_id=group["partner_id"],
            currency=group["currency"],
            amount=group["total"] or Decimal("0"),
            period_start=group["first"].astimezone(tz).date(),
            period_end=up_to,
        )
        covered = Conversion.objects.filter(
            pk__in=locked_ids, partner_id=group["partner_id"], currency=group["currency"]
        ).update(payout_batch=payout)
        audit_record(
            actor=actor,
            action="payout.generate",
            target=payout,
            changes={
                "amount": [None, payout.amount],
                "currency": [None, payout.currency],
                "conversions": [None, covered],
                "period_end": [None, up_to],
            },
        )
        payouts.append(payout)
    return payouts


def _lock_payout(actor: Actor, payout: Payout) -> Payout:
    return lock_one(
        Payout.objects.filter(pk=payout.pk, brand_id=actor.brand_id),
        not_found=("payout", payout.pk),
    )


@transaction.atomic
def payout_mark_paid(
    *, actor: Actor, payout: Payout, method: str, reference: str = "", notes: str = ""
) -> Payout:
    """Flip a pending payout to paid and cascade its approved conversions to paid, together."""
    actor.require_write()
    if not method.strip():
        raise ValidationError(
            "method is required (e.g. paypal, wire, ach).", fields={"method": ["Required."]}
        )
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
        },
    )
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
    """Cancel a pending payout and release its conversions for a later payout."""
    actor.require_write()
    locked = _lock_payout(actor, payout)
    if locked.status == PayoutStatus.VOID:
        return locked
    if locked.status != PayoutStatus.PENDING:
        raise InvalidTransitionError(f"Cannot void payout {locked.pk}: it is {locked.status}.")
    locked.status = PayoutStatus.VOID
    locked.save(update_fields=["status", "updated_at"])
    released = Conversion.objects.filter(payout_batch=locked).update(payout_batch=None)
    audit_record(
        actor=actor,
        action="payout.void",
        target=locked,
        changes={
            "status": [PayoutStatus.PENDING, PayoutStatus.VOID],
            "conversions_released": [None, released],
        },
    )
    return locked
