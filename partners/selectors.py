"""Reads for partners and coupons. Tenant rule: every selector filters by the actor's brand;
another brand's row is "not found", exactly like one that does not exist."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from audit.actor import Actor
from offers.selectors import offer_get_for_actor
from partners.models import Coupon, Partner
from trcker_site.errors import NotFoundError


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
