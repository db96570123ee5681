"""Hostile text at the click and postback endpoints: cleaned once at the edge, stored clean
(PostgreSQL refuses a NUL in text outright), and malformed slugs answered "unknown" without a
database lookup — a 4xx in the endpoint's own shape, never a 5xx."""

import json
from urllib.parse import quote

import pytest

from audit.models import AuditEvent
from conversions.models import Click, Conversion
from tests.conversions.helpers import CHROME, click, click_id_from
from tests.factories import OfferFactory, PartnerFactory

HOSTILE = "\x00a\x01b\x1fc\x7fd\x85e\x9f"  # NUL, C0, DEL and C1 controls around "abcde"


@pytest.fixture
def shop(brand):
    offer = OfferFactory(
        brand=brand,
        slug="spring-sale",
        destination_url="https://shop.example.com/land?c={CLICK_ID}&s1={SUB1}",
        min_conversion_seconds=0,
    )
    partner = PartnerFactory(brand=brand, slug="abc-123")
    return offer, partner


# --- clicks ----------------------------------------------------------------------------------


def test_click_with_control_characters_everywhere_is_redirected_and_stored_clean(client, shop):
    response = client.get(
        "/c/acme/spring-sale/abc-123",
        {f"sub{i}": f"s{i}{HOSTILE}" for i in range(1, 6)},
        HTTP_USER_AGENT=CHROME + HOSTILE,
        HTTP_REFERER="https://news.example/" + HOSTILE,
        REMOTE_ADDR="81.2.69.142",
    )
    assert response.status_code == 302, response.content[:300]
    assert "%00" not in response["Location"]  # {SUB1} in the destination is the clean text
    stored = Click.objects.get()
    assert [stored.sub1, stored.sub2, stored.sub3, stored.sub4, stored.sub5] == [
        f"s{i}abcde" for i in range(1, 6)
    ]
    assert stored.user_agent == CHROME + "abcde"
    assert stored.referrer == "https://news.example/abcde"


def test_cleaned_sub_ids_are_clipped_to_the_column(client, shop):
    # Removed characters do not count against the limit; the kept ones are clipped to it.
    click(client, "acme", "spring-sale", "abc-123", sub1="\x00" * 100 + "y" * 400)
    assert Click.objects.get().sub1 == "y" * 255


def test_huge_user_agent_and_referrer_are_clipped(client, shop):
    client.get(
        "/c/acme/spring-sale/abc-123",
        HTTP_USER_AGENT="u" * 5000,
        HTTP_REFERER="https://r.example/" + "r" * 5000,
    )
    stored = Click.objects.get()
    assert (len(stored.user_agent), len(stored.referrer)) == (512, 1024)


@pytest.mark.parametrize(
    "path",
    [
        "/c/%00/spring-sale/abc-123",
        "/c/acme/%00/abc-123",
        "/c/acme/spring-sale/%00",
        "/c/ac%00me/spring-sale/abc-123",
        "/c/acme/spring-sale%01/abc-123",
        "/c/acme/spring-sale/abc-123%7f",
        "/c/acme/spring-sale/abc-123%C2%85",
        "/c/acme/spring-sale/abc-123%0a",
        "/c/%ff%fe/spring-sale/abc-123",
        "/c/" + "a" * 65 + "/spring-sale/abc-123",
        "/c/ACME/spring-sale/abc-123",
    ],
)
def test_click_with_a_malformed_slug_is_the_unknown_link_page_without_a_query(
    client, shop, path, django_assert_num_queries
):
    with django_assert_num_queries(0):
        response = client.get(path, HTTP_USER_AGENT=CHROME)
    assert response.status_code == 404
    assert b"Link not found" in response.content
    assert "no-store" in response["Cache-Control"]
    assert not Click.objects.exists()


# --- postbacks -------------------------------------------------------------------------------


@pytest.fixture
def clicked(client, shop):
    return click_id_from(click(client, "acme", "spring-sale", "abc-123", sub1="newsletter"))


def test_postback_sub_ids_are_stored_clean(client, clicked):
    response = client.get(
        "/api/postback/acme/spring-sale",
        {
            "click_id": clicked,
            "txn_id": "T-nul-1",
            "amount": "5",
            "sub2": "adv\x00\x01id",
            "sub3": "\x9fx" + "z" * 400,
        },
    )
    assert response.status_code == 200, response.content
    assert response.json()["sub2"] == "advid"
    conversion = Conversion.objects.get()
    assert (conversion.sub2, conversion.sub3) == ("advid", "x" + "z" * 254)


