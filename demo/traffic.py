"""Thirty days of plausible demo traffic for the demo brand (fixture data, not a service).

Clicks and conversions are generated in bulk with a fixed random seed so the admin and the
stats have something real to show; the money steps after that (payout generation, marking a
payout paid) go through the domain services like any other write."""

from __future__ import annotations

import datetime as dt
import random
import zoneinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.actor import Actor
from audit.services import audit_record
from brands.fx import CENT, fx_quote
from brands.models import Brand
from conversions import tracking_config
from conversions.currency import Original
from conversions.ledger import commissions_bulk, paid_in_bulk
from conversions.models import Click, ClickOutcome, Conversion, ConversionStatus
from conversions.payouts import payout_mark_paid, payouts_generate
from conversions.payouts_math import resolve_amounts
from conversions.rollups import rebuild_brand
from core.ids import new_click_id, new_conversion_id
from demo.fx import SALE_CURRENCY
from offers.models import Offer, OfferStatus
from partners.models import Partner, PartnerStatus

USER_AGENTS = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/126.0 Safari/537.36",
        "desktop",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Safari/605.1.15",
        "desktop",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        "mobile",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
        "mobile",
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        "tablet",
    ),
]
COUNTRIES = ["US", "US", "US", "CA", "GB", "DE", "FR", "AU"]
SUB1 = ["newsletter", "sidebar", "review-post", "instagram", "youtube", ""]
# Stories the demo tells, so the product page's example prompts get real answers:
# - coupon-kings sends suspicious traffic this month ("highest fraud scores this month");
RISKY_PARTNER, RISKY_SHARE, RISKY_DAYS = "coupon-kings", 0.4, 20
# - tech-reviews moved their audience abroad five days ago: their clicks now come from
#   countries pro-plan does not allow, so their conversions dropped ("why did X drop?");
DROPPING_PARTNER, DROP_DAYS, DROP_COUNTRIES = "tech-reviews", 5, ["FR", "AU", "BR", "IN"]
# - a pending conversion with a known id and a low score ("approve conv_9f2a if its fraud
#   score is under 20").
KNOWN_CONVERSION_ID, KNOWN_CONVERSION_SCORE = "conv_9f2a", 12


