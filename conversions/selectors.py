"""Reads for clicks, conversions, payouts, deliveries and stats. Tenant rule: every selector
filters by the actor's brand; another brand's row is "not found", like a missing one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import QuerySet

from audit.actor import Actor
from conversions.models import Click, Conversion, ConversionStatus, Payout, PostbackDelivery
from core.errors import NotFoundError
from offers.selectors import offer_get_for_actor
from partners.selectors import partner_get_for_actor


def conversion_list(
    *,
    actor: Actor,
    status: str | Iterable[str] | None = None,
    offer_id: str | None = None,
    partner_id: str | None = None,
    conversion_id: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    min_fraud_score: int | None = None,
) -> QuerySet[Conversion]:
    qs = Conversion.objects.filter(brand_id=actor.brand_id).select_related("offer", "partner")
    if status:
        qs = (
            qs.filter(status=status)
            if isinstance(status, str)
            else qs.filter(status__in=list(status))
        )
    # Filter ids must exist in the brand: another brand's id is "not found", not an empty list.
    if offer_id:
        qs = qs.filter(offer=offer_get_for_actor(actor=actor, offer_id=offer_id))
    if partner_id:
        qs = qs.filter(partner=partner_get_for_actor(actor=actor, partner_id=partner_id))
    if conversion_id:
        if not qs.filter(pk=conversion_id).exists():
            raise NotFoundError("conversion", conversion_id)
        qs = qs.filter(pk=conversion_id)
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    if min_fraud_score is not None:
        qs = qs.filter(fraud_score__gte=min_fraud_score)
    return qs.order_by("-created_at", "-pk")


def conversion_pending_list(
    *, actor: Actor, offer_id: str | None = None, partner_id: str | None = None
) -> QuerySet[Conversion]:
    """The approval queue: pending and pending_review, oldest first."""
    return conversion_list(
        actor=actor,
        status=[ConversionStatus.PENDING, ConversionStatus.PENDING_REVIEW],
        offer_id=offer_id,
        partner_id=partner_id,
    ).order_by("created_at", "pk")


def conversion_get_for_actor(*, actor: Actor, conversion_id: str) -> Conversion:
    try:
        return conversion_list(actor=actor).get(pk=conversion_id)
    except Conversion.DoesNotExist:
        raise NotFoundError("conversion", conversion_id) from None


def click_list(
    *, actor: Actor, offer_id: str | None = None, partner_id: str | None = None
) -> QuerySet[Click]:
    qs = Click.objects.filter(brand_id=actor.brand_id).select_related("offer", "partner")
    if offer_id:
        qs = qs.filter(offer=offer_get_for_actor(actor=actor, offer_id=offer_id))
    if partner_id:
        qs = qs.filter(partner=partner_get_for_actor(actor=actor, partner_id=partner_id))
    return qs.order_by("-created_at", "-pk")


def payout_list(
    *, actor: Actor, status: str | None = None, partner_id: str | None = None
) -> QuerySet[Payout]:
    qs = Payout.objects.filter(brand_id=actor.brand_id).select_related("partner")
    if status:
        qs = qs.filter(status=status)
    if partner_id:
        qs = qs.filter(partner=partner_get_for_actor(actor=actor, partner_id=partner_id))
    return qs.order_by("-created_at", "-pk")


def payout_get_for_actor(*, actor: Actor, payout_id: str) -> Payout:
    try:
        return payout_list(actor=actor).get(pk=payout_id)
    except Payout.DoesNotExist:
        raise NotFoundError("payout", payout_id) from None


def delivery_list(
    *, actor: Actor, status: str | None = None, conversion_id: str | None = None
) -> QuerySet[PostbackDelivery]:
    qs = PostbackDelivery.objects.filter(brand_id=actor.brand_id).select_related("conversion")
    if status:
        qs = qs.filter(status=status)
    if conversion_id:
        qs = qs.filter(
            conversion=conversion_get_for_actor(actor=actor, conversion_id=conversion_id)
        )
    return qs.order_by("-created_at", "-pk")


def delivery_get_for_actor(*, actor: Actor, delivery_id: int) -> PostbackDelivery:
    try:
        return delivery_list(actor=actor).get(pk=delivery_id)
    except (PostbackDelivery.DoesNotExist, ValueError):
        raise NotFoundError("delivery", delivery_id) from None
