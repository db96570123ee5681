"""Two brands and three partners with something of everything, for the partner API tests.

``ann`` (brand acme) is the caller. Everything else is what she must never see: ``bob``
(another partner of acme), acme's private offer for bob only, and brand globex, which has a
partner with ann's very slug and an offer with the same slug as acme's public offer. A
conversion credited to ann by her coupon carries in its attribution the click of bob, who
lost it. Markers of what ann must not see are collected in ``World.forbidden``."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from audit.actor import Actor
from brands.models import Brand
from conversions.models import Conversion, Payout
from conversions.payouts import payouts_generate
from conversions.services import conversion_approve, conversion_reject
from partners.api_keys import partner_api_key_create
from partners.models import Partner
from tests.conftest import issue_key, make_actor
from tests.conversions.factories_flow import accepted_click, record
from tests.factories import BrandFactory, CouponFactory, OfferFactory, PartnerFactory


@dataclass
class World:
    brand: Brand
    other_brand: Brand
    ann: Partner
    bob: Partner
    ann_conversions: list[Conversion]
    ann_payout: Payout
    bob_conversion: Conversion
    bob_payout: Payout
    other_brand_conversion: Conversion
    other_brand_payout: Payout
    keys: dict[str, str] = field(default_factory=dict)
    forbidden: set[str] = field(default_factory=set)


def partner_key(partner: Partner, *, write: bool = False) -> str:
    actor = Actor.system(brand_id=partner.brand_id, brand_slug=partner.brand.slug, name="tests")
    _, plaintext = partner_api_key_create(actor=actor, partner=partner, write=write)
    return plaintext


def build_partner_world() -> World:
    brand = BrandFactory(slug="acme", name="Acme Shop")
    other = BrandFactory(slug="globex", name="Globex Corp")
    actor, other_actor = make_actor(brand), make_actor(other)

    ann = PartnerFactory(brand=brand, slug="ann", name="Ann Reviews")
    bob = PartnerFactory(brand=brand, slug="bob", name="Bobby Deals", website="https://bob.example")
    public = OfferFactory(
        brand=brand,
        slug="spring-sale",
        payout_amount=Decimal("10.00"),
        revenue_amount=Decimal("73.00"),
    )
    for_ann = OfferFactory(brand=brand, slug="vip-ann", is_private=True)
    for_ann.allowed_partners.set([ann])
    for_bob = OfferFactory(
        brand=brand, slug="secret-bob", name="Bob's secret deal", is_private=True
    )
    for_bob.allowed_partners.set([bob])

    approved = record(
        brand, public, click=accepted_click(brand, public, ann, sub1="ann-sub"), txn_id="TXN-ANN-1"
    )
    conversion_approve(actor=actor, conversion=approved)
    (ann_payout,) = payouts_generate(actor=actor, partner=ann)
    held = record(brand, for_ann, click=accepted_click(brand, for_ann, ann), txn_id="TXN-ANN-2")
    # A fraud hold, as ingestion would leave it (the score itself is the brand's to see).
    Conversion.objects.filter(pk=held.pk).update(
        status="pending_review", status_reason="fraud_review", fraud_score=88
    )
    rejected = record(brand, public, click=accepted_click(brand, public, ann), txn_id="TXN-ANN-3")
    conversion_reject(actor=actor, conversion=rejected, reason="duplicate order")
    # Ann's coupon wins over bob's click: the attribution names bob's click and bob.
    coupon = CouponFactory(brand=brand, partner=ann, offer=public, code="ANN10")
    bobs_click = accepted_click(brand, public, bob)
    by_coupon = record(brand, public, click=bobs_click, coupon=coupon, txn_id="TXN-ANN-4")

    bob_conversion = record(
        brand, for_bob, click=accepted_click(brand, for_bob, bob), txn_id="TXN-BOB-1"
    )
    conversion_approve(actor=actor, conversion=bob_conversion)
    (bob_payout,) = payouts_generate(actor=actor, partner=bob)

    twin = PartnerFactory(brand=other, slug="ann", name="Globex Ann")
    other_offer = OfferFactory(brand=other, slug="spring-sale", name="Globex spring")
    OfferFactory(brand=other, slug="globex-only", name="Globex only")
    other_conversion = record(
        other, other_offer, click=accepted_click(other, other_offer, twin), txn_id="TXN-GLX-1"
    )
    conversion_approve(actor=other_actor, conversion=other_conversion)
    (other_payout,) = payouts_generate(actor=other_actor, partner=twin)

    world = World(
        brand=brand,
        other_brand=other,
        ann=ann,
        bob=bob,
        ann_conversions=[approved, held, rejected, by_coupon],
        ann_payout=ann_payout,
        bob_conversion=bob_conversion,
        bob_payout=bob_payout,
        other_brand_conversion=other_conversion,
        other_brand_payout=other_payout,
    )
    world.keys = {
        "ann": partner_key(ann),
        "ann_write": partner_key(ann, write=True),
        "bob": partner_key(bob),
        "twin": partner_key(twin),
        "brand": issue_key(brand),
    }
    world.forbidden = {
        # other partners of the brand, and what is theirs
        "bob",
        bob.name,
        bob.email,
        bob.website,
        bobs_click.id,
        bob_conversion.id,
        bob_payout.id,
        for_bob.slug,
        for_bob.name,
        "TXN-BOB-1",
        # the other brand
        other.slug,
        other.name,
        twin.name,
        other_offer.name,
        "globex-only",
        "Globex only",
        other_conversion.id,
        other_payout.id,
        # brand-only fields and values: revenue (73.00 per sale), profit, fraud, the
        # advertiser's transaction ids
        "revenue",
        "profit",
        "fraud_score",
        "fraud_reasons",
        "73.00",
        "TXN-ANN",
        "attribution",
    }
    return world
