"""Limits on what one request to /api/ may be (docs/api.md and docs/mcp.md, "Limits"): body
size (413 before reading), JSON nesting depth (400 in the endpoint's error shape, never 500),
and one rate budget per API key that REST and MCP share, charged only for admitted work."""

import json

import pytest

from core.json_limits import JsonTooDeep, check_depth, loads_bounded
from tests.conftest import client_with_key, issue_key
from tests.mcp_gateway.helpers import Mcp

DEEP = b"[" * 100_000
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


# --- the depth check itself -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "too_deep"),
    [
        (b"[" * 32 + b"]" * 32, False),
        (b"[" * 33 + b"]" * 33, True),
        (b'{"a":' * 32 + b"1" + b"}" * 32, False),
        (b'{"a":' * 33 + b"1" + b"}" * 33, True),
        (b"[" * 33, True),  # unbalanced, and parsing it would recurse too
        (b"]" * 40 + b"[" * 10, False),  # invalid but shallow: the parser's to refuse
        (b'["' + b"[" * 1000 + b'"]', False),  # brackets inside a string are not structure
        (b'["\\"' + b"[" * 1000 + b'"]', False),  # nor after an escaped quote
        (b'["\\\\", ' + b"[" * 33 + b"]" * 33 + b"]", True),  # an escaped backslash ends nothing
        (json.dumps([{"a": [{"b": [1, "x[{"]}]}] * 5000).encode(), False),
    ],
)
def test_check_depth(body, too_deep):
    if too_deep:
        with pytest.raises(JsonTooDeep):
            check_depth(body)
    else:
        check_depth(body)


def test_loads_bounded_refuses_what_json_loads_cannot_parse_safely():
    with pytest.raises(RecursionError):
        json.loads(DEEP + b"]" * 100_000)  # the 500 this module exists for
    with pytest.raises(JsonTooDeep):
        loads_bounded(DEEP + b"]" * 100_000)
    assert isinstance(JsonTooDeep(32), ValueError)  # callers that catch ValueError stay safe
    assert loads_bounded('{"a": [1, 2]}') == {"a": [1, 2]}


# --- deep nesting on the endpoints ------------------------------------------------------------


def test_deep_nesting_on_mcp_is_a_json_rpc_400(brand):
    for body in (DEEP, b'{"jsonrpc":"2.0","id":1,"method":"ping","params":' + DEEP):
        response = Mcp(issue_key(brand)).post(None, raw=body)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == -32600
        assert "nested deeper than 32" in error["message"]


def test_deep_nesting_on_rest_is_a_400_in_the_error_shape(api, offer):
    response = api.generic(
        "PATCH", f"/api/v1/offers/{offer.slug}/", DEEP, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "json_too_deep", "message": "JSON nested deeper than 32 levels."}
    }
    bad = api.generic(
        "PATCH", f"/api/v1/offers/{offer.slug}/", b"{", content_type="application/json"
    )
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "parse_error")


# --- body size --------------------------------------------------------------------------------


def test_oversize_body_on_mcp_is_a_json_rpc_413_before_reading(brand, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    mcp = Mcp(issue_key(brand), version="2025-03-26")
    response = mcp.post([PING] * 40)  # 1,600 bytes
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] is None
    assert body["error"]["code"] == -32600
    assert "at most 1000 bytes" in body["error"]["message"]
    assert mcp.post([PING] * 20).status_code == 200  # 800 bytes


def test_oversize_body_on_rest_is_a_413_in_the_error_shape(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.post("/api/v1/offers/", {"name": "x" * 2000, "offer_id": "big"}, format="json")
    assert response.status_code == 413
    assert response.json() == {
        "error": {
            "code": "body_too_large",
            "message": "Request body too large: at most 1000 bytes.",
        }
    }


def test_a_body_read_past_the_limit_is_a_413_too(api, settings, rf):
    """RequestDataTooBig from request.body (the header said less than was read, or the limit
    is checked only at the read): the middleware answers JSON 413, not Django's HTML 400."""
    from django.core.exceptions import RequestDataTooBig

    from trcker_site.body_limits import ApiBodyLimitMiddleware

    middleware = ApiBodyLimitMiddleware(lambda request: None)
    for path, shape in (("/api/mcp", "jsonrpc"), ("/api/v1/offers/", "error")):
        response = middleware.process_exception(rf.post(path), RequestDataTooBig())
        assert response.status_code == 413
        assert shape in json.loads(response.content)
    assert middleware.process_exception(rf.post("/admin/"), RequestDataTooBig()) is None


# --- one budget per key, charged for admitted work only ---------------------------------------


def test_rest_and_mcp_share_one_budget_per_key(brand, offer, settings):
    settings.TRCKER_API_RATE = "5/m"
    key = issue_key(brand)
    rest, mcp = client_with_key(key), Mcp(key, version="2025-03-26")
    assert rest.get("/api/v1/offers/").status_code == 200
    assert rest.get("/api/v1/offers/").status_code == 200
    batch = mcp.post([{**PING, "id": i} for i in range(3)])  # 2 + 3 = 5
    assert batch.status_code == 200
    assert batch["RateLimit"].startswith("limit=5, remaining=0")
    assert rest.get("/api/v1/offers/").status_code == 429  # REST sees MCP's calls
    assert mcp.post(PING).status_code == 429
    other = issue_key(brand)  # another key of the same brand has its own budget
    assert client_with_key(other).get("/api/v1/offers/").status_code == 200


def test_refused_rest_bodies_are_not_charged(brand, offer, settings):
    settings.TRCKER_API_RATE = "3/m"
    rest = client_with_key(issue_key(brand))
    url = f"/api/v1/offers/{offer.slug}/"
    for _ in range(5):
        assert rest.generic("PATCH", url, DEEP, content_type="application/json").status_code == 400
        assert rest.generic("PATCH", url, b"{", content_type="application/json").status_code == 400
    assert [rest.get("/api/v1/offers/").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_refused_mcp_bodies_are_not_charged(brand, settings):
    settings.TRCKER_API_RATE = "3/m"
    mcp = Mcp(issue_key(brand), version="2025-06-18")
    for _ in range(5):
        assert mcp.post(None, raw=DEEP).status_code == 400
        assert mcp.post(None, raw=b"{").status_code == 400
        assert mcp.post([PING]).status_code == 400  # batching is not in 2025-06-18
    assert [mcp.post(PING).status_code for _ in range(4)] == [200, 200, 200, 429]
