"""Writes for offers: create, update, lifecycle, caps, payout rules, postback secret.

Each is a top-level transaction that re-reads the offer under a row lock, applies the change,
and writes exactly one audit event (none when nothing changed). What a valid configuration is
(targeting lists, amounts, the postback template's SSRF guard, the currency freeze) lives in
offers.validation."""

from __future__ import annotations

import secrets
import zoneinfo
from datetime import timedelta
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from audit.actor import Actor
from audit.services import audit_record, changes_between, snapshot
from brands.models import Brand
from core.config_cache import tracking_config_changed
from core.errors import ConflictError, InvalidTransitionError, NotFoundError, ValidationError
from core.locking import lock_one
from core.validation import full_clean_or_raise
from offers.cap_counters import cap_counters_seed
from offers.models import AmountType, CapMode, Offer, OfferStatus, PayoutRule
from offers.validation import (
    check_amounts,
    check_currency_unlocked,
    check_postback_template,
    normalise_targeting,
)

if TYPE_CHECKING:
    # Annotations only: partners sits above offers (it imports offers at run time).
    from partners.models import Partner

# Everything offer_update may change; the secret is deliberately absent (rotate it instead).
UPDATABLE_FIELDS = (
    "name",
    "destination_url",
    "fallback_url",
    "currency",
    "payout_type",
    "payout_amount",
    "revenue_type",
    "revenue_amount",
    "postback_url_template",
    "geo_allow",
    "device_allow",
    "postback_allowed_ips",
    "min_conversion_seconds",
    "attribution_window_days",
    "hold_days",
    "recurring_months",
    "recurring_rate_percent",
    "is_private",
    "deep_link_hosts",
    # Opting out of secure-by-default postbacks is a configuration change like any other:
    # audited with its old and new value.
    "allow_unsigned_postbacks",
)
CAP_FIELDS = ("daily_cap", "weekly_cap", "monthly_cap", "cap_mode")


