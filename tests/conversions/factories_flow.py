"""Build conversions through the real ingestion service (not by inserting rows)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from audit.actor import Actor, Channel
from conversions import tracking_config
from conversions.postbacks import PostbackInput
from conversions.services import conversion_record
from partners.models import Coupon


def record(
    brand,
    offer,
    *,
    click=None,
    coupon: Coupon | None = None,
    txn_id: str,
    amount: str = "100.00",
    event: str = "sale",
    currency: str | None = None,
):
    tracking_config.clear()
    brand_cfg = tracking_config.brand_config(brand.slug)
    offer_cfg = tracking_config.offer_config(brand_cfg, offer.slug)
    actor = dataclasses.replace(
        Actor.system(
            brand_id=brand.pk, brand_slug=brand.slug, name="postback", channel=Channel.POSTBACK
        ),
        ip="198.51.100.1",
    )
    data = PostbackInput(
        click_id=click.id if click else "",
        txn_id=txn_id,
        amount=Decimal(amount),
        currency=currency or offer.currency,
        event_type=event,
        coupon=coupon.code if coupon else "",
        subs=("", "", "", "", ""),
    )
    return conversion_record(actor=actor, brand=brand_cfg, offer=offer_cfg, data=data).conversion


def accepted_click(brand, offer, partner, *, seconds_ago: int = 3600, **fields):
    from datetime import timedelta

    from django.utils import timezone

    from conversions.models import Click

    return Click.objects.create(
        brand=brand,
        offer=offer,
        partner=partner,
        outcome="accepted",
        created_at=timezone.now() - timedelta(seconds=seconds_ago),
        **fields,
    )
