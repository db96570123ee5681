"""Hostile input on the partner API (issue 16), with a partner write key: path ids, query
strings and bodies of every /api/partner/v1/ operation, and the arguments of every partner
MCP tool. Whatever arrives: never a 5xx, and every answer in its endpoint's error shape. The
strategies are the hostile fuzzer's (tests/reliability/test_hostile_fuzz.py)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from mcp_gateway.tools import PARTNER_TOOLS
from operations.catalog import PARTNER_OPERATIONS
from operations.declaration import PATH_ARGUMENT
from tests.mcp_gateway.helpers import Mcp
from tests.partners.partner_world import build_partner_world
from tests.reliability.test_hostile_fuzz import (
    FUZZ,
    _assert_rest_error_shape,
    hostile_text,
    json_values,
    wire_text,
)

ROUTED = [op for op in PARTNER_OPERATIONS.values() if op.rest]
# Well-formed values for every argument (the caller's ids, another partner's, another
# brand's, none; in-range and out-of-range numbers; hostile free text), so one call in three
# gets past validation to the selectors with only its free text hostile.
OFFERS = st.sampled_from(["spring-sale", "vip-ann", "secret-bob", "globex-only", "zz"])
PLAUSIBLE = {
    "offer_id": OFFERS,
    "conversion_id": st.sampled_from(["conv_neverexisted000000001", "conv_x"]),
    "status": st.sampled_from(["pending", "approved", "rejected", "paid", "void"]),
    "metrics": st.lists(
        st.sampled_from(["clicks", "payout", "epc", "cvr", "conversions"]), min_size=1, max_size=3
    ),
    "group_by": st.lists(
        st.sampled_from(["day", "week", "offer", "sub1", "country", "outcome"]),
        max_size=3,
        unique=True,
    ),
    "filters": st.fixed_dictionaries(
        {}, optional={"offer": OFFERS, "sub1": hostile_text, "country": hostile_text}
    ),
    "days": st.integers(min_value=-3, max_value=400),
    "date_from": st.dates().map(str),
    "date_to": st.dates().map(str),
    "since": st.datetimes().map(lambda d: d.isoformat() + "Z"),
    "until": st.datetimes().map(lambda d: d.isoformat() + "Z"),
    "limit": st.integers(min_value=-1, max_value=2000),
    "cursor": hostile_text,
    "order_by": st.sampled_from(["payout", "-clicks", "day", "-offer", "revenue"]),
    "compare_previous": st.booleans(),
    "name": hostile_text,
    "website": st.sampled_from(["https://ann.example", "javascript:x", ""]) | hostile_text,
    "dry_run": st.booleans(),
}


def value_for(name: str):
    return PLAUSIBLE.get(name, json_values)


def plausible(names: list[str]):
    return st.fixed_dictionaries({}, optional={name: value_for(name) for name in names})


@st.composite
def one_argument(draw, names: list[str], required: list[str]):
    """The required arguments well-formed and one more, well-formed or hostile: most calls
    reach the selectors, with one value under test."""
    arguments = {name: draw(value_for(name)) for name in required}
    if names:
        name = draw(st.sampled_from(names))
        arguments[name] = draw(value_for(name) | json_values)
    return arguments


@pytest.fixture
def world(settings):
    settings.TRCKER_API_RATE = "100000/m"
    return build_partner_world()


@st.composite
def partner_requests(draw):
    operation = draw(st.sampled_from(ROUTED))
    route = operation.rest
    assert route is not None
    path = PATH_ARGUMENT.sub(lambda _: draw(wire_text), route.path)
    url = "/api/partner/v1/" + path
    fields = sorted(operation.contract().fields)
    required = [name for name, field in operation.contract().fields.items() if field.required]
    names = st.sampled_from(fields) if fields else hostile_text
    query_names = st.sampled_from(fields) if fields else wire_text
    if route.method == "GET" and draw(st.booleans()):
        pairs = draw(
            st.dictionaries(query_names | wire_text, wire_text, max_size=3)
            | one_argument(fields, required).map(
                lambda d: {k: quote(str(v).encode("utf-8", "surrogatepass")) for k, v in d.items()}
            )
        )
        url += "?" + "&".join(f"{k}={v}" for k, v in pairs.items())
    body = b""
    if route.method != "GET":
        body = draw(
            st.one_of(
                plausible(fields).map(lambda d: json.dumps(d).encode()),
                one_argument(fields, required).map(lambda d: json.dumps(d).encode()),
                st.dictionaries(names, json_values, max_size=4).map(
                    lambda d: json.dumps(d).encode()
                ),
                json_values.map(lambda v: json.dumps(v).encode()),
                st.binary(max_size=40),
            )
        )
    return route.method, url, body


@pytest.mark.django_db
@FUZZ
@given(request=partner_requests())
def test_partner_rest_never_5xx(world, request):
    method, url, body = request
    client = Client(HTTP_AUTHORIZATION=f"Bearer {world.keys['ann_write']}")
    response = client.generic(method, url, body, content_type="application/json")
    _assert_rest_error_shape(response)


@st.composite
def partner_tool_calls(draw):
    tool = draw(st.sampled_from(list(PARTNER_TOOLS)))
    properties = sorted(tool.input_schema().get("properties", {}))
    names = st.sampled_from(properties) if properties else hostile_text
    arguments = draw(
        st.one_of(
            plausible(properties),
            one_argument(properties, tool.input_schema().get("required", [])),
            st.fixed_dictionaries({}, optional=dict.fromkeys(properties, json_values)),
            st.dictionaries(names, json_values, max_size=5),
            json_values,
        )
    )
    return tool.name, arguments


@pytest.mark.django_db
@FUZZ
@given(call=partner_tool_calls())
def test_partner_tools_never_5xx_and_answer_json_rpc(world, call):
    name, arguments = call
    response = Mcp(world.keys["ann_write"]).request(
        "tools/call", {"name": name, "arguments": arguments}
    )
    assert response.status_code < 500, response.content[:300]
    body = json.loads(response.content)
    assert ("result" in body) != ("error" in body), body
    if "error" in body:
        assert body["error"]["code"] != -32603, body
    else:
        assert isinstance(body["result"]["isError"], bool)