def test_postback_user_agent_reaches_the_audit_row_clean(client, clicked):
    response = client.get(
        "/api/postback/acme/spring-sale",
        {"click_id": clicked, "txn_id": "T-ua-1"},
        HTTP_USER_AGENT="adv-bot\x00/1.0\x85",
    )
    assert response.status_code == 200, response.content
    agents = set(AuditEvent.objects.values_list("user_agent", flat=True))
    assert "adv-bot/1.0" in agents
    assert not any("\x00" in agent for agent in agents)


def test_json_sub_ids_are_stored_clean_and_numbers_are_accepted(client, clicked):
    body = {"click_id": clicked, "txn_id": "T-json-1", "amount": 12.5, "sub4": "j\x00son"}
    response = client.post(
        "/api/postback/acme/spring-sale", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert (response.json()["payout"] != "", response.json()["sub4"]) == (True, "json")
    assert Conversion.objects.get().sub4 == "json"


@pytest.mark.parametrize("value", [{"nested": "object"}, ["an", "array"], True, False, [], {}])
def test_json_values_other_than_strings_and_numbers_are_invalid_json(client, clicked, value):
    body = {"click_id": clicked, "txn_id": "T-json-2", "sub1": value}
    response = client.post(
        "/api/postback/acme/spring-sale", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_json"
    assert set(response.json()["error"]) == {"code", "message"}
    assert not Conversion.objects.exists()


def test_json_null_reads_as_absent(client, clicked):
    body = {"click_id": clicked, "txn_id": "T-json-3", "coupon": None, "sub2": None}
    response = client.post(
        "/api/postback/acme/spring-sale", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("txn_id", "T\x001", "invalid_txn_id"),
        ("txn_id", "T\x7f1", "invalid_txn_id"),
        ("txn_id", "T\x851", "invalid_txn_id"),
        ("txn_id", "T1\n\nT2", "invalid_txn_id"),
        ("event", "sale\x00", "invalid_event"),
        ("event", "sa\x01le", "invalid_event"),
        ("coupon", "SAVE\x0010", "unknown_coupon"),
        ("click_id", "clk_aaaaaaaaaa\x00", "unknown_click"),
        ("amount", "1\x00", "invalid_amount"),
        ("currency", "US\x00", "invalid_currency"),
    ],
)
def test_identifiers_with_control_characters_are_refused_not_cleaned(
    client, clicked, field, value, code
):
    params = {"click_id": clicked, "txn_id": "T-ctl-1", field: value}
    response = client.get("/api/postback/acme/spring-sale", params)
    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == code
    assert not Conversion.objects.exists()


@pytest.mark.parametrize(
    ("brand_slug", "offer_slug"),
    [
        ("%00", "spring-sale"),
        ("acme", "%00"),
        ("ac%00me", "spring-sale"),
        ("acme", "spring-sale%01"),
        ("acme", "spring-sale%0a"),
        ("acme", "%ff"),
        ("a" * 65, "spring-sale"),
        ("acme", "Spring-Sale"),
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_postback_with_a_malformed_slug_is_unknown_offer_without_a_query(
    client, clicked, brand_slug, offer_slug, method, django_assert_num_queries
):
    url = f"/api/postback/{brand_slug}/{offer_slug}?click_id={quote(clicked)}&txn_id=T-slug-1"
    with django_assert_num_queries(0):
        response = getattr(client, method)(url)
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "unknown_offer"


def test_rollup_of_maximum_amounts_in_one_day_is_no_5xx(client, shop):
    # Found by test_edge_fuzz.py: a day's sum of maximum amounts overflowed the rollup's
    # money columns (a DataError, so a 503 the advertiser retries for ever).
    statuses = []
    for n in range(4):
        clicked = click_id_from(click(client, "acme", "spring-sale", "abc-123"))
        response = client.get(
            "/api/postback/acme/spring-sale",
            {"click_id": clicked, "txn_id": f"T-max-{n}", "amount": "999999999999.99"},
        )
        statuses.append((response.status_code, response.json().get("status")))
    assert all(code < 500 for code, _ in statuses), statuses


def test_a_percentage_payout_too_large_to_store_is_a_final_422(client, shop):
    from decimal import Decimal

    from conversions.models import Conversion

    offer, _ = shop
    offer.revenue_type, offer.revenue_amount = "percent", Decimal("500")
    offer.save()
    from conversions import tracking_config

    tracking_config.clear()
    clicked = click_id_from(click(client, "acme", "spring-sale", "abc-123"))
    response = client.get(
        "/api/postback/acme/spring-sale",
        {"click_id": clicked, "txn_id": "T-huge", "amount": "999999999999.99"},
    )
    assert response.status_code == 422, response.content  # not a 503 retried for ever
    assert response.json()["error"]["code"] == "amount_out_of_range"
    assert not Conversion.objects.filter(txn_id="T-huge").exists()
