"""The attribution window (issue 15): a click older than the offer's attribution_window_days
converts nothing; coupons have no window. docs/tracking.md, "Attribution"."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from audit.models import AuditEvent
from conversions import tracking_config
from conversions.diagnosis import offer_diagnose
from conversions.models import Conversion, PostbackAttempt
from conversions.postback_tests import postback_send_test
from offers.services import offer_update
from tests.conftest import make_actor
from tests.conversions.helpers import click, click_id_from
from tests.factories import CouponFactory, OfferFactory, PartnerFactory

CLICKED_AT = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def shop(brand):
    offer = OfferFactory(
        brand=brand, slug="spring-sale", payout_amount=Decimal("10.00"), min_conversion_seconds=0
    )
    partner = PartnerFactory(brand=brand, slug="abc-123")
    return offer, partner


@pytest.fixture
def old_click(client, shop):
    with time_machine.travel(CLICKED_AT, tick=False):
        return click_id_from(click(client, "acme", "spring-sale", "abc-123", sub1="nl"))


def postback_at(client, when: dt.datetime, **params: str):
    tracking_config.clear()
    with time_machine.travel(when, tick=False):
        return client.get("/api/postback/acme/spring-sale", params)


def test_a_click_converts_inside_the_default_30_days_and_not_after(client, shop, old_click):
    inside = postback_at(
        client, CLICKED_AT + dt.timedelta(days=30, minutes=-1), click_id=old_click, txn_id="W-1"
    )
    assert inside.status_code == 200, inside.json()
    assert inside.json()["attribution"]["click_outcome"] == "won"

    late = postback_at(
        client, CLICKED_AT + dt.timedelta(days=30, minutes=1), click_id=old_click, txn_id="W-2"
    )
    assert late.status_code == 422
    error = late.json()["error"]
    assert error["code"] == "click_expired"
    assert "30 days" in error["message"]
    assert error["fields"] == {"click_id": ["Older than 30 days."]}
    # Nothing written for it, and the attempt is in the postback log with its reason.
    assert list(Conversion.objects.values_list("txn_id", flat=True)) == ["W-1"]
    assert AuditEvent.objects.filter(action="conversion.create").count() == 1
    attempt = PostbackAttempt.objects.get(txn_id="W-2")
    assert (attempt.outcome, attempt.http_status, attempt.click_id) == (
        "click_expired",
        422,
        old_click,
    )


def test_the_window_is_the_offers_own(client, brand, shop, old_click):
    offer, _ = shop
    offer_update(actor=make_actor(brand), offer=offer, attribution_window_days=7)
    late = postback_at(
        client, CLICKED_AT + dt.timedelta(days=7, hours=1), click_id=old_click, txn_id="W-3"
    )
    assert (late.status_code, late.json()["error"]["code"]) == (422, "click_expired")
    assert "7 days" in late.json()["error"]["message"]
    offer_update(actor=make_actor(brand), offer=offer, attribution_window_days=90)
    later = postback_at(
        client, CLICKED_AT + dt.timedelta(days=60), click_id=old_click, txn_id="W-3"
    )
    assert later.status_code == 200


def test_a_coupon_has_no_window_and_attributes_beside_an_expired_click(
    client, brand, shop, old_click
):
    coupon_partner = PartnerFactory(brand=brand, slug="coupon-kings")
    CouponFactory(brand=brand, partner=coupon_partner, code="SPRING10")
    # Click precedence: the click would win if it were still in the window.
    brand.attribution_precedence = "click"
    brand.save()
    response = postback_at(
        client,
        CLICKED_AT + dt.timedelta(days=45),
        click_id=old_click,
        coupon="SPRING10",
        txn_id="W-4",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["attribution"] == {
        "winner": "coupon",
        "click_outcome": "expired",
        "coupon_outcome": "won",
    }
    conversion = Conversion.objects.get(pk=body["conversion_id"])
    assert conversion.partner == coupon_partner
    assert conversion.click_id is None  # the expired click is named in attribution only
    assert conversion.attribution["click_id"] == old_click
    assert conversion.sub1 == ""  # nothing of the old click is copied


def test_a_repeat_after_the_window_answers_the_recorded_sale(client, shop, old_click):
    first = postback_at(client, CLICKED_AT + dt.timedelta(days=1), click_id=old_click, txn_id="R")
    again = postback_at(client, CLICKED_AT + dt.timedelta(days=40), click_id=old_click, txn_id="R")
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["conversion_id"] == first.json()["conversion_id"]


@pytest.mark.parametrize("days", [0, 366, -1, "x", None, True, 10**9])
def test_update_offer_refuses_a_window_out_of_range(api, offer, days):
    response = api.patch(
        f"/api/v1/offers/{offer.slug}/", {"attribution_window_days": days}, format="json"
    )
    assert response.status_code in (400, 422), response.json()
    offer.refresh_from_db()
    assert offer.attribution_window_days == 30


def test_the_window_is_set_and_shown_over_rest(api, offer):
    response = api.patch(
        f"/api/v1/offers/{offer.slug}/", {"attribution_window_days": 14}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["attribution_window_days"] == 14
    [change] = response.json()["changes"]
    assert (change["action"], change["changes"]) == (
        "offer.update",
        {"attribution_window_days": [30, 14]},
    )


def test_diagnose_offer_names_postbacks_refused_for_an_expired_click(
    client, brand, shop, old_click
):
    offer, _ = shop
    late = CLICKED_AT + dt.timedelta(days=31)
    postback_at(client, late, click_id=old_click, txn_id="W-5")
    with time_machine.travel(late + dt.timedelta(hours=1), tick=False):
        findings = offer_diagnose(actor=make_actor(brand), offer=offer)["findings"]
    [finding] = [f for f in findings if f["code"] == "postbacks_refused_click_expired"]
    assert finding["evidence"] == {"refused_postbacks": 1, "attribution_window_days": 30}
    assert "update_offer" in finding["fix"]


def test_send_test_postback_states_the_window_and_the_hold(brand, shop):
    offer, partner = shop
    offer_update(actor=make_actor(brand), offer=offer, attribution_window_days=14, hold_days=3)
    offer.refresh_from_db()
    result = postback_send_test(actor=make_actor(brand), offer=offer, partner=partner)
    assert result.ok, result.problems
    assert (result.postback["attribution_window_days"], result.postback["effective_hold_days"]) == (
        14,
        3,
    )