@transaction.atomic
def seed_demo_traffic(
    *, brand: Brand, actor: Actor, days: int = 30, seed: int = 42
) -> tuple[int, int]:
    if Click.objects.filter(brand=brand).exists():
        return 0, 0
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    tracking_config.clear()
    brand_cfg = tracking_config.brand_config(brand.slug)
    assert brand_cfg is not None
    offers = list(Offer.objects.filter(brand=brand, status=OfferStatus.ACTIVE))
    partners = list(Partner.objects.filter(brand=brand, status=PartnerStatus.ACTIVE))
    weights = {partner.pk: 1 + index * 1.7 for index, partner in enumerate(partners)}
    now = timezone.now()
    clicks: list[Click] = []
    conversions: list[Conversion] = []
    for day in range(days, 0, -1):
        base = now - dt.timedelta(days=day)
        for offer in offers:
            offer_cfg = tracking_config.offer_config(brand_cfg, offer.slug)
            assert offer_cfg is not None
            for partner in partners:
                for _ in range(int(rng.uniform(2, 9) * weights[partner.pk] / 2)):
                    ua, device = rng.choice(USER_AGENTS)
                    created = base + dt.timedelta(seconds=rng.randint(0, 86399))
                    risky = partner.slug == RISKY_PARTNER and day <= RISKY_DAYS
                    suspicious = rng.random() < (RISKY_SHARE if risky else 0.05)
                    score = rng.randint(45, 95) if risky and suspicious else 30
                    country = rng.choice(COUNTRIES)
                    outcome = ClickOutcome.ACCEPTED
                    if partner.slug == DROPPING_PARTNER and day <= DROP_DAYS:
                        country = rng.choice(DROP_COUNTRIES)
                        if offer.geo_allow and country not in offer.geo_allow:
                            outcome = ClickOutcome.GEO_BLOCKED
                    click = Click(
                        id=new_click_id(),
                        brand=brand,
                        offer=offer,
                        partner=partner,
                        created_at=created,
                        ip=f"203.0.113.{rng.randint(1, 254)}",
                        user_agent=ua,
                        country=country,
                        device_class=device,
                        sub1=rng.choice(SUB1),
                        outcome=outcome,
                        is_billable=outcome == ClickOutcome.ACCEPTED,
                        fraud_score=score if suspicious else 0,
                        fraud_signals=[{"signal": "datacenter_ip", "points": score}]
                        if suspicious
                        else [],
                        fraud_flagged=suspicious and score >= brand.fraud_threshold,
                    )
                    clicks.append(click)
                    if outcome != ClickOutcome.ACCEPTED or rng.random() > 0.09:
                        continue
                    sale = Decimal(rng.randint(1500, 25000)) / 100
                    original, sale = _as_reported(brand, offer, country, created, sale)
                    payout, revenue = resolve_amounts(
                        offer_cfg, partner_id=partner.pk, event_type="sale", sale_amount=sale
                    )
                    converted = min(created + dt.timedelta(minutes=rng.randint(1, 600)), now)
                    age = (now - converted).days
                    status = ConversionStatus.PENDING
                    if age > 7:
                        status = (
                            ConversionStatus.REJECTED
                            if rng.random() < 0.08
                            else ConversionStatus.APPROVED
                        )
                    elif suspicious:
                        status = ConversionStatus.PENDING_REVIEW
                    conversions.append(
                        Conversion(
                            id=new_conversion_id(),
                            brand=brand,
                            offer=offer,
                            partner=partner,
                            click=click,
                            country=click.country,
                            device_class=click.device_class,
                            attribution={"winner": "click", "click_id": click.id},
                            event_type="sale",
                            txn_id=f"DEMO-{len(conversions) + 1:05d}",
                            sale_amount=sale,
                            currency=offer.currency,
                            original_amount=original.amount,
                            original_currency=original.currency,
                            fx_rate=original.rate,
                            payout=payout,
                            revenue=revenue,
                            status=status,
                            status_reason="fraud_review"
                            if status == ConversionStatus.PENDING_REVIEW
                            else "",
                            fraud_score=click.fraud_score,
                            fraud_reasons=click.fraud_signals,
                            fraud_flagged=click.fraud_flagged,
                            sub1=click.sub1,
                            created_at=converted,
                            approved_at=converted + dt.timedelta(days=3)
                            if status == ConversionStatus.APPROVED
                            else None,
                            rejected_at=converted + dt.timedelta(days=3)
                            if status == ConversionStatus.REJECTED
                            else None,
                            pending_review_at=converted
                            if status == ConversionStatus.PENDING_REVIEW
                            else None,
                        )
                    )
    conversions.append(_known_conversion(brand, clicks, now))
    Click.objects.bulk_create(clicks, batch_size=2000)
    Conversion.objects.bulk_create(conversions, batch_size=2000)
    # Bulk rows bypass conversion_approve: their commissions go into the ledger here.
    commissions_bulk(conversions, created_by=actor.label)
    rebuild_brand(brand_id=brand.pk)  # bulk rows bypass the per-change increments
    audit_record(
        actor=actor,
        action="demo.seed_traffic",
        target=brand,
        changes={"clicks": [None, len(clicks)], "conversions": [None, len(conversions)]},
    )
    # Pay out the older approved conversions through the services.
    payouts = payouts_generate(actor=actor, up_to=(now - dt.timedelta(days=14)).date())
    for batch in payouts[: max(1, len(payouts) // 2)]:
        payout_mark_paid(
            actor=actor, payout=batch, method="paypal", reference=f"DEMO-{batch.pk[-6:]}"
        )
    return len(clicks), len(conversions)


def _as_reported(
    brand: Brand, offer: Offer, country: str, when: dt.datetime, sale: Decimal
) -> tuple[Original, Decimal]:
    """A sale from a visitor in a country of DEMO's foreign currencies is reported in that
    currency (what the advertiser would send) and converted at the brand's rate of its day:
    (the original, the sale in the offer's currency)."""
    currency = SALE_CURRENCY.get(country, offer.currency)
    quote = fx_quote(
        brand_id=brand.pk,
        base=currency,
        quote=offer.currency,
        day=timezone.localdate(when, zoneinfo.ZoneInfo(brand.timezone)),
    )
    if currency == offer.currency or quote is None:
        return Original(sale, offer.currency), sale
    reported = (sale / quote.rate).quantize(CENT, rounding=ROUND_HALF_UP)
    return Original(reported, currency, quote.rate), (reported * quote.rate).quantize(
        CENT, rounding=ROUND_HALF_UP
    )


def _known_conversion(brand: Brand, clicks: list[Click], now: dt.datetime) -> Conversion:
    """The pending conversion the product page's last example names, on abc-123's traffic."""
    click = next(
        click
        for click in reversed(clicks)
        if click.partner is not None
        and click.partner.slug == "abc-123"
        and click.outcome == ClickOutcome.ACCEPTED
    )
    offer = click.offer
    if offer is None:  # every click generated above names its offer
        raise ValueError("a demo click without an offer")
    sale = Decimal("120.00")
    return Conversion(
        id=KNOWN_CONVERSION_ID,
        brand=brand,
        offer=offer,
        partner=click.partner,
        click=click,
        country=click.country,
        device_class=click.device_class,
        attribution={"winner": "click", "click_id": click.id},
        event_type="sale",
        txn_id="DEMO-9F2A",
        sale_amount=sale,
        currency=offer.currency,
        original_amount=sale,
        original_currency=offer.currency,
        payout=Decimal("15.00"),
        revenue=Decimal("40.00"),
        status=ConversionStatus.PENDING,
        fraud_score=KNOWN_CONVERSION_SCORE,
        fraud_reasons=[{"signal": "new_device", "points": KNOWN_CONVERSION_SCORE}],
        created_at=min(click.created_at + dt.timedelta(minutes=20), now),
    )


VOLUME_ACTOR = "system:seed-volume"
VOLUME_STATUSES = (
    ConversionStatus.PENDING,
    ConversionStatus.APPROVED,
    ConversionStatus.REJECTED,
    ConversionStatus.PAID,
)
EARNED = (ConversionStatus.APPROVED, ConversionStatus.PAID)


def seed_volume(
    *,
    brand: Brand,
    clicks: int,
    conversion_rate: float = 0.1,
    days: int = 30,
    seed: int = 7,
    progress: Any = None,
) -> tuple[int, int]:
    """Bulk volume for benchmarks: ``clicks`` accepted clicks over ``days`` and about
    ``conversion_rate`` of them converted, inserted in batches, then rolled up. Approved and
    paid conversions carry their commission entries (written in bulk with each batch) and the
    paid ones a paid payout per partner and currency, so balances agree with the ledger."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data
    offers = list(Offer.objects.filter(brand=brand))
    partners = list(Partner.objects.filter(brand=brand))
    if not offers or not partners:
        raise ValueError("the brand needs at least one offer and one partner")
    now = timezone.now()
    made_clicks = made_conversions = 0
    batch = 10_000
    while made_clicks < clicks:
        size = min(batch, clicks - made_clicks)
        click_rows: list[Click] = []
        conversion_rows: list[Conversion] = []
        for _ in range(size):
            offer, partner = rng.choice(offers), rng.choice(partners)
            created = now - dt.timedelta(seconds=rng.randint(0, days * 86400 - 1))
            click = Click(
                id=new_click_id(),
                brand=brand,
                offer=offer,
                partner=partner,
                created_at=created,
                outcome=ClickOutcome.ACCEPTED,
                device_class="desktop",
                country="US",
            )
            click_rows.append(click)
            if rng.random() < conversion_rate:
                sale = Decimal(rng.randint(1000, 20000)) / 100
                status = rng.choice(VOLUME_STATUSES)
                converted = min(created + dt.timedelta(minutes=rng.randint(1, 120)), now)
                conversion_rows.append(
                    Conversion(
                        id=new_conversion_id(),
                        brand=brand,
                        offer=offer,
                        partner=partner,
                        click=click,
                        country=click.country,
                        device_class=click.device_class,
                        txn_id=f"VOL-{made_conversions + len(conversion_rows) + 1:09d}",
                        sale_amount=sale,
                        currency=offer.currency,
                        original_amount=sale,
                        original_currency=offer.currency,
                        payout=(sale / 10).quantize(Decimal("0.01")),
                        revenue=(sale / 4).quantize(Decimal("0.01")),
                        payout_type="percent",
                        status=status,
                        created_at=converted,
                        approved_at=converted if status in EARNED else None,
                        paid_at=converted if status == ConversionStatus.PAID else None,
                        rejected_at=converted if status == ConversionStatus.REJECTED else None,
                    )
                )
        with transaction.atomic():
            Click.objects.bulk_create(click_rows, batch_size=5000)
            Conversion.objects.bulk_create(conversion_rows, batch_size=5000)
            # Bulk rows bypass conversion_approve: their commissions go into the ledger here.
            commissions_bulk(conversion_rows, created_by=VOLUME_ACTOR)
        made_clicks += size
        made_conversions += len(conversion_rows)
        if progress:
            progress(made_clicks, clicks)
    # The paid ones were paid: one paid payout per partner and currency settles them.
    with transaction.atomic():
        paid_in_bulk(brand_id=brand.pk, created_by=VOLUME_ACTOR)
    rebuild_brand(brand_id=brand.pk)
    return made_clicks, made_conversions
