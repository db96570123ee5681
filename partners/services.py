"""Writes for partners and coupons. Each runs in its own transaction and is audited in it;
the emails they cause are queued in it too (partners/emails.py), sent by the worker."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify

from audit.actor import Actor
from audit.services import audit_record, changes_between, snapshot
from brands.events import PARTNER_APPLIED, PARTNER_APPROVED, emit
from brands.models import Brand
from core.config_cache import tracking_config_changed
from core.errors import ConflictError, InvalidTransitionError, NotFoundError, ValidationError
from core.locking import lock_one
from core.validation import full_clean_or_raise
from offers.models import Offer
from offers.validation import check_postback_template
from partners.emails import queue_application_notice, queue_partner_welcome
from partners.events import partner_data
from partners.models import Coupon, CouponStatus, Partner, PartnerStatus
from partners.selectors import (
    partner_email_taken,
)

logger = logging.getLogger(__name__)

PARTNER_UPDATABLE_FIELDS = ("name", "email", "website", "postback_url_template", "payout_currency")
APPLICATION_NOTE_MAX = 1000


def _unique_partner_slug(brand_id: int, name: str) -> str:
    base = (slugify(name) or "partner")[:56].strip("-") or "partner"
    slug, n = base, 1
    while Partner.objects.filter(brand_id=brand_id, slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def partner_create(
    *,
    actor: Actor,
    name: str,
    partner_id: str | None = None,
    email: str = "",
    website: str = "",
    status: str = PartnerStatus.ACTIVE,
) -> Partner:
    """Create a partner. Staff-created partners are active unless ``status="pending"``
    (an application awaiting approval)."""
    actor.require_write()
    if status not in (PartnerStatus.ACTIVE, PartnerStatus.PENDING):
        raise ValidationError(
            "A new partner starts as active or pending.",
            fields={"status": ["Use active or pending."]},
        )
    now = timezone.now()
    partner = Partner(
        brand_id=actor.brand_id,
        slug=partner_id or _unique_partner_slug(actor.brand_id, name),
        name=name,
        email=email or "",
        website=website or "",
        status=status,
        applied_at=now if status == PartnerStatus.PENDING else None,
        approved_at=now if status == PartnerStatus.ACTIVE else None,
    )
    full_clean_or_raise(partner, exclude=["brand"])
    try:
        with transaction.atomic():
            partner.save()
    except IntegrityError:
        raise ConflictError(
            f"A partner with partner_id {partner.slug!r} already exists in this brand.",
            code="partner_id_taken",
        ) from None
    audit_record(
        actor=actor,
        action="partner.create",
        target=partner,
        changes={"name": [None, name], "email": [None, partner.email], "status": [None, status]},
    )
    tracking_config_changed(actor.brand_id)
    return partner


@transaction.atomic
def partner_apply(
    *,
    actor: Actor,
    name: str,
    email: str,
    website: str = "",
    partner_id: str | None = None,
    note: str = "",
) -> Partner:
    """A self-service application from the brand's public page: a pending partner, audited as
    ``partner.apply``. One application per email address and brand (any status, ignoring
    case). The brand's owners are emailed after commit. ``note`` (how the applicant will
    promote the brand) has no column of its own: it lives in the audit event and the email."""
    actor.require_write()
    name = " ".join(name.split())
    email = email.strip()
    website = website.strip()
    note = note.strip()
    if not name:
        raise ValidationError("name is required.", fields={"name": ["Required."]})
    if not email:
        raise ValidationError("email is required.", fields={"email": ["Required."]})
    if len(note) > APPLICATION_NOTE_MAX:
        raise ValidationError(
            f"note must be at most {APPLICATION_NOTE_MAX} characters.",
            fields={"note": [f"At most {APPLICATION_NOTE_MAX} characters."]},
        )
    # Applications of one brand take turns, so two submissions of one address cannot both
    # pass the duplicate check (there is no unique constraint on email to fall back on).
    lock_one(
        Brand.objects.only("pk").filter(pk=actor.brand_id), not_found=("brand", actor.brand_slug)
    )
    if partner_email_taken(actor=actor, email=email):
        raise ConflictError(
            "An application with this email address has already been received.",
            code="partner_email_taken",
            fields={"email": ["An application with this email address has already been received."]},
        )
    partner = Partner(
        brand_id=actor.brand_id,
        slug=partner_id or _unique_partner_slug(actor.brand_id, name),
        name=name,
        email=email,
        website=website,
        status=PartnerStatus.PENDING,
        applied_at=timezone.now(),
    )
    full_clean_or_raise(partner, exclude=["brand"])
    try:
        with transaction.atomic():
            partner.save()
    except IntegrityError:
        raise ConflictError(
            f"The partner id {partner.slug!r} is taken; choose another or leave it empty.",
            code="partner_id_taken",
            fields={"partner_id": ["This partner id is taken."]},
        ) from None
    audit_record(
        actor=actor,
        action="partner.apply",
        target=partner,
        changes={
            "name": [None, name],
            "email": [None, email],
            "website": [None, website or None],
            "status": [None, PartnerStatus.PENDING],
            "note": [None, note or None],
        },
    )
    emit(brand_id=actor.brand_id, event=PARTNER_APPLIED, data=partner_data(partner, note=note))
    tracking_config_changed(actor.brand_id)
    queue_application_notice(actor=actor, partner=partner, note=note)
    return partner


def _lock(actor: Actor, partner: Partner) -> Partner:
    return lock_one(
        Partner.objects.filter(pk=partner.pk, brand_id=actor.brand_id),
        not_found=("partner", partner.slug),
    )


@transaction.atomic
def partner_update(*, actor: Actor, partner: Partner, **fields: Any) -> Partner:
    """Change name, email, website, the partner's outbound postback URL template (checked
    by the SSRF guard here and again at every send) or the currency it is paid in."""
    actor.require_write()
    unknown = set(fields) - set(PARTNER_UPDATABLE_FIELDS)
    if unknown:
        raise ValidationError(
            f"These fields cannot be changed here: {', '.join(sorted(unknown))}.",
            fields={name: ["Not updatable."] for name in sorted(unknown)},
        )
    locked = _lock(actor, partner)
    before = snapshot(locked, PARTNER_UPDATABLE_FIELDS)
    for name, value in fields.items():
        setattr(locked, name, value if value is not None else "")
    full_clean_or_raise(locked, exclude=["brand"])
    if "postback_url_template" in fields:
        check_postback_template(locked.postback_url_template)
    changes = changes_between(before, snapshot(locked, PARTNER_UPDATABLE_FIELDS))
    if changes:
        locked.save()
        audit_record(actor=actor, action="partner.update", target=locked, changes=changes)
        tracking_config_changed(actor.brand_id)
    return locked


_TRANSITIONS = {
    "approve": ({PartnerStatus.PENDING}, PartnerStatus.ACTIVE),
    "reject": ({PartnerStatus.PENDING}, PartnerStatus.REJECTED),
    "pause": ({PartnerStatus.ACTIVE}, PartnerStatus.PAUSED),
    "resume": ({PartnerStatus.PAUSED}, PartnerStatus.ACTIVE),
}


def _transition(actor: Actor, partner: Partner, action: str) -> tuple[Partner, bool]:
    actor.require_write()
    allowed_from, target = _TRANSITIONS[action]
    locked = _lock(actor, partner)
    if locked.status == target:  # idempotent: already there, nothing to audit
        return locked, False
    if locked.status not in allowed_from:
        raise InvalidTransitionError(
            f"Cannot {action} partner {locked.slug!r}: it is {locked.status}."
        )
    old = locked.status
    locked.status = target
    changes: dict[str, list[Any]] = {"status": [old, target]}
    if action == "approve":
        locked.approved_at = timezone.now()
        changes["approved_at"] = [None, locked.approved_at]
    locked.save()
    audit_record(actor=actor, action=f"partner.{action}", target=locked, changes=changes)
    tracking_config_changed(actor.brand_id)
    return locked, True


@transaction.atomic
def partner_approve(*, actor: Actor, partner: Partner) -> Partner:
    """Accept an application (pending → active). When the partner has an email address, a
    welcome email and a tracking-setup email with their links are sent after commit."""
    locked, changed = _transition(actor, partner, "approve")
    if changed:
        emit(brand_id=actor.brand_id, event=PARTNER_APPROVED, data=partner_data(locked))
    if changed and locked.email:
        queue_partner_welcome(actor=actor, partner=locked)
    return locked


@transaction.atomic
def partner_reject(*, actor: Actor, partner: Partner) -> Partner:
    return _transition(actor, partner, "reject")[0]


@transaction.atomic
def partner_pause(*, actor: Actor, partner: Partner) -> Partner:
    """Pause brand-wide: new click-throughs are refused; pending conversions stay pending."""
    return _transition(actor, partner, "pause")[0]


@transaction.atomic
def partner_resume(*, actor: Actor, partner: Partner) -> Partner:
    return _transition(actor, partner, "resume")[0]


@transaction.atomic
def coupon_create(
    *,
    actor: Actor,
    partner: Partner,
    code: str,
    offer: Offer | None = None,
    max_uses: int | None = None,
) -> Coupon:
    """Issue a coupon code for a partner (case-insensitive, unique in the brand). A coupon
    reported on a postback attributes the sale to its partner."""
    actor.require_write()
    if partner.brand_id != actor.brand_id:
        raise NotFoundError("partner", partner.slug)
    if offer is not None and offer.brand_id != actor.brand_id:
        raise NotFoundError("offer", offer.slug)
    code = code.strip()
    if not code or len(code) > 64 or not all(ch.isalnum() or ch in "-_" for ch in code):
        raise ValidationError(
            "code must be 1–64 letters, digits, hyphens or underscores.",
            fields={"code": ["Invalid code."]},
        )
    if max_uses is not None and max_uses < 1:
        raise ValidationError("max_uses must be at least 1 (or omitted for unlimited).")
    coupon = Coupon(
        brand_id=actor.brand_id, code=code, partner=partner, offer=offer, max_uses=max_uses
    )
    try:
        with transaction.atomic():
            coupon.save()
    except IntegrityError:
        raise ConflictError(
            f"The coupon code {code!r} is already in use in this brand.", code="coupon_code_taken"
        ) from None
    audit_record(
        actor=actor,
        action="coupon.create",
        target=coupon,
        changes={
            "partner_id": [None, partner.slug],
            "offer_id": [None, offer.slug if offer else None],
            "max_uses": [None, max_uses],
        },
    )
    tracking_config_changed(actor.brand_id)
    return coupon


def _set_coupon_status(actor: Actor, coupon: Coupon, status: str, action: str) -> Coupon:
    actor.require_write()
    locked = lock_one(
        Coupon.objects.filter(pk=coupon.pk, brand_id=actor.brand_id),
        not_found=("coupon", coupon.code),
    )
    if locked.status == status:
        return locked
    old = locked.status
    locked.status = status
    locked.save(update_fields=["status", "updated_at"])
    audit_record(actor=actor, action=action, target=locked, changes={"status": [old, status]})
    tracking_config_changed(actor.brand_id)
    return locked


@transaction.atomic
def coupon_disable(*, actor: Actor, coupon: Coupon) -> Coupon:
    """Disable a coupon: later postbacks naming it no longer attribute through it."""
    return _set_coupon_status(actor, coupon, CouponStatus.DISABLED, "coupon.disable")


@transaction.atomic
def coupon_enable(*, actor: Actor, coupon: Coupon) -> Coupon:
    return _set_coupon_status(actor, coupon, CouponStatus.ACTIVE, "coupon.enable")


def coupon_try_use(*, coupon: Coupon) -> bool:
    """Count one use, atomically and never past max_uses. Runs inside the caller's
    (conversion's) transaction; False when the coupon is used up or disabled."""
    updated = (
        Coupon.objects.filter(pk=coupon.pk, status=CouponStatus.ACTIVE)
        .exclude(max_uses__isnull=False, used_count__gte=F("max_uses"))
        .update(used_count=F("used_count") + 1)
    )
    return updated == 1
