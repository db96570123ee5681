"""diagnose_offer: "clicks but no revenue" explained by findings with evidence and a fix."""

from __future__ import annotations

import pytest

from conversions.models import Click, DeliveryStatus, PostbackDelivery
from offers.models import Offer
from tests.conftest import client_with_key, issue_key
from tests.conversions.factories_flow import accepted_click, record
from tests.factories import BrandFactory, OfferFactory, PartnerFactory
from tests.mcp_gateway.helpers import Mcp, structured

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    brand = BrandFactory(slug="acme")
    offer = OfferFactory(brand=brand, slug="spring-sale")
    partner = PartnerFactory(brand=brand, slug="abc-123")
    return brand, offer, partner


def clicks(brand, offer, partner, count, outcome="accepted"):
    made = [accepted_click(brand, offer, partner) for _ in range(count)]
    Click.objects.filter(pk__in=[click.pk for click in made]).update(outcome=outcome)
    return made


def diagnose(brand, offer_id="spring-sale", **arguments):
    return structured(
        Mcp(issue_key(brand)).call("diagnose_offer", {"offer_id": offer_id, **arguments})
    )


def codes(report):
    return [finding["code"] for finding in report["findings"]]


def test_a_healthy_offer_has_no_findings(shop):
    brand, offer, partner = shop
    click, *_ = clicks(brand, offer, partner, 3)
    record(brand, offer, click=click, txn_id="T1")
    report = diagnose(brand)
    assert report["findings"] == []
    assert (report["clicks"], report["accepted_clicks"], report["conversions"]) == (3, 3, 1)


def test_accepted_clicks_without_postbacks(shop):
    brand, offer, partner = shop
    clicks(brand, offer, partner, 5)
    report = diagnose(brand)
    (finding,) = report["findings"]
    assert finding["code"] == "no_postbacks_received"
    assert finding["evidence"]["accepted_clicks"] == 5
    assert "/api/postback/acme/spring-sale?click_id=" in finding["evidence"]["inbound_postback_url"]


def test_a_paused_offer_is_blocking_and_comes_first(shop):
    brand, offer, partner = shop
    Offer.objects.filter(pk=offer.pk).update(status="paused")
    clicks(brand, offer, partner, 4, outcome="offer_paused")
    clicks(brand, offer, partner, 1)
    report = diagnose(brand)
    assert codes(report)[0] == "offer_paused"
    assert report["findings"][0]["severity"] == "blocking"
    assert report["findings"][0]["evidence"]["refused_clicks"] == 4
    assert report["refused_clicks"] == {"offer_paused": 4}


def test_full_caps_and_targeting_are_counted(shop):
    brand, offer, partner = shop
    Offer.objects.filter(pk=offer.pk).update(daily_cap=1, geo_allow=["US"])
    click, *_ = clicks(brand, offer, partner, 2)
    record(brand, offer, click=click, txn_id="T1")
    clicks(brand, offer, partner, 3, outcome="cap_reached")
    clicks(brand, offer, partner, 5, outcome="geo_blocked")
    clicks(brand, offer, partner, 1, outcome="device_blocked")  # under the 20% share: no finding
    report = diagnose(brand)
    assert codes(report) == ["caps_full", "targeting_refuses_clicks"]
    caps, targeting = report["findings"]
    assert (caps["evidence"]["refused_clicks"], caps["evidence"]["clicks"]) == (3, 11)
    assert targeting["evidence"] == {"refused_clicks": 5, "clicks": 11, "outcome": "geo_blocked"}
    assert "US" in targeting["message"]


def test_a_destination_without_click_id(shop):
    brand, offer, partner = shop
    Offer.objects.filter(pk=offer.pk).update(destination_url="https://shop.example.com/landing")
    click, *_ = clicks(brand, offer, partner, 1)
    record(brand, offer, click=click, txn_id="T1")
    assert codes(diagnose(brand)) == ["destination_without_click_id"]


def test_no_clicks_and_failing_outbound_postbacks(shop):
    brand, offer, partner = shop
    assert codes(diagnose(brand)) == ["no_clicks"]
    click, *_ = clicks(brand, offer, partner, 1)
    conversion = record(brand, offer, click=click, txn_id="T1")
    PostbackDelivery.objects.create(
        brand=brand,
        conversion=conversion,
        url="https://adv.example.com/pb",
        status=DeliveryStatus.DEAD,
    )
    (finding,) = diagnose(brand)["findings"]
    assert (finding["code"], finding["evidence"]["failing"]) == ("outbound_postbacks_failing", 1)


def test_old_traffic_is_outside_the_period(shop):
    brand, offer, partner = shop
    accepted_click(brand, offer, partner, seconds_ago=10 * 86400)
    assert diagnose(brand, days=7)["clicks"] == 0
    assert diagnose(brand, days=30)["clicks"] == 1


def test_rest_and_bad_input(shop):
    brand = shop[0]
    api = client_with_key(issue_key(brand))
    assert api.get("/api/v1/offers/spring-sale/diagnosis/").json()["offer_id"] == "spring-sale"
    assert api.get("/api/v1/offers/spring-sale/diagnosis/", {"days": 0}).status_code == 422
    assert api.get("/api/v1/offers/spring-sale/diagnosis/", {"days": 91}).status_code == 422
    assert api.get("/api/v1/offers/nope/diagnosis/").status_code == 404


def test_another_brands_offer_is_not_found(shop):
    brand, offer, partner = shop
    clicks(brand, offer, partner, 3)
    other = BrandFactory(slug="globex")
    result = Mcp(issue_key(other)).call("diagnose_offer", {"offer_id": "spring-sale"})
    assert result["isError"] is True
    assert "not_found" in result["content"][0]["text"]
