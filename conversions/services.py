"""Writes for conversions, payouts and postback deliveries.

Conversion ingestion is exactly-once: the (offer, event_type, txn_id) unique constraint
decides, and everything a conversion causes — the coupon use, the cap slot, the outbox row,
the audit event — lives in the same transaction as its row, so a duplicate or a failure
leaves nothing behind."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.actor import Actor
from audit.services import audit_record
from brands import events
from brands.models import Brand, FraudMode
from conversions import click_store
from conversions.attribution import Attribution as AttributionChoice
from conversions.attribution import (
    choose_attribution,
    click_expired,
    click_expired_error,
    conversion_subs,
)
from conversions.caps import cap_reached, cap_try_take
from conversions.currency import Original, in_offer_currency
from conversions.fraud import FraudScore, over_threshold, score_conversion
from conversions.ledger import (
    commission_record,
    refund_share_record,
    refunded_total,
    reversal_record,
)
from conversions.models import (
    Click,
    ClickOutcome,
    Conversion,
    ConversionStatus,
    DeliveryStatus,
    PostbackDelivery,
)
from conversions.outbox import enqueue_conversion_event, enqueue_postbacks
from conversions.payouts_math import payout_type_for, resolve_amounts
from conversions.postbacks import PostbackInput
from conversions.rollups import rollup_conversion_added, rollup_conversions_moved
from conversions.tracking_config import BrandConfig, OfferConfig
from conversions.webhooks import conversion_data
from core.errors import ConflictError, InvalidTransitionError, ValidationError
from core.locking import lock_one
from partners.models import Coupon, CouponStatus

REVIEWABLE = {ConversionStatus.PENDING, ConversionStatus.PENDING_REVIEW}
FIRES_POSTBACK = {ConversionStatus.PENDING, ConversionStatus.APPROVED}


@dataclass(frozen=True)
class RecordedConversion:
    conversion: Conversion
    duplicate: bool


def _find_click(brand: BrandConfig, offer: OfferConfig, click_id: str) -> Click | None:
    if not click_id:
        return None
    # [:1] rather than .first(): no ORDER BY to build or run for a primary-key lookup.
    found = Click.objects.select_related("partner").filter(
        pk=click_id, brand_id=brand.id, offer_id=offer.id, outcome=ClickOutcome.ACCEPTED
    )[:1]
    click = next(iter(found), None)
    if click is None:
        # The sale may have been reported before a worker wrote its click: write that click
        # from its queued record, then read it like any other. Read again even when nothing
        # was queued: a worker may have written it (and dropped its record) in between.
        click_store.write_queued(click_id)
        click = next(iter(found.all()), None)
    return click


def _find_coupon(brand: BrandConfig, offer: OfferConfig, code: str) -> Coupon | None:
    if not code:
        return None
    coupon = (
        Coupon.objects.select_related("partner")
        .filter(brand_id=brand.id, code__iexact=code, status=CouponStatus.ACTIVE)
        .first()
    )
    if coupon is None or (coupon.offer_id is not None and coupon.offer_id != offer.id):
        return None
    return coupon


def _find_existing(offer: OfferConfig, data: PostbackInput) -> Conversion | None:
    found = Conversion.objects.filter(
        offer_id=offer.id, event_type=data.event_type, txn_id=data.txn_id
    )[:1]
    return next(iter(found), None)


def conversion_record(
    *, actor: Actor, brand: BrandConfig, offer: OfferConfig, data: PostbackInput
) -> RecordedConversion:
    """Record one reported sale/event, or return the existing one for a repeated txn_id.

    New sales are the common case, so the (offer, event_type, txn_id) unique constraint is
    the duplicate check — no lookup before the INSERT. Whatever refuses a repeat (its click
    purged or expired, its coupon disabled since, or the constraint itself) answers with the
    sale already recorded instead."""
    try:
        # First, so a sale with no rate is refused before any lookup (a repeat still answers
        # with the sale already recorded, below).
        data, original = in_offer_currency(brand, offer, data, now=timezone.now())
        renewal = data.renews is not None
        click = None if renewal else _find_click(brand, offer, data.click_id)
        coupon = None if renewal else _find_coupon(brand, offer, data.coupon)
        if coupon is None and click_expired(offer, click, now=timezone.now()):
            raise click_expired_error(offer)
        if click is None and coupon is None and not renewal:
            if data.click_id:
                raise ValidationError(
                    "Unknown click_id for this offer: it was never issued, was refused, or "
                    "belongs to another offer.",
                    code="unknown_click",
                    fields={"click_id": ["Unknown click."]},
                )
            raise ValidationError(
                "Unknown or inactive coupon for this offer.",
                code="unknown_coupon",
                fields={"coupon": ["Unknown coupon."]},
            )
        with transaction.atomic():
            conversion = _record_new(actor, brand, offer, data, click, coupon, original)
    except (IntegrityError, ValidationError):
        # A repeat, or a concurrent request with the same txn_id that committed first.
        existing = _find_existing(offer, data)
        if existing is None:
            raise
        return RecordedConversion(existing, duplicate=True)
    return RecordedConversion(conversion, duplicate=False)


def _record_new(
    actor: Actor,
    brand: BrandConfig,
    offer: OfferConfig,
    data: PostbackInput,
    click: Click | None,
    coupon: Coupon | None,
    original: Original,
) -> Conversion:
    now = timezone.now()
    if data.renews is not None:
        # A renewal (integrations): its partner is the sale's it renews, whose click may be
        # pruned or past the window by now; no click, no coupon use.
        choice = AttributionChoice(None, False, None, None, "")
        attribution = {"winner": "renewal", "renews": data.renews.pk}
        winner: Click | Coupon | Conversion | None = data.renews
    else:
        choice = choose_attribution(brand, offer, data, click, coupon, now=now)
        attribution = choice.as_json(brand, data, click, coupon)
        click = choice.click  # None when it is older than the attribution window
        winner = coupon if choice.use_coupon else click
    # Never None: the caller refuses a sale with neither, and an accepted click has a partner.
    assert winner is not None
    partner = winner.partner
    assert partner is not None
    payout, revenue = resolve_amounts(
        offer, partner_id=partner.pk, event_type=data.event_type, sale_amount=data.amount
    )
    if data.payout_percent != 100:
        payout = (payout * data.payout_percent / 100).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )
    # A test click's conversion is a test too (send_test_postback): kept out of rollups, caps,
    # the outbox and fraud scoring — its click had no visitor and came milliseconds before it,
    # so timing signals would only say "instant" — and never approved or paid.
    is_test = click is not None and click.is_test
    fraud = FraudScore()
    if data.renews is not None and brand.fraud_mode != FraudMode.OFF:
        # A renewal carries the signals of the sale it renews; no click timing applies.
        fraud = score_conversion(
            click_signals=data.renews.fraud_reasons,
            seconds_since_click=None,
            min_conversion_seconds=offer.min_conversion_seconds,
            has_click=True,
        )
    elif brand.fraud_mode != FraudMode.OFF and not is_test:
        fraud = score_conversion(
            click_signals=click.fraud_signals if click else None,
            seconds_since_click=(now - click.created_at).total_seconds() if click else None,
            min_conversion_seconds=offer.min_conversion_seconds,
            has_click=click is not None,
        )
    status, reason = ConversionStatus.PENDING, ""
    if over_threshold(fraud.score, mode=brand.fraud_mode, threshold=brand.fraud_threshold):
        if brand.fraud_mode == FraudMode.BLOCK:
            status, reason = ConversionStatus.REJECTED, "fraud_blocked"
        else:
            status, reason = ConversionStatus.PENDING_REVIEW, "fraud_review"
    # Rejected conversions take no cap slot; over-cap ones are held (soft) or rejected (hard).
    # A test reads the caps (a full cap shows in its answer) and takes no slot.
    if status != ConversionStatus.REJECTED and offer.has_caps:
        has_room = (
            not cap_reached(offer, now=now, tz=brand.tz)
            if is_test
            else cap_try_take(offer, now=now, tz=brand.tz, brand_id=brand.id)
        )
    else:
        has_room = True
    if not has_room:
        if offer.cap_mode == "hard":
            status, reason = ConversionStatus.REJECTED, "cap_exceeded"
        else:
            status, reason = ConversionStatus.PENDING_REVIEW, "cap_exceeded"
    if status == ConversionStatus.PENDING and choice.hold_reason:
        status, reason = ConversionStatus.PENDING_REVIEW, choice.hold_reason
    subs = conversion_subs(data, click, partner_id=partner.pk)
    flagged = (
        brand.fraud_mode != FraudMode.OFF
        and bool(fraud.signals)
        and fraud.score >= brand.fraud_threshold
    )
    conversion = Conversion.objects.create(
        brand_id=brand.id,
        offer_id=offer.id,
        partner=partner,
        click=click,
        coupon=coupon if choice.use_coupon else None,
        attribution=attribution,
        event_type=data.event_type,
        txn_id=data.txn_id,
        sale_amount=data.amount,
        currency=data.currency,
        **original.fields(),
        payout=payout,
        payout_type=payout_type_for(offer, partner_id=partner.pk, event_type=data.event_type),
        revenue=revenue,
        status=status,
        status_reason=reason,
        fraud_score=fraud.score,
        fraud_reasons=fraud.signals,
        fraud_flagged=flagged,
        is_test=is_test,
        country=click.country if click is not None else "",
        device_class=click.device_class if click is not None else "",
        sub1=subs[0],
        sub2=subs[1],
        sub3=subs[2],
        sub4=subs[3],
        sub5=subs[4],
        created_at=now,
        pending_review_at=now if status == ConversionStatus.PENDING_REVIEW else None,
        rejected_at=now if status == ConversionStatus.REJECTED else None,
    )
    if not is_test:
        rollup_conversion_added(conversion, tz=brand.tz)
    if not is_test:
        if status in FIRES_POSTBACK:
            enqueue_postbacks(
                conversion,
                event=events.CONVERSION_CREATED,
                offer_template=offer.postback_url_template,
                partner_template=partner.postback_url_template,
                offer_slug=offer.slug,
                partner_slug=partner.slug,
            )
        events.emit(
            brand_id=brand.id,
            event=events.CONVERSION_CREATED,
            data=conversion_data(conversion, offer_slug=offer.slug, partner_slug=partner.slug),
        )
    audit_record(
        actor=actor,
        action="conversion.create",
        target=conversion,
        changes={
            "status": [None, status],
            "status_reason": [None, reason],
            "partner_id": [None, partner.slug],
            "txn_id": [None, data.txn_id],
            "sale_amount": [None, data.amount],
            "payout": [None, payout],
            "revenue": [None, revenue],
            "fraud_score": [None, fraud.score],
            **original.audit_changes(offer.currency),
            **({"is_test": [None, True]} if is_test else {}),
        },
    )
    return conversion


def brand_tz(actor: Actor) -> zoneinfo.ZoneInfo:
    """The actor's brand's time zone (day, week and month edges)."""
    return zoneinfo.ZoneInfo(
        Brand.objects.values_list("timezone", flat=True).get(pk=actor.brand_id)
    )


def _lock_conversion(actor: Actor, conversion: Conversion) -> Conversion:
    # The offer and partner come along for the outbound postback, unlocked (of=self).
    locked = lock_one(
        Conversion.objects.select_related("offer", "partner").filter(
            pk=conversion.pk, brand_id=actor.brand_id
        ),
        of=("self",),
        not_found=("conversion", conversion.pk),
    )
    if locked.is_test:
        # Never counted anywhere, so no status move may count it (rollups, payouts, postbacks).
        raise ConflictError(
            f"Conversion {locked.pk} is a test (send_test_postback): it is kept out of stats, "
            "payouts and outbound postbacks and cannot be approved, rejected or paid.",
            code="test_conversion",
        )
    return locked


@transaction.atomic
def conversion_approve(*, actor: Actor, conversion: Conversion) -> Conversion:
    """pending / pending_review → approved. Writes the partner's commission entry in the
    ledger (every approval path comes through here), clears the fraud signal (recording who
    cleared it), fires the outbound postbacks (conversions.outbox.enqueue_postbacks says
    which) and the brand's conversion.approved webhooks."""
    actor.require_write()
    locked = _lock_conversion(actor, conversion)
    if locked.status == ConversionStatus.APPROVED:
        return locked
    if locked.status not in REVIEWABLE:
        raise InvalidTransitionError(
            f"Cannot approve conversion {locked.pk}: it is {locked.status}. Only pending and "
            "pending_review conversions can be approved."
        )
    old_status, old_reason = locked.status, locked.status_reason
    locked.status = ConversionStatus.APPROVED
    locked.approved_at = timezone.now()
    # The hold's reason (fraud_review) explained why it waited; once approved it no longer
    # applies, and the rollups' held-for-review count moves with it.
    locked.status_reason = ""
    changes: dict[str, list[Any]] = {"status": [old_status, locked.status]}
    if old_reason:
        changes["status_reason"] = [old_reason, ""]
    if locked.fraud_score or old_status == ConversionStatus.PENDING_REVIEW:
        locked.fraud_cleared_by = actor.label
        changes["fraud_cleared_by"] = ["", actor.label]
    locked.save(
        update_fields=["status", "status_reason", "approved_at", "fraud_cleared_by", "updated_at"]
    )
    entry = commission_record(locked, actor=actor)
    if entry is not None:
        changes["commission"] = [None, entry.amount]
        # A sale partly refunded while it waited: its revenue share comes off at once.
        refunded = refunded_total(locked)
        share = refunded and refund_share_record(
            locked, actor=actor, refunded=refunded, reason="refund", note="refunded in part"
        )
        if share:
            changes["commission_refunded"] = [None, -share.amount]
    rollup_conversions_moved(
        [locked], tz=brand_tz(actor), old=old_status, new=locked.status, old_reason=old_reason
    )
    enqueue_conversion_event(locked, events.CONVERSION_APPROVED)
    audit_record(actor=actor, action="conversion.approve", target=locked, changes=changes)
    return locked


