"""The deep-link and sub-id builder for partners: on the partner API (build_my_link, REST and
MCP) and in the portal's links page. A landing page the offer does not allow is refused with
the hosts it does; the built link, followed, lands where it said."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from conversions.models import Click
from offers.models import Offer
from tests.conversions.helpers import CHROME
from tests.mcp_gateway.helpers import Mcp
from tests.partner_portal.helpers import sign_in
from tests.partners.partner_world import World, build_partner_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> World:
    built = build_partner_world()
    Offer.objects.filter(brand=built.brand, slug="spring-sale").update(
        deep_link_hosts=["*.example.org", "shop.example.com"]
    )
    return built


def as_partner(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_build_my_link_with_deep_link_and_sub_ids(world, client):
    answer = as_partner(world.keys["ann"]).get(
        "/api/partner/v1/offers/spring-sale/link/",
        {"url": "HTTPS://Shop.Example.com/boots?size=9", "sub1": "news letter"},
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["deep_link"] == "https://shop.example.com/boots?size=9"
    link = urlsplit(body["tracking_link"])
    assert link.path == "/c/acme/spring-sale/ann"
    assert parse_qs(link.query) == {
        "sub1": ["news letter"],
        "url": ["https://shop.example.com/boots?size=9"],
    }
    # Followed, it lands on that page with the click id, and records the sub id.
    landed = client.get(f"{link.path}?{link.query}", HTTP_USER_AGENT=CHROME)
    location = urlsplit(landed["Location"])
    assert (location.netloc, location.path) == ("shop.example.com", "/boots")
    stored = Click.objects.get(sub1="news letter")
    assert parse_qs(location.query) == {"size": ["9"], "click_id": [stored.id]}


def test_offers_list_their_deep_link_hosts(world):
    rows = as_partner(world.keys["ann"]).get("/api/partner/v1/offers/").json()["results"]
    hosts = {row["offer_id"]: row["deep_link_hosts"] for row in rows}
    assert hosts == {"spring-sale": ["*.example.org", "shop.example.com"], "vip-ann": []}


@pytest.mark.parametrize(
    "url",
    ["https://evil.com/", "https://shop.example.com@evil.com/", "javascript:alert(1)", "//x"],
)
def test_a_deep_link_the_offer_does_not_allow_is_refused_with_the_allowed_hosts(world, url):
    answer = as_partner(world.keys["ann"]).get(
        "/api/partner/v1/offers/spring-sale/link/", {"url": url}
    )
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "deep_link_not_allowed"
    assert "shop.example.com" in error["message"]


def test_an_offer_without_hosts_takes_no_deep_links(world):
    answer = as_partner(world.keys["ann"]).get(
        "/api/partner/v1/offers/vip-ann/link/", {"url": "https://shop.example.com/"}
    )
    assert answer.json()["error"]["code"] == "deep_link_not_allowed"
    plain = as_partner(world.keys["ann"]).get("/api/partner/v1/offers/vip-ann/link/").json()
    assert plain["tracking_link"].endswith("/c/acme/vip-ann/ann")
    assert (plain["offer_id"], plain["deep_link"]) == ("vip-ann", "")


def test_build_my_link_as_a_tool(world):
    result = Mcp(world.keys["ann"]).call(
        "build_my_link", {"offer_id": "spring-sale", "url": "https://de.example.org/x"}
    )
    assert result["isError"] is False
    assert "url=https%3A%2F%2Fde.example.org%2Fx" in result["structuredContent"]["tracking_link"]


def test_portal_builder_builds_and_refuses_deep_links(world, client):
    sign_in(client, world.ann)
    url = reverse("portal-links", args=["acme"])
    page = client.get(url)
    assert "Deep links to: *.example.org, shop.example.com" in page.content.decode()
    built = client.get(url, {"offer": "spring-sale", "url": "https://shop.example.com/sale"})
    assert built.context["built"].endswith(
        "/c/acme/spring-sale/ann?url=https%3A%2F%2Fshop.example.com%2Fsale"
    )
    refused = client.get(url, {"offer": "spring-sale", "url": "https://evil.com/"})
    assert refused.context["built"] == ""
    assert "may land only on" in str(refused.context["form"].errors["url"])
    overlong = client.get(
        url, {"offer": "spring-sale", "url": "https://shop.example.com/" + "a" * 5000}
    )
    assert overlong.status_code == 200 and overlong.context["built"] == ""
    # A NUL is refused by the edge before the page (400), like everywhere else.
    assert client.get(url, {"offer": "spring-sale", "url": "https://x\x00.com/"}).status_code == 400
