"""trcker_site/edge_middleware.py: NUL, control characters and invalid UTF-8 in a path, query
string or header are a 400 in the endpoint's own error shape, before any view or query runs
(on PostgreSQL each of these reached a lookup and answered 500)."""

import json

import pytest
from django.test import Client

from tests.conftest import issue_key
from tests.factories import OfferFactory, PartnerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(brand):
    offer = OfferFactory(brand=brand, slug="spring-sale", min_conversion_seconds=0)
    PartnerFactory(brand=brand, slug="abc-123")
    return offer


@pytest.fixture
def rest(brand):
    return Client(HTTP_AUTHORIZATION=f"Bearer {issue_key(brand)}")


def _assert_rest_refusal(response):
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["code"] == "invalid_characters"
    assert response.json()["error"]["message"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/offers/spring%00sale/",
        "/api/v1/offers/%00/caps/",
        "/api/v1/partners/abc%00123/",
        "/api/v1/conversions/conv_%00/",
        "/api/v1/payouts/pay_%01x/",
        "/api/v1/coupons/SPRING%0010/",
        "/api/v1/offers/caf%ff/",  # invalid UTF-8
        "/api/v1/offers/%c3%28/",  # invalid UTF-8
        "/api/v1/offers/?status=%00",
        "/api/v1/offers/?cursor=a%00b",
        "/api/v1/partners/?search=%00",
        "/api/v1/partners/?search=%ff",  # invalid UTF-8 in a value
        "/api/v1/partners/?se%00arch=x",  # ... and in a name
        "/api/v1/audit-log/?action=%1b[31m",
    ],
)
def test_rest_refuses_control_characters_in_path_and_query(shop, rest, url):
    _assert_rest_refusal(rest.get(url))


def test_rest_refuses_control_characters_in_a_write_path(shop, rest):
    response = rest.post(
        "/api/v1/offers/spring%00sale/caps/", {"daily": 5}, content_type="application/json"
    )
    _assert_rest_refusal(response)


def test_rest_refuses_control_characters_in_a_header(shop, rest):
    _assert_rest_refusal(rest.get("/api/v1/offers/", HTTP_X_FORWARDED_HOST="a\x00b"))
    # A tab is legal in a header value.
    assert rest.get("/api/v1/offers/", HTTP_X_TRACE="a\tb").status_code == 200


def test_rest_still_takes_ordinary_text(shop, rest):
    assert rest.get("/api/v1/partners/?search=caf%C3%A9+%E6%9D%B1").status_code == 200
    assert rest.get("/api/v1/offers/spring-sale/").status_code == 200
    # Not a slug, but clean: an ordinary 404 from the view.
    response = rest.get("/api/v1/offers/caf%C3%A9/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_mcp_answers_a_json_rpc_error(brand):
    response = Client().post(
        "/api/mcp?x=%00",
        json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        content_type="application/json",
        HTTP_ACCEPT="application/json, text/event-stream",
        HTTP_AUTHORIZATION=f"Bearer {issue_key(brand)}",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["jsonrpc"] == "2.0"
    assert body["id"] is None
    assert body["error"]["code"] == -32600
    assert "control characters" in body["error"]["message"]


@pytest.mark.parametrize(
    "url",
    [
        "/p/acme%00/apply",
        "/p/%00/apply",
        "/p/acme/apply%00",
        "/p/acme%ff/apply",
        "/p/acme/apply?next=%00",
        "/admin/offers/offer/?q=%00",  # the admin search reached PostgreSQL too
        "/oauth/authorize/?client_id=%00",
    ],
)
def test_pages_answer_a_plain_400(shop, url):
    response = Client().get(url)
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"].startswith("text/html")


def test_oauth_registration_refuses_a_nul_in_its_path():
    response = Client().post("/oauth/register/%00/", "{}", content_type="application/json")
    assert response.status_code == 400


def test_apply_page_takes_ordinary_text(shop):
    assert Client().get("/p/acme/apply").status_code == 200
    # A textarea submitted by GET may carry tabs and line breaks: not refused at the edge.
    assert Client().get("/p/acme/apply?note=a%09b%0D%0Ac").status_code == 200
    assert Client().get("/p/caf%C3%A9/apply").status_code == 404
    assert Client().get("/p/ACME/apply").status_code == 404


def test_click_query_is_cleaned_by_the_click_endpoint_not_refused(shop):
    # Issue 11: a NUL in a click field is redirected (cleaned), so the edge leaves it alone.
    response = Client().get(
        "/c/acme/spring-sale/abc-123?sub1=a%00b&sub2=%ff", HTTP_USER_AGENT="Mozilla/5.0"
    )
    assert response.status_code == 302


def test_postback_query_is_left_to_the_postback_endpoint(shop):
    response = Client().get("/api/postback/acme/spring-sale?txn_id=t1&sub1=a%00b&sub2=%ff")
    assert response.status_code < 500
    assert response.json()["error"]["code"] != "invalid_characters"
    # Its path is its own business too: a non-slug is unknown_offer, without a query.
    response = Client().get("/api/postback/acme%00/spring-sale?txn_id=t1")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_offer"
    assert Client().get("/c/acme%00/spring-sale/abc-123").status_code == 404


def test_a_lone_surrogate_echoed_in_a_rest_error_is_a_422_not_a_500(shop, rest):
    # The body is JSON, so it passes the edge; DRF's message echoes the value, and the renderer
    # could not encode the surrogate as UTF-8 (a 500) until rest_api/base.py replaced it.
    response = rest.patch(
        "/api/v1/fraud/settings/",
        '{"mode": "\\ud800", "\\udc00": 1}',
        content_type="application/json",
    )
    assert response.status_code == 422, response.content[:300]
    assert response.json()["error"]["code"] == "invalid_input"


def test_click_headers_are_cleaned_by_the_click_endpoint_not_refused(shop):
    response = Client().get(
        "/c/acme/spring-sale/abc-123", HTTP_USER_AGENT="Mozilla/5.0\x00\x1b", HTTP_REFERER="x\x00"
    )
    assert response.status_code == 302
