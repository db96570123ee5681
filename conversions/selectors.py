"""Reads for clicks, conversions, payouts, deliveries and stats. Tenant rule: every selector
filters by the actor's brand; another brand's row is "not found", like a missing one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import QuerySet

from audit.actor import Actor
from brands.webhook_models import WebhookEndpoint
from conversions.models import Click, Conversion, ConversionStatus, Payout, PostbackDelivery
from core.errors import NotFoundError, ValidationError
from offers.selectors import offer_get_for_actor
from partners.selectors import partner_get_for_actor

# The sorts a conversion list offers; each ends with the pk so keyset paging has a total order.
CONVERSION_ORDERINGS = (
    "-created_at",
    "created_at",
    "-fraud_score",
    "fraud_score",
    "-sale_amount",
    "sale_amount",
    "-payout",
    "payout",
)


def check_score_range(low: int | None, high: int | None) -> None:
    for name, value in (("min_fraud_score", low), ("max_fraud_score", high)):
        if value is not None and not 0 <= value <= 100:
            raise ValidationError(
                f"{name} must be between 0 and 100.", fields={name: ["Out of range."]}
            )
    if low is not None and high is not None and low > high:
        raise ValidationError(
            "min_fraud_score must not be above max_fraud_score.",
            fields={"min_fraud_score": ["Above max_fraud_score."]},
        )


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
    max_fraud_score: int | None = None,
    order_by: str = "-created_at",
    include_test: bool = False,
) -> QuerySet[Conversion]:
    """The brand's conversions. Test conversions (``send_test_postback``) are left out unless
    ``include_test``: lists, the review queue, bulk filters and statements see real sales
    only, while a test's id still finds it (``conversion_get_for_actor``, ``trace_click``)."""
    if order_by not in CONVERSION_ORDERINGS:
        raise ValidationError(
            f"order_by must be one of {', '.join(CONVERSION_ORDERINGS)}.",
            fields={"order_by": ["Unknown ordering."]},
        )
    check_score_range(min_fraud_score, max_fraud_score)
    qs = Conversion.objects.filter(brand_id=actor.brand_id).select_related("offer", "partner")
    if not include_test:
        qs = qs.filter(is_test=False)
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
    if max_fraud_score is not None:
        qs = qs.filter(fraud_score__lte=max_fraud_score)
    # The pk breaks ties in the sort's direction, so equal scores or amounts page stably.
    return qs.order_by(order_by, "-pk" if order_by.startswith("-") else "pk")


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
        return conversion_list(actor=actor, include_test=True).get(pk=conversion_id)
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
    *,
    actor: Actor,
    status: str | None = None,
    conversion_id: str | None = None,
    kind: str | None = None,
    webhook: WebhookEndpoint | None = None,
) -> QuerySet[PostbackDelivery]:
    """The outbox's rows: postbacks and webhooks (``kind``), newest first."""
    qs = PostbackDelivery.objects.filter(brand_id=actor.brand_id).select_related("conversion")
    if status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    if webhook is not None:
        qs = qs.filter(endpoint=webhook)
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
