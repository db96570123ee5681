"""Reads for partners and coupons. Tenant rule: every selector filters by the actor's brand;
another brand's row is "not found", exactly like one that does not exist."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.actor import Actor
from brands.models import Brand, StaffMembership, StaffRole
from brands.selectors import staff_membership_list
from core.errors import NotFoundError
from offers.models import Offer, OfferStatus
from offers.selectors import offer_get_for_actor
from partners.models import (
    Coupon,
    CouponStatus,
    InvitationStatus,
    Partner,
    PartnerInvitation,
)


def partner_list(
    *, actor: Actor, status: str | None = None, search: str | None = None
) -> QuerySet[Partner]:
    qs = Partner.objects.filter(brand_id=actor.brand_id)
    if status:
        qs = qs.filter(status=status)
    if search:
        qs = qs.filter(
            Q(name__icontains=search) | Q(slug__icontains=search) | Q(email__icontains=search)
        )
    return qs.order_by("-created_at", "-id")


def partner_get_for_actor(*, actor: Actor, partner_id: str) -> Partner:
    try:
        return Partner.objects.get(brand_id=actor.brand_id, slug=partner_id)
    except Partner.DoesNotExist:
        raise NotFoundError("partner", partner_id) from None


def coupon_list(
    *,
    actor: Actor,
    partner_id: str | None = None,
    offer_id: str | None = None,
    status: str | None = None,
) -> QuerySet[Coupon]:
    qs = Coupon.objects.filter(brand_id=actor.brand_id).select_related("partner", "offer")
    if partner_id:
        qs = qs.filter(partner=partner_get_for_actor(actor=actor, partner_id=partner_id))
    if offer_id:
        qs = qs.filter(offer=offer_get_for_actor(actor=actor, offer_id=offer_id))
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


def coupon_get_for_actor(*, actor: Actor, code: str) -> Coupon:
    try:
        return coupon_list(actor=actor).get(code__iexact=code)
    except Coupon.DoesNotExist:
        raise NotFoundError("coupon", code) from None


def application_brand_get(*, brand_slug: str) -> Brand:
    """The brand behind a public application page (``/p/<brand>/apply``). No actor exists yet:
    the visitor is anonymous, and the brand they name becomes the actor's brand."""
    try:
        return Brand.objects.get(slug=brand_slug)
    except Brand.DoesNotExist:
        raise NotFoundError("brand", brand_slug) from None


def partner_email_taken(*, actor: Actor, email: str) -> bool:
    """Whether any partner of the brand (pending, active, paused or rejected) uses this
    address, ignoring case."""
    return Partner.objects.filter(brand_id=actor.brand_id, email__iexact=email.strip()).exists()


def partner_offer_list(*, actor: Actor, partner: Partner) -> QuerySet[Offer]:
    """Active offers the partner may send traffic to: every public one, and the private ones
    that list them in allowed_partners (the click handler's rule)."""
    return (
        Offer.objects.filter(brand_id=actor.brand_id, status=OfferStatus.ACTIVE)
        .filter(Q(is_private=False) | Q(allowed_partners=partner))
        .distinct()
        .order_by("name", "slug")
    )


def partner_active_coupon_list(*, actor: Actor, partner: Partner) -> QuerySet[Coupon]:
    """The partner's usable coupons: active, and valid on every offer or on an active one."""
    return (
        coupon_list(actor=actor, status=CouponStatus.ACTIVE)
        .filter(partner_id=partner.pk)
        .filter(Q(offer__isnull=True) | Q(offer__status=OfferStatus.ACTIVE))
        .order_by("code")
    )


def brand_owner_membership_list(*, actor: Actor) -> QuerySet[StaffMembership]:
    """Owners of the brand who can receive email: active users with an address."""
    return (
        staff_membership_list(actor=actor)
        .filter(role=StaffRole.OWNER, user__is_active=True)
        .exclude(user__email="")
        .order_by("user_id")
    )


def partner_invitation_list(
    *, actor: Actor, status: str | None = None, email: str | None = None
) -> QuerySet[PartnerInvitation]:
    """The brand's invitations, newest first; ``status`` is derived from the row (revoked,
    then accepted, then expired by ``expires_at``, else pending: ``PartnerInvitation.status``)."""
    qs = PartnerInvitation.objects.filter(brand_id=actor.brand_id).select_related("partner")
    if status:
        now = timezone.now()
        live = Q(revoked_at__isnull=True, accepted_at__isnull=True)
        qs = qs.filter(
            {
                InvitationStatus.REVOKED: Q(revoked_at__isnull=False),
                InvitationStatus.ACCEPTED: Q(revoked_at__isnull=True, accepted_at__isnull=False),
                InvitationStatus.EXPIRED: live & Q(expires_at__lte=now),
                InvitationStatus.PENDING: live & Q(expires_at__gt=now),
            }[InvitationStatus(status)]
        )
    if email:
        qs = qs.filter(email__iexact=email.strip())
    return qs.order_by("-created_at", "-id")


def partner_invitation_get_for_actor(*, actor: Actor, invitation_id: str) -> PartnerInvitation:
    try:
        return partner_invitation_list(actor=actor).get(invitation_id=invitation_id)
    except PartnerInvitation.DoesNotExist:
        raise NotFoundError("invitation", invitation_id) from None
