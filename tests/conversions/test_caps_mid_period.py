"""A cap set or lowered mid-period counts what the period already holds (issue 15, "Tried as a
new user would": set daily 1 after one sale, and the next click still went through)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from audit.models import AuditEvent
from conversions import tracking_config
from conversions.models import Click, Conversion
from conversions.services import conversion_reject
from offers.models import OfferCapCounter
from offers.services import offer_set_caps
from tests.conftest import make_actor
from tests.conversions.helpers import click, click_id_from
from tests.factories import OfferFactory, PartnerFactory

pytestmark = pytest.mark.postgres
NOON = dt.datetime(2026, 3, 4, 12, 0, tzinfo=dt.UTC)  # a Wednesday


@pytest.fixture
def shop(brand):
    offer = OfferFactory(
        brand=brand, slug="spring-sale", payout_amount=Decimal("10.00"), min_conversion_seconds=0
    )
    PartnerFactory(brand=brand, slug="abc-123")
    return offer


def sale(client, txn_id: str) -> dict:
    click_id = click_id_from(click(client, "acme", "spring-sale", "abc-123"))
    tracking_config.clear()
    response = client.get(
        "/api/postback/acme/spring-sale", {"click_id": click_id, "txn_id": txn_id}
    )
    assert response.status_code == 200, response.json()
    return response.json()


def next_click_outcome(client) -> str:
    """The outcome of one more click (written at once inside the test's transaction; its
    config re-read, as on_commit never fires here to announce the cap change)."""
    tracking_config.clear()
    before = set(Click.objects.values_list("pk", flat=True))
    click(client, "acme", "spring-sale", "abc-123")
    return Click.objects.exclude(pk__in=before).get().outcome


@time_machine.travel(NOON, tick=False)
def test_daily_cap_of_one_set_after_one_sale_refuses_the_next_click(client, brand, shop):
    sale(client, "S-1")
    offer_set_caps(actor=make_actor(brand), offer=shop, daily=1)
    assert next_click_outcome(client) == "cap_reached"
    assert OfferCapCounter.objects.get(offer=shop, period="day").count == 1
    event = AuditEvent.objects.get(action="offer.set_caps")
    assert event.changes["counted_this_period"] == [None, {"day": 1}]


@time_machine.travel(NOON, tick=False)
def test_a_cap_set_again_counts_the_sales_made_while_it_was_off(client, brand, shop):
    actor = make_actor(brand)
    offer_set_caps(actor=actor, offer=shop, daily=5, weekly=10)
    sale(client, "S-1")  # counted: the offer is capped
    offer_set_caps(actor=actor, offer=shop, daily=None, weekly=None)
    sale(client, "S-2")  # not counted: no cap, no slot
    sale(client, "S-3")
    assert OfferCapCounter.objects.get(offer=shop, period="day").count == 1
    offer_set_caps(actor=actor, offer=shop, daily=3)
    assert OfferCapCounter.objects.get(offer=shop, period="day").count == 3
    # The weekly counter was not re-seeded: that cap is off, so it counts nothing.
    assert OfferCapCounter.objects.get(offer=shop, period="week").count == 1
    assert next_click_outcome(client) == "cap_reached"
    # Seeding counts; it never moves a sale already recorded.
    assert Conversion.objects.get(txn_id="S-3").status == "pending"


@time_machine.travel(NOON, tick=False)
def test_lowering_a_cap_mid_period_keeps_the_count(client, brand, shop):
    actor = make_actor(brand)
    offer_set_caps(actor=actor, offer=shop, daily=5)
    for n in range(3):
        sale(client, f"S-{n}")
    offer_set_caps(actor=actor, offer=shop, daily=2)
    assert OfferCapCounter.objects.get(offer=shop, period="day").count == 3
    assert next_click_outcome(client) == "cap_reached"


@time_machine.travel(NOON, tick=False)
def test_seeding_counts_only_what_took_a_slot_in_the_current_periods(client, brand, shop):
    actor = make_actor(brand)
    with time_machine.travel(NOON - dt.timedelta(days=1), tick=False):
        sale(client, "YESTERDAY")  # this week (Tuesday), not today
    rejected = sale(client, "REJECTED")
    conversion_reject(actor=actor, conversion=Conversion.objects.get(pk=rejected["conversion_id"]))
    sale(client, "TODAY")
    offer_set_caps(actor=actor, offer=shop, daily=10, weekly=10, monthly=10)
    counts = dict(OfferCapCounter.objects.filter(offer=shop).values_list("period", "count"))
    assert counts == {"day": 1, "week": 2, "month": 2}


@time_machine.travel(NOON, tick=False)
def test_a_cap_change_that_changes_nothing_seeds_nothing(client, brand, shop):
    actor = make_actor(brand)
    sale(client, "S-1")
    offer_set_caps(actor=actor, offer=shop, mode="soft")  # already soft: no change
    assert not OfferCapCounter.objects.exists()
