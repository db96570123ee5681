"""One keyset cursor for REST and MCP lists: it follows the list's own order, is not shifted by
rows added while a client pages, and belongs to its list and its filters."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from django.utils import timezone

from offers.models import Offer
from tests.conftest import client_with_key, issue_key
from tests.factories import BrandFactory, OfferFactory, PartnerFactory
from tests.mcp_gateway.helpers import Mcp, structured

pytestmark = pytest.mark.django_db


@pytest.fixture
def brand():
    return BrandFactory(slug="acme")


@pytest.fixture
def key(brand):
    return issue_key(brand)


def cursor_of(url):
    return parse_qs(urlsplit(url).query)["cursor"][0]


def offers(brand, count, *, prefix="o"):
    return [OfferFactory(brand=brand, slug=f"{prefix}-{i}") for i in range(count)]


def rest_walk(api, url):
    seen, pages = [], 0
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        seen += [row["offer_id"] for row in body["results"]]
        url, pages = body["next"], pages + 1
    return seen, pages


def test_rest_walks_every_row_once_in_the_lists_order(brand, key):
    offers(brand, 7)
    expected = list(
        Offer.objects.filter(brand=brand)
        .order_by("-created_at", "-id")
        .values_list("slug", flat=True)
    )
    seen, pages = rest_walk(client_with_key(key), "/api/v1/offers/?limit=3")
    assert seen == expected
    assert pages == 3


def test_rows_added_while_paging_do_not_shift_the_rest(brand, key):
    """OFFSET paging repeats a row for every row inserted ahead of the reader; keyset doesn't."""
    offers(brand, 6)
    mcp = Mcp(key)
    first = structured(mcp.call("list_offers", {"limit": 3}))
    for i in range(3):
        OfferFactory(brand=brand, slug=f"late-{i}")  # newer: they sort before page one
    second = structured(mcp.call("list_offers", {"limit": 3, "cursor": first["next_cursor"]}))
    first_ids = [row["offer_id"] for row in first["items"]]
    second_ids = [row["offer_id"] for row in second["items"]]
    assert not set(first_ids) & set(second_ids)
    assert first_ids + second_ids == [f"o-{i}" for i in range(5, -1, -1)]
    assert second["next_cursor"] is None


def test_rows_created_in_the_same_millisecond_keep_their_places(brand, key):
    base = timezone.now().replace(microsecond=1000)
    for i in range(4):
        Offer.objects.filter(pk=OfferFactory(brand=brand, slug=f"ms-{i}").pk).update(
            created_at=base + dt.timedelta(microseconds=i * 100)
        )
    seen, _ = rest_walk(client_with_key(key), "/api/v1/offers/?limit=1")
    assert seen == ["ms-3", "ms-2", "ms-1", "ms-0"]


def test_previous_walks_back_to_the_first_page(brand, key):
    offers(brand, 5)
    api = client_with_key(key)
    first = api.get("/api/v1/offers/?limit=2").json()
    assert first["previous"] is None
    second = api.get(first["next"]).json()
    back = api.get(second["previous"]).json()
    assert [row["offer_id"] for row in back["results"]] == [
        row["offer_id"] for row in first["results"]
    ]
    assert back["previous"] is None


def test_a_cursor_of_one_list_is_refused_by_another(brand, key):
    offers(brand, 3)
    PartnerFactory.create_batch(3, brand=brand)
    mcp = Mcp(key)
    cursor = structured(mcp.call("list_partners", {"limit": 1}))["next_cursor"]
    result = mcp.call("list_offers", {"cursor": cursor})
    assert result["isError"] is True
    assert "invalid_cursor" in result["content"][0]["text"]
    assert "another list" in result["content"][0]["text"]
    response = client_with_key(key).get("/api/v1/offers/", {"cursor": cursor})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_cursor"


def test_a_cursor_is_bound_to_its_filters(brand, key):
    offers(brand, 3)
    api = client_with_key(key)
    cursor = cursor_of(api.get("/api/v1/offers/?limit=1&status=active").json()["next"])
    response = api.get("/api/v1/offers/", {"cursor": cursor, "status": "paused"})
    assert response.status_code == 422
    assert "other filters" in response.json()["error"]["message"]


def test_rest_and_mcp_cursors_are_one_format(brand, key):
    offers(brand, 4)
    rest_next = client_with_key(key).get("/api/v1/offers/?limit=2").json()["next"]
    cursor = cursor_of(rest_next)
    mcp_page = structured(Mcp(key).call("list_offers", {"limit": 2, "cursor": cursor}))
    assert [row["offer_id"] for row in mcp_page["items"]] == ["o-1", "o-0"]


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        signing.dumps({"o": "list_offers", "f": "x", "d": "after", "v": [1, 2]}, salt="other"),
    ],
)
def test_forged_cursors_are_refused(brand, key, cursor):
    response = client_with_key(key).get("/api/v1/offers/", {"cursor": cursor})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_cursor"


def test_another_brands_cursor_reads_nothing_of_this_brand(brand, key):
    other = BrandFactory(slug="globex")
    offers(other, 3, prefix="g")
    offers(brand, 3)
    other_cursor = structured(Mcp(issue_key(other)).call("list_offers", {"limit": 1}))[
        "next_cursor"
    ]
    result = Mcp(key).call("list_offers", {"cursor": other_cursor})
    assert result["isError"] is True
    assert "invalid_cursor" in result["content"][0]["text"]
