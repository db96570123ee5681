"""Issue 14, trace_click: a click, its conversions, their outbound deliveries and the inbound
postbacks that named it — stored or still queued (read, never written), the brand's only."""

from __future__ import annotations

import pytest
from django.test import Client

from conversions import tracking_config
from conversions.models import Click, PostbackDelivery
from tests.conftest import client_with_key, issue_key
from tests.conversions.helpers import click, click_id_from
from tests.factories import BrandFactory, OfferFactory, PartnerFactory
from tests.mcp_gateway.helpers import Mcp, structured
from workers.loop import Worker

DESTINATION = "https://partner.example.com/pb?c={CLICK_ID}"


def postback(client, query: str):
    tracking_config.clear()
    return client.get(f"/api/postback/acme/open?{query}", REMOTE_ADDR="203.0.113.9")


def trace_rest(brand, click_id: str):
    return client_with_key(issue_key(brand, read_only=True)).get(
        f"/api/v1/clicks/{click_id}/trace/"
    )


@pytest.fixture
def shop(brand):
    offer = OfferFactory(
        brand=brand, slug="open", min_conversion_seconds=0, postback_url_template=DESTINATION
    )
    PartnerFactory(brand=brand, slug="abc-123")
    return offer


def test_a_click_with_its_conversion_deliveries_and_attempts(client, brand, shop):
    clicked = click_id_from(click(client, "acme", "open", "abc-123", sub1="s-1"))
    assert postback(client, f"txn_id=T1&click_id={clicked}&currency=EUR").status_code == 422
    assert postback(client, f"txn_id=T1&click_id={clicked}&amount=5").status_code == 200
    other = click_id_from(click(client, "acme", "open", "abc-123"))
    postback(client, f"txn_id=T2&click_id={other}")  # another click's story

    response = trace_rest(brand, clicked)

    assert response.status_code == 200, response.content
    trace = response.json()
    assert (trace["click_id"], trace["queued"]) == (clicked, False)
    stored = Click.objects.get(pk=clicked)
    assert trace["click"]["outcome"] == "accepted"
    assert trace["click"]["sub1"] == "s-1"
    assert trace["click"]["fraud_score"] == stored.fraud_score
    assert trace["click"]["fraud_signals"] == stored.fraud_signals
    assert trace["click"]["offer_id"] == "open" and trace["click"]["partner_id"] == "abc-123"
    (conversion,) = trace["conversions"]
    assert conversion["txn_id"] == "T1" and conversion["click_id"] == clicked
    deliveries = PostbackDelivery.objects.filter(conversion_id=conversion["conversion_id"])
    assert [d["delivery_id"] for d in conversion["deliveries"]] == [d.pk for d in deliveries]
    assert len(conversion["deliveries"]) == 1
    assert [a["outcome"] for a in trace["postback_attempts"]] == [
        "accepted",
        "fx_rate_missing",
    ]
    via_mcp = structured(Mcp(issue_key(brand)).call("trace_click", {"click_id": clicked}))
    assert via_mcp == trace


def test_a_refused_click_shows_its_reason(client, brand, shop):
    shop.status = "paused"
    shop.save()
    tracking_config.clear()
    click(client, "acme", "open", "abc-123")
    refused = Click.objects.get()
    trace = trace_rest(brand, refused.pk).json()
    assert trace["click"]["outcome"] == "offer_paused"
    assert trace["conversions"] == [] and trace["postback_attempts"] == []


def test_a_pruned_click_is_null_while_its_conversions_remain(client, brand, shop):
    clicked = click_id_from(click(client, "acme", "open", "abc-123"))
    postback(client, f"txn_id=T1&click_id={clicked}")
    Click.objects.filter(pk=clicked).delete()
    trace = trace_rest(brand, clicked).json()
    assert trace["click"] is None
    assert [c["txn_id"] for c in trace["conversions"]] == ["T1"]


def test_an_attempt_alone_is_enough_to_trace(client, brand, shop):
    never = "clk_0000000000000000"
    assert postback(client, f"txn_id=T1&click_id={never}").status_code == 422
    trace = trace_rest(brand, never).json()
    assert trace["click"] is None and trace["conversions"] == []
    assert [a["outcome"] for a in trace["postback_attempts"]] == ["unknown_click"]


def test_another_brands_click_is_not_found_like_a_missing_one(client, brand, other_brand, shop):
    theirs_offer = OfferFactory(brand=other_brand, slug="open", min_conversion_seconds=0)
    PartnerFactory(brand=other_brand, slug="abc-123")
    theirs = click_id_from(click(client, "globex", theirs_offer.slug, "abc-123"))
    tracking_config.clear()
    client.get(f"/api/postback/globex/open?txn_id=G1&click_id={theirs}")
    mine = client_with_key(issue_key(brand))
    foreign = mine.get(f"/api/v1/clicks/{theirs}/trace/")
    missing = mine.get("/api/v1/clicks/clk_1111111111111111/trace/")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
    assert trace_rest(other_brand, theirs).status_code == 200


@pytest.mark.parametrize(
    ("click_id", "code"),
    [
        ("nope", "invalid_input"),
        ("clk_%00abcdefghij", "invalid_characters"),
        ("clk_" + "a" * 40, "invalid_input"),
    ],
)
def test_hostile_click_ids_are_refused(brand, click_id, code):
    response = client_with_key(issue_key(brand)).get(f"/api/v1/clicks/{click_id}/trace/")
    assert 400 <= response.status_code < 500
    if response.status_code != 404:  # a path the router cannot match is its plain 404
        assert response.json()["error"]["code"] == code


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_queued_click_is_read_from_the_queue_and_not_written():
    brand = BrandFactory(slug="acme")
    other = BrandFactory(slug="globex")
    OfferFactory(brand=brand, slug="open", min_conversion_seconds=0)
    PartnerFactory(brand=brand, slug="abc-123")
    clicked = click_id_from(click(Client(), "acme", "open", "abc-123", sub1="q"))
    assert not Click.objects.filter(pk=clicked).exists()  # still queued

    trace = trace_rest(brand, clicked).json()
    assert trace["queued"] is True
    assert (trace["click"]["outcome"], trace["click"]["sub1"]) == ("accepted", "q")
    assert not Click.objects.filter(pk=clicked).exists()  # the read wrote nothing
    assert trace_rest(other, clicked).status_code == 404  # another brand's queue record

    Worker(name="w").run_until_idle(queues_only=True)
    written = trace_rest(brand, clicked).json()
    assert written["queued"] is False
    assert written["click"] == trace["click"]
