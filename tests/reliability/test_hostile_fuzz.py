"""Hostile input everywhere a request can carry it (issue 12): NUL and other control
characters, lone surrogates, huge integers, deep nesting and invalid UTF-8 (raw bytes in
bodies, percent-encoded in paths and query strings) in the path parameters, query strings,
headers and bodies of every REST operation, in the arguments of every MCP tool, on the
partner apply page and on OAuth client registration. Whatever arrives: never a 5xx, and every
answer in its endpoint's documented error shape.

The click and postback endpoints have their own fuzzer (test_edge_fuzz.py);
test_rest_schemathesis.py drives the REST API with schema-shaped input. Bounded for CI: about
a hundred examples per endpoint family, a few seconds each."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcp_gateway.tools import TOOLS
from tests.conftest import issue_key
from tests.factories import CouponFactory, OfferFactory, PartnerFactory
from tests.mcp_gateway.helpers import Mcp

CONTROL = "".join(chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)])
hostile_text = st.one_of(
    st.text(alphabet=st.sampled_from(CONTROL + "a-_%&=/?#+.é東😀"), max_size=30),
    st.text(max_size=30),  # any code point, lone surrogates included
    st.sampled_from(
        ["", "\x00", "a\x00b", "%00", "\ud800", "x" * 3000, "spring-sale\x00", "abc-123\n"]
    ),
)
huge_ints = st.one_of(
    st.sampled_from([2**31 - 1, 2**31, -(2**31) - 1, 2**63, -(2**63), 10**40, 0, -1]),
    st.integers(),
)


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


json_values = st.recursive(
    st.none() | st.booleans() | huge_ints | st.floats() | hostile_text,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(hostile_text, children, max_size=3)
    ),
    max_leaves=8,
) | st.sampled_from([_deep(40), _deep(200), {"a": _deep(33)}])


def _encode(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


# A path segment or query value as it arrives on the wire: percent-encoded hostile text, or
# percent-encoded bytes that are not UTF-8 at all.
wire_text = st.one_of(
    hostile_text.map(_encode),
    st.binary(max_size=12).map(lambda b: quote(b, safe="")),
    st.sampled_from(["%", "%zz", "%00", "%ff", "%c0%af", "%ed%a0%80", "%2e%2e", "9" * 30]),
)
header_values = st.one_of(
    hostile_text.filter(lambda t: all(ord(c) < 256 for c in t)),
    st.binary(max_size=20).map(lambda b: b.decode("latin-1")),
)
FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


def _assert_rest_error_shape(response) -> None:
    assert response.status_code < 500, (response.status_code, response.content[:300])
    if response.status_code >= 400:
        body = json.loads(response.content)
        assert isinstance(body["error"]["code"], str), body
        assert isinstance(body["error"]["message"], str), body


# --- REST: every operation of the OpenAPI document --------------------------------------

_DOCUMENT = SchemaGenerator().get_schema(request=None, public=True)
OPERATIONS = [
    (method.upper(), path, operation)
    for path, item in _DOCUMENT["paths"].items()
    for method, operation in item.items()
    if method in ("get", "post", "patch", "put", "delete")
]
_PARAM = re.compile(r"\{([^}]+)\}")


def _body_fields(operation: dict[str, Any]) -> list[str]:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    ref = content.get("schema", {}).get("$ref", "")
    schema = _DOCUMENT["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
    return sorted(schema.get("properties", {}))


@st.composite
def rest_requests(draw):
    method, path, operation = draw(st.sampled_from(OPERATIONS))
    url = _PARAM.sub(lambda m: draw(wire_text), path)
    query_names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
    if query_names and draw(st.booleans()):
        pairs = draw(
            st.dictionaries(st.sampled_from(query_names) | wire_text, wire_text, max_size=3)
        )
        url += "?" + "&".join(f"{k}={v}" for k, v in pairs.items())
    headers = draw(
        st.dictionaries(
            st.sampled_from(["HTTP_X_REQUEST_ID", "HTTP_USER_AGENT", "HTTP_ACCEPT_LANGUAGE"]),
            header_values,
            max_size=2,
        )
    )
    body: bytes | None = None
    if method in ("POST", "PATCH", "PUT"):
        fields = _body_fields(operation)
        body = draw(
            st.one_of(
                st.dictionaries(
                    st.sampled_from(fields) if fields else hostile_text, json_values, max_size=4
                ).map(lambda d: json.dumps(d).encode()),
                json_values.map(lambda v: json.dumps(v).encode()),
                st.binary(max_size=40),  # not UTF-8, not JSON
            )
        )
    return method, url, headers, body


@pytest.fixture
def shop(brand, settings):
    settings.TRCKER_API_RATE = "100000/m"
    offer = OfferFactory(brand=brand, slug="spring-sale")
    partner = PartnerFactory(brand=brand, slug="abc-123")
    CouponFactory(brand=brand, partner=partner, offer=offer, code="SPRING10")
    return brand


@pytest.mark.django_db
@FUZZ
@given(request=rest_requests())
def test_rest_never_5xx_and_always_answers_its_error_shape(shop, request):
    method, url, headers, body = request
    client = Client(HTTP_AUTHORIZATION=f"Bearer {issue_key(shop)}")
    response = client.generic(method, url, body or b"", content_type="application/json", **headers)
    _assert_rest_error_shape(response)


# --- MCP: every tool, hostile arguments ---------------------------------------------------


@st.composite
def tool_calls(draw):
    tool = draw(st.sampled_from(list(TOOLS)))
    properties = sorted(tool.input_schema().get("properties", {}))
    names = st.sampled_from(properties) if properties else hostile_text
    # Real ids half the time, so hostile values in the other arguments reach the service.
    real = {"offer_id": "spring-sale", "partner_id": "abc-123", "code": "SPRING10"}
    arguments = draw(
        st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    name: (st.just(real[name]) | json_values) if name in real else json_values
                    for name in properties
                },
            ),
            st.dictionaries(names, json_values, max_size=5),
            st.dictionaries(names | hostile_text, json_values, max_size=3),
            json_values,  # not even an object
        )
    )
    return draw(st.sampled_from([tool.name, tool.name + "\x00", "\x00", "x" * 300])), arguments


@pytest.mark.django_db
@FUZZ
@given(call=tool_calls())
def test_mcp_tools_never_5xx_and_answer_json_rpc(shop, call):
    name, arguments = call
    mcp = Mcp(issue_key(shop))
    response = mcp.request("tools/call", {"name": name, "arguments": arguments})
    assert response.status_code < 500, response.content[:300]
    body = json.loads(response.content)
    assert body["jsonrpc"] == "2.0"
    assert ("result" in body) != ("error" in body), body
    if "error" in body:
        assert isinstance(body["error"]["code"], int)
        assert body["error"]["code"] != -32603, body  # internal error: something broke
    else:
        assert isinstance(body["result"]["isError"], bool)
        assert isinstance(body["result"]["content"][0]["text"], str)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "arguments",
    [{"offer_id": "a\x00b"}, {"a\x00": 1}, {"offer_id": "\ud800"}, {"offer_id": float("nan")}],
    ids=["nul-value", "nul-key", "surrogate", "nan"],
)
def test_mcp_tool_call_log_takes_nul_and_surrogates(shop, arguments):
    from mcp_gateway.models import McpToolCall

    response = Mcp(issue_key(shop)).request(
        "tools/call", {"name": "get_offer_config", "arguments": arguments}
    )
    assert response.status_code == 200, response.content[:300]
    assert response.json()["result"]["isError"] is True
    (logged,) = McpToolCall.objects.filter(tool="get_offer_config")
    stored = json.dumps(logged.arguments)
    assert "\\u0000" not in stored and "\\ud800" not in stored and "NaN" not in stored


@pytest.mark.django_db
@FUZZ
@given(
    query=st.one_of(st.just(""), wire_text.map(lambda v: f"?x={v}")),
    headers=st.dictionaries(st.just("HTTP_USER_AGENT"), header_values, max_size=1),
    raw=st.one_of(st.binary(max_size=60), st.just(b"{}")),
)
def test_mcp_endpoint_query_headers_and_raw_bodies(shop, query, headers, raw):
    response = Client().generic(
        "POST",
        f"/api/mcp{query}",
        raw,
        content_type="application/json",
        HTTP_ACCEPT="application/json, text/event-stream",
        HTTP_AUTHORIZATION=f"Bearer {issue_key(shop)}",
        **headers,
    )
    assert response.status_code < 500, response.content[:300]
    if response.status_code != 202:
        body = json.loads(response.content)
        items = body if isinstance(body, list) else [body]
        assert all(item["jsonrpc"] == "2.0" for item in items)


# --- The partner apply page ------------------------------------------------------------


@pytest.mark.django_db
@FUZZ
@given(
    brand_segment=st.one_of(st.just("acme"), wire_text),
    query=st.one_of(st.just(""), wire_text.map(lambda v: f"?next={v}")),
    form=st.dictionaries(
        st.sampled_from(["name", "email", "website", "partner_id", "message", "notes"])
        | hostile_text,
        hostile_text,
        max_size=5,
    ),
    post=st.booleans(),
)
def test_apply_page_never_5xx(shop, brand_segment, query, form, post):
    client = Client(enforce_csrf_checks=False)
    url = f"/p/{brand_segment}/apply{query}"
    if post:
        # Encoded by hand: a lone surrogate becomes bytes that are not UTF-8, as on the wire.
        body = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in form.items())
        response = client.generic(
            "POST", url, body, content_type="application/x-www-form-urlencoded"
        )
    else:
        response = client.get(url)
    assert response.status_code < 500, (url, response.status_code)
    assert response.status_code in (200, 302, 400, 403, 404, 429), response.status_code


# --- OAuth dynamic client registration -------------------------------------------------


@pytest.mark.django_db
@FUZZ
@given(
    body=st.one_of(
        st.dictionaries(
            st.sampled_from(
                ["client_name", "redirect_uris", "grant_types", "token_endpoint_auth_method"]
            )
            | hostile_text,
            json_values,
            max_size=4,
        ).map(lambda d: json.dumps(d).encode()),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=60),
    ),
    client_id=st.one_of(st.none(), wire_text),
)
def test_oauth_registration_never_5xx(settings, body, client_id):
    settings.TRCKER_API_RATE = "100000/m"
    url = "/oauth/register/" if client_id is None else f"/oauth/register/{client_id}/"
    response = Client().generic("POST", url, body, content_type="application/json")
    assert response.status_code < 500, (url, response.content[:300])
    if response.status_code >= 400 and response["Content-Type"].startswith("application/json"):
        error = json.loads(response.content)
        assert isinstance(error["error"], str | dict), error