def _unique_slug(brand_id: int, name: str) -> str:
    base = (slugify(name) or "offer")[:56].strip("-") or "offer"
    slug, n = base, 1
    while Offer.objects.filter(brand_id=brand_id, slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def offer_create(
    *,
    actor: Actor,
    name: str,
    destination_url: str,
    payout_amount: Decimal,
    payout_type: str = AmountType.FLAT,
    offer_id: str | None = None,
    currency: str | None = None,
    revenue_type: str = AmountType.FLAT,
    revenue_amount: Decimal = Decimal("0"),
    fallback_url: str = "",
    postback_url_template: str | None = None,
    geo_allow: list[str] | None = None,
    device_allow: list[str] | None = None,
    deep_link_hosts: list[str] | None = None,
) -> Offer:
    """Create an active offer. ``offer_id`` (the slug) is derived from the name if omitted.

    Secure by default: the offer gets an inbound-postback secret now (``offer.postback_secret``
    on the returned instance; interfaces show it once, in the create answer) and refuses
    unsigned postbacks until ``allow_unsigned_postbacks`` or ``postback_allowed_ips`` is set."""
    actor.require_write()
    targeting = {
        "geo_allow": geo_allow or [],
        "device_allow": device_allow or [],
        "deep_link_hosts": deep_link_hosts or [],
    }
    normalise_targeting(targeting)
    brand = Brand.objects.get(pk=actor.brand_id)
    offer = Offer(
        brand=brand,
        slug=offer_id or _unique_slug(actor.brand_id, name),
        name=name,
        destination_url=destination_url,
        fallback_url=fallback_url or "",
        currency=currency or brand.currency,
        payout_type=payout_type,
        payout_amount=payout_amount,
        revenue_type=revenue_type,
        revenue_amount=revenue_amount,
        postback_url_template=postback_url_template or None,
        postback_secret=_new_postback_secret(),
        **targeting,
    )
    check_amounts(offer)
    full_clean_or_raise(offer)
    check_postback_template(offer.postback_url_template)
    try:
        with transaction.atomic():
            offer.save()
    except IntegrityError:
        raise ConflictError(
            f"An offer with offer_id {offer.slug!r} already exists in this brand.",
            code="offer_id_taken",
        ) from None
    audit_record(
        actor=actor,
        action="offer.create",
        target=offer,
        # The secret itself never enters the audit log: only the fact one was made.
        changes={
            **{name: [None, value] for name, value in snapshot(offer, UPDATABLE_FIELDS).items()},
            "has_postback_secret": [None, True],
        },
    )
    tracking_config_changed(actor.brand_id)
    return offer


def _new_postback_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _lock(actor: Actor, offer: Offer) -> Offer:
    return lock_one(
        Offer.objects.filter(pk=offer.pk, brand_id=actor.brand_id),
        not_found=("offer", offer.slug),
    )


def _lock_editable(actor: Actor, offer: Offer) -> Offer:
    """Lock an offer whose configuration may change: archived offers are frozen."""
    locked = _lock(actor, offer)
    if locked.status == OfferStatus.ARCHIVED:
        raise InvalidTransitionError(
            f"Offer {locked.slug!r} is archived; archived offers cannot be changed."
        )
    return locked


@transaction.atomic
def offer_update(*, actor: Actor, offer: Offer, **fields: Any) -> Offer:
    """Change any of UPDATABLE_FIELDS; ``postback_url_template=None`` clears the template."""
    actor.require_write()
    unknown = set(fields) - set(UPDATABLE_FIELDS)
    if unknown:
        raise ValidationError(
            f"These fields cannot be changed here: {', '.join(sorted(unknown))}.",
            fields={name: ["Not updatable."] for name in sorted(unknown)},
        )
    locked = _lock_editable(actor, offer)
    normalise_targeting(fields)
    if fields.get("currency", locked.currency) != locked.currency:
        check_currency_unlocked(locked)
    before = snapshot(locked, UPDATABLE_FIELDS)
    for name, value in fields.items():
        if name == "fallback_url" and value is None:
            value = ""
        setattr(locked, name, value)
    check_amounts(locked)
    full_clean_or_raise(locked)
    if "postback_url_template" in fields:
        check_postback_template(locked.postback_url_template)
    changes = changes_between(before, snapshot(locked, UPDATABLE_FIELDS))
    if changes:
        locked.save()
        audit_record(actor=actor, action="offer.update", target=locked, changes=changes)
        tracking_config_changed(actor.brand_id)
    return locked


_TRANSITIONS = {
    # action: (allowed from, to)
    "pause": ({OfferStatus.ACTIVE}, OfferStatus.PAUSED),
    "resume": ({OfferStatus.PAUSED}, OfferStatus.ACTIVE),
    "archive": ({OfferStatus.ACTIVE, OfferStatus.PAUSED}, OfferStatus.ARCHIVED),
}


def _transition(actor: Actor, offer: Offer, action: str) -> Offer:
    actor.require_write()
    allowed_from, target = _TRANSITIONS[action]
    locked = _lock(actor, offer)
    if locked.status == target:
        return locked  # idempotent: already there, nothing to audit
    if locked.status not in allowed_from:
        raise InvalidTransitionError(
            f"Cannot {action} offer {locked.slug!r}: it is {locked.status}."
        )
    old = locked.status
    locked.status = target
    locked.save(update_fields=["status", "updated_at"])
    audit_record(
        actor=actor, action=f"offer.{action}", target=locked, changes={"status": [old, target]}
    )
    tracking_config_changed(actor.brand_id)
    return locked


@transaction.atomic
def offer_pause(*, actor: Actor, offer: Offer) -> Offer:
    """Pause: the click handler refuses new clicks; recorded conversions are untouched."""
    return _transition(actor, offer, "pause")


@transaction.atomic
def offer_resume(*, actor: Actor, offer: Offer) -> Offer:
    return _transition(actor, offer, "resume")


@transaction.atomic
def offer_archive(*, actor: Actor, offer: Offer) -> Offer:
    """Archive for good: no clicks, no edits; history stays reportable."""
    return _transition(actor, offer, "archive")


class Keep(Enum):
    """A cap argument left out: the cap stays as it is (None clears it)."""

    CAP = "keep"


@transaction.atomic
def offer_set_caps(
    *,
    actor: Actor,
    offer: Offer,
    daily: int | Literal[Keep.CAP] | None = Keep.CAP,
    weekly: int | Literal[Keep.CAP] | None = Keep.CAP,
    monthly: int | Literal[Keep.CAP] | None = Keep.CAP,
    mode: str | None = None,
) -> Offer:
    """Set conversion caps per day/week/month (brand time zone): only the caps given change,
    and None clears one (``set_cap {"daily": 250}`` keeps the weekly and monthly caps)."""
    actor.require_write()
    caps = {"daily_cap": daily, "weekly_cap": weekly, "monthly_cap": monthly}
    for name, value in (("daily", daily), ("weekly", weekly), ("monthly", monthly)):
        if isinstance(value, int) and value < 0:
            raise ValidationError(
                f"{name} cap cannot be negative.", fields={name: ["Must be ≥ 0."]}
            )
    if mode is not None and mode not in CapMode.values:
        raise ValidationError("mode must be soft or hard.", fields={"mode": ["Use soft or hard."]})
    locked = _lock_editable(actor, offer)
    before = snapshot(locked, CAP_FIELDS)
    for attribute, value in caps.items():
        if value is not Keep.CAP:
            setattr(locked, attribute, value)
    if mode is not None:
        locked.cap_mode = mode
    changes = changes_between(before, snapshot(locked, CAP_FIELDS))
    if changes:
        locked.save(update_fields=[*CAP_FIELDS, "updated_at"])
        # A cap set mid-period counts what the period already holds (offers.cap_counters).
        held = cap_counters_seed(
            locked, now=timezone.now(), tz=zoneinfo.ZoneInfo(locked.brand.timezone)
        )
        if any(held.values()):
            changes["counted_this_period"] = [None, held]
        audit_record(actor=actor, action="offer.set_caps", target=locked, changes=changes)
        tracking_config_changed(actor.brand_id)
    return locked


@transaction.atomic
def offer_set_payout_rule(
    *,
    actor: Actor,
    offer: Offer,
    payout_type: str,
    payout_amount: Decimal,
    partner: Partner | None = None,
    event_type: str = "",
    revenue_type: str = "",
    revenue_amount: Decimal | None = None,
) -> PayoutRule:
    """Create or replace the payout override for a partner, an event type, or both."""
    actor.require_write()
    if partner is None and not event_type:
        raise ValidationError("A payout rule needs a partner_id, an event_type, or both.")
    if partner is not None and partner.brand_id != actor.brand_id:
        raise NotFoundError("partner", partner.slug)
    if payout_type not in AmountType.values:
        raise ValidationError(
            "payout_type must be flat or percent.", fields={"payout_type": ["Invalid."]}
        )
    if revenue_type and revenue_type not in AmountType.values:
        raise ValidationError(
            "revenue_type must be flat or percent.", fields={"revenue_type": ["Invalid."]}
        )
    if revenue_amount is not None and (
        revenue_amount < 0 or (revenue_type == AmountType.PERCENT and revenue_amount > 100)
    ):
        raise ValidationError(
            "revenue_amount must be ≥ 0, and ≤ 100 when revenue_type is percent.",
            fields={"revenue_amount": ["Out of range."]},
        )
    if payout_amount < 0 or (payout_type == AmountType.PERCENT and payout_amount > 100):
        raise ValidationError(
            "payout_amount must be ≥ 0, and ≤ 100 when payout_type is percent.",
            fields={"payout_amount": ["Out of range."]},
        )
    locked = _lock_editable(actor, offer)
    rule = (
        PayoutRule.objects.select_for_update()
        .filter(offer=locked, partner=partner, event_type=event_type)
        .first()
    )
    fields = ("payout_type", "payout_amount", "revenue_type", "revenue_amount")
    before = snapshot(rule, fields) if rule else {}
    if rule is None:
        rule = PayoutRule(
            brand_id=actor.brand_id, offer=locked, partner=partner, event_type=event_type
        )
    rule.payout_type, rule.payout_amount = payout_type, payout_amount
    rule.revenue_type, rule.revenue_amount = revenue_type, revenue_amount
    changes = changes_between(before, snapshot(rule, fields))
    if changes:
        rule.save()
        audit_record(
            actor=actor,
            action="offer.set_payout_rule",
            target=locked,
            changes={
                "rule": [
                    None,
                    {"partner_id": partner.slug if partner else None, "event_type": event_type},
                ],
                **changes,
            },
        )
        tracking_config_changed(actor.brand_id)
    return rule


@transaction.atomic
def offer_delete_payout_rule(*, actor: Actor, rule: PayoutRule) -> None:
    actor.require_write()
    if rule.brand_id != actor.brand_id:
        raise NotFoundError("payout rule", rule.pk)
    offer = _lock(actor, rule.offer)
    audit_record(
        actor=actor,
        action="offer.delete_payout_rule",
        target=offer,
        changes={
            "rule": [
                {
                    "partner_id": rule.partner.slug if rule.partner else None,
                    "event_type": rule.event_type,
                    "payout_type": rule.payout_type,
                    "payout_amount": rule.payout_amount,
                },
                None,
            ],
        },
    )
    tracking_config_changed(actor.brand_id)
    rule.delete()


@transaction.atomic
def offer_rotate_postback_secret(
    *, actor: Actor, offer: Offer, grace_seconds: int | None = None
) -> tuple[Offer, str]:
    """Generate a new inbound-postback secret and return it once. The previous secret keeps
    working for ``grace_seconds`` (default TRCKER_POSTBACK_SECRET_GRACE_SECONDS, 0 = revoke
    at once, as when a secret has leaked)."""
    actor.require_write()
    grace = (
        settings.TRCKER_POSTBACK_SECRET_GRACE_SECONDS if grace_seconds is None else grace_seconds
    )
    if not 0 <= grace <= 7 * 24 * 3600:
        raise ValidationError("grace_seconds must be between 0 and 604800 (7 days).")
    locked = _lock(actor, offer)
    new_secret = _new_postback_secret()
    had_secret = bool(locked.postback_secret)
    if had_secret and grace > 0:
        locked.previous_postback_secret = locked.postback_secret
        locked.previous_secret_valid_until = timezone.now() + timedelta(seconds=grace)
    else:
        locked.previous_postback_secret = ""
        locked.previous_secret_valid_until = None
    locked.postback_secret = new_secret
    locked.save(
        update_fields=[
            "postback_secret",
            "previous_postback_secret",
            "previous_secret_valid_until",
            "updated_at",
        ]
    )
    # The secret itself never enters the audit log: only the fact it changed.
    audit_record(
        actor=actor,
        action="offer.rotate_postback_secret",
        target=locked,
        changes={"has_postback_secret": [had_secret, True], "grace_seconds": [None, grace]},
    )
    tracking_config_changed(actor.brand_id)
    return locked, new_secret


@transaction.atomic
def offer_set_allowed_partners(
    *, actor: Actor, offer: Offer, partners: list[Partner], is_private: bool = True
) -> Offer:
    """Make an offer private to the given partners (their clicks only), or public again with
    ``is_private=False``. The list replaces the previous one."""
    actor.require_write()
    locked = _lock_editable(actor, offer)
    foreign = [partner.slug for partner in partners if partner.brand_id != actor.brand_id]
    if foreign:
        raise NotFoundError("partner", foreign[0])
    before = sorted(locked.allowed_partners.values_list("slug", flat=True))
    after = sorted({partner.slug for partner in partners})
    changes: dict[str, list[Any]] = {}
    if before != after:
        locked.allowed_partners.set(partners)
        changes["allowed_partner_ids"] = [before, after]
    if locked.is_private != is_private:
        changes["is_private"] = [locked.is_private, is_private]
        locked.is_private = is_private
        locked.save(update_fields=["is_private", "updated_at"])
    if changes:
        audit_record(
            actor=actor, action="offer.set_allowed_partners", target=locked, changes=changes
        )
        tracking_config_changed(actor.brand_id)
    return locked
