"""Reads for offers. Tenant rule: every selector filters by the actor's brand; an offer of
another brand is "not found", exactly like one that does not exist."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from audit.actor import Actor
from core.errors import NotFoundError
from offers.models import Offer, PayoutRule


def offer_list(*, actor: Actor, status: str | None = None) -> QuerySet[Offer]:
    # partners sits above offers (it imports offers), so Partner is reached through the
    # relation offers.models declares by name rather than imported.
    partner_model = Offer._meta.get_field("allowed_partners").related_model
    assert isinstance(partner_model, type)  # a model class once the app registry is ready
    qs = (
        Offer.objects.filter(brand_id=actor.brand_id)
        .select_related("brand")
        .prefetch_related(
            Prefetch(
                "payout_rules",
                queryset=PayoutRule.objects.select_related("partner").order_by("event_type", "id"),
            ),
            Prefetch("allowed_partners", queryset=partner_model._default_manager.order_by("slug")),
        )
    )
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


def offer_get_for_actor(*, actor: Actor, offer_id: str) -> Offer:
    try:
        return offer_list(actor=actor).get(slug=offer_id)
    except Offer.DoesNotExist:
        raise NotFoundError("offer", offer_id) from None
