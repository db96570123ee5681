"""The world the partner portal tests read: two partners of one brand with traffic,
conversions in several states, a payout and coupons each, and the same person as a partner
of a second brand with traffic of their own there."""

from __future__ import annotations

import pytest

from conversions.payouts import payouts_generate
from conversions.services import conversion_approve, conversion_reject
from tests.conftest import make_actor
from tests.factories import BrandFactory, CouponFactory, OfferFactory, PartnerFactory
from tests.test_dashboard import EVIL_NAME, EVIL_SUB, convert, visit


@pytest.fixture
def world():
    acme = BrandFactory(slug="acme", name="Acme", timezone="America/New_York")
    globex = BrandFactory(slug="globex", name="Globex")
    shoes = OfferFactory(brand=acme, slug="shoes", name="Running shoes")
    hats = OfferFactory(brand=acme, slug="hats", name="Hats", is_private=True)
    ada = PartnerFactory(brand=acme, slug="ada", name="Ada Media", email="ada@example.com")
    bob = PartnerFactory(brand=acme, slug="bob", name=EVIL_NAME, email="bob@example.com")
    ada_at_globex = PartnerFactory(brand=globex, slug="ada", email="ada@example.com")
    g_offer = OfferFactory(brand=globex, slug="gizmos", name="Gizmos")
    visit(shoes, ada, times=4, sub1="spring-newsletter")
    mine = [convert(shoes, ada, txn=f"ADA-{n}", sub1="spring-newsletter") for n in range(3)]
    theirs = convert(shoes, bob, txn="BOB-1", sub1=EVIL_SUB)
    other_brand = convert(g_offer, ada_at_globex, txn="GLOBEX-1", sub1="globex-sub")
    actor = make_actor(acme)
    conversion_approve(actor=actor, conversion=mine[0])
    conversion_approve(actor=actor, conversion=theirs)
    conversion_reject(actor=actor, conversion=mine[1])
    mine_payout = payouts_generate(actor=actor, partner=ada)[0]
    theirs_payout = payouts_generate(actor=actor, partner=bob)[0]
    CouponFactory(brand=acme, partner=ada, code="ADA10")
    CouponFactory(brand=acme, partner=bob, code="BOB10")
    return {
        "acme": acme,
        "globex": globex,
        "ada": ada,
        "bob": bob,
        "ada_at_globex": ada_at_globex,
        "mine": mine,
        "theirs": theirs,
        "other_brand": other_brand,
        "mine_payout": mine_payout,
        "theirs_payout": theirs_payout,
        "hats": hats,
    }