@transaction.atomic
def conversion_reject(*, actor: Actor, conversion: Conversion, reason: str = "") -> Conversion:
    """pending / pending_review / approved (not yet in a payout) → rejected. Rejecting an
    approved conversion cancels its commission with a reversal entry (reason code
    ``rejected``); a paid one is reversed instead (``conversions.reversals``). Tells the
    postback receivers already told of it and the brand's conversion.rejected webhooks."""
    actor.require_write()
    locked = _lock_conversion(actor, conversion)
    if locked.status == ConversionStatus.REJECTED:
        return locked
    if locked.status == ConversionStatus.REVERSED:
        raise InvalidTransitionError(
            f"Cannot reject conversion {locked.pk}: it is already reversed."
        )
    if locked.status == ConversionStatus.PAID or locked.payout_batch_id:
        raise InvalidTransitionError(
            f"Cannot reject conversion {locked.pk}: it is paid or part of payout "
            f"{locked.payout_batch_id}. Void that payout first."
        )
    old_status, old_reason = locked.status, locked.status_reason
    locked.status = ConversionStatus.REJECTED
    locked.status_reason = (reason.strip() or "manual_rejection")[:64]
    locked.rejected_at = timezone.now()
    locked.save(update_fields=["status", "status_reason", "rejected_at", "updated_at"])
    changes: dict[str, list[Any]] = {
        "status": [old_status, locked.status],
        "reason": [None, reason.strip() or None],
    }
    if old_status == ConversionStatus.APPROVED:
        entry = reversal_record(locked, actor=actor, reason="rejected", note=reason.strip()[:500])
        changes["commission_reversed"] = [None, entry.amount]
    rollup_conversions_moved(
        [locked],
        tz=brand_tz(actor),
        old=old_status,
        new=locked.status,
        old_reason=old_reason,
        new_reason=locked.status_reason,
    )
    enqueue_conversion_event(locked, events.CONVERSION_REJECTED)
    audit_record(
        actor=actor,
        action="conversion.reject",
        target=locked,
        changes=changes,
    )
    return locked


@transaction.atomic
def delivery_replay(*, actor: Actor, delivery: PostbackDelivery) -> PostbackDelivery:
    """Queue a failed or dead outbound postback for one more delivery, now."""
    actor.require_write()
    locked = lock_one(
        PostbackDelivery.objects.filter(pk=delivery.pk, brand_id=actor.brand_id),
        not_found=("delivery", delivery.pk),
    )
    if locked.status not in (DeliveryStatus.DEAD, DeliveryStatus.FAILED):
        raise InvalidTransitionError(
            f"Delivery {locked.pk} is {locked.status}; only failed or dead deliveries can be "
            "replayed."
        )
    old = locked.status
    locked.status = DeliveryStatus.PENDING
    locked.next_attempt_at = timezone.now()
    locked.save(update_fields=["status", "next_attempt_at", "updated_at"])
    audit_record(
        actor=actor,
        action="delivery.replay",
        target=locked,
        target_type="delivery",
        changes={"status": [old, DeliveryStatus.PENDING]},
    )
    return locked
