"""The partner isolation matrix (issue 16), over the operation catalog so a new partner
operation is covered the day it is declared:

- every partner operation, on REST and as an MCP tool, answers the calling partner's own data
  and nothing of another partner (same brand or another brand), of brand-only data (revenue,
  profit, fraud scores, the advertiser's transaction ids, attribution) or of another brand;
- an id naming another partner's row, or a private offer that does not list the caller, is
  "not found" exactly like an id that never existed;
- a partner key reaches no brand route and no brand tool (a brand tool's name is as unknown
  as a name no tool has); a brand key reaches no partner route (401 saying which key the
  partner API takes) and sees no partner tool.

Every MCP probe runs with a partner key AND with an OAuth token the partner authorized by URL
(``tests/oauth/partner_flow.py``: portal sign-in, partner consent, code exchange): the two
must see exactly the same.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import RequestFactory
from rest_framework.test import APIClient

from audit.actor import Actor, Channel
from conversions.partner_selectors import PARTNER_REPORT_METRICS
from core.errors import PermissionDeniedError
from operations.catalog import OPERATIONS, PARTNER_OPERATIONS
from operations.declaration import Operation
from tests.mcp_gateway.helpers import Mcp
from tests.oauth.partner_flow import partner_tokens
from tests.partners.partner_world import World, build_partner_world

pytestmark = pytest.mark.django_db

UNKNOWN = {
    "conversion_id": "conv_neverexisted000000001",
    "offer_id": "never-existed",
    "payout_id": "pay_neverexisted0000000001",
}


def own_arguments(world: World) -> dict[str, dict[str, Any]]:
    """A valid call of every partner operation, as the caller ``ann``."""
    return {
        "get_my_profile": {},
        "list_my_offers": {},
        "build_my_link": {"offer_id": "spring-sale", "sub1": "ann-news"},
        "get_my_stats": {"days": 30},
        "get_my_report": {
            "metrics": list(PARTNER_REPORT_METRICS),
            "group_by": ["offer", "day", "sub1"],
            "days": 30,
        },
        "list_my_conversions": {},
        "get_my_conversion": {"conversion_id": world.ann_conversions[3].id},
        "list_my_payouts": {},
        "get_my_balance": {},
        "update_my_profile": {"website": "https://ann.example"},
        "update_my_payout_details": {"payout_details": "IBAN DE00 1234 5678"},
        "list_my_coupons": {},
        "get_my_statement": {"payout_id": world.ann_payout.id},
    }


def foreign_ids(world: World) -> dict[str, list[str]]:
    """Ids that exist but are not the caller's, per argument name."""
    return {
        "conversion_id": [world.bob_conversion.id, world.other_brand_conversion.id],
        # bob's private offer in the brand; an offer only the other brand has
        "offer_id": ["secret-bob", "globex-only"],
        "payout_id": [world.bob_payout.id, world.other_brand_payout.id],
    }


@pytest.fixture
def world(settings) -> World:
    settings.TRCKER_API_RATE = "100000/m"
    settings.TRCKER_PORTAL_LINKS_PER_EMAIL = "100000/h"
    settings.TRCKER_PORTAL_LINKS_PER_IP = "100000/h"
    return build_partner_world()


# A partner's MCP credentials: their trkp_ key, or an OAuth token they authorized by URL.
OAUTH_TOKENS = {
    "ann_oauth": ("ann", False),
    "ann_oauth_write": ("ann", True),
    "bob_oauth": ("bob", False),
}
WRITE_CREDENTIALS = ["ann_write", "ann_oauth_write"]


def credential(world: World, name: str) -> str:
    """world.keys[name], minting an OAuth token through the real flow the first time."""
    if name not in world.keys:
        partner, write = OAUTH_TOKENS[name]
        world.keys[name] = partner_tokens(getattr(world, partner), write=write)["access_token"]
    return world.keys[name]


def rest_call(operation: Operation, key: str, arguments: dict[str, Any]):
    assert operation.rest is not None
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    path, rest = operation.rest.path, dict(arguments)
    for name in operation.rest.path_arguments:
        path = path.replace(f"<{name}>", str(rest.pop(name)))
    url = "/api/partner/v1/" + path
    if operation.rest.method == "GET":
        return client.get(url, rest)
    return client.generic(
        operation.rest.method, url, json.dumps(rest), content_type="application/json"
    )


def text_of(answer: Any) -> str:
    return json.dumps(answer, ensure_ascii=False)


def leaks(world: World, text: str) -> list[str]:
    return sorted(marker for marker in world.forbidden if marker and marker in text)


ROUTED = sorted(name for name, op in PARTNER_OPERATIONS.items() if op.rest)
TOOLS = sorted(name for name, op in PARTNER_OPERATIONS.items() if op.tool)


def test_every_partner_operation_has_a_probe_and_every_id_argument_foreign_ids(world):
    # A new partner operation must say how it is called here, and a new id argument which
    # foreign ids to try: otherwise the matrix would silently not cover it.
    assert set(own_arguments(world)) == set(PARTNER_OPERATIONS)
    for name, operation in PARTNER_OPERATIONS.items():
        ids = {field for field in operation.input().fields if field.endswith("_id")}
        assert ids <= set(foreign_ids(world)), (name, ids)
    assert all(op.audience == "partner" for op in PARTNER_OPERATIONS.values())


@pytest.mark.parametrize("name", ROUTED)
def test_rest_answers_only_the_partners_own_data(world, name):
    operation = PARTNER_OPERATIONS[name]
    key = world.keys["ann_write"]
    response = rest_call(operation, key, own_arguments(world)[name])
    assert response.status_code in (200, 201), response.content
    assert leaks(world, response.content.decode()) == []


@pytest.mark.parametrize("key", WRITE_CREDENTIALS)
@pytest.mark.parametrize("name", TOOLS)
def test_tools_answer_only_the_partners_own_data(world, name, key):
    result = Mcp(credential(world, key)).call(name, own_arguments(world)[name])
    assert result["isError"] is False, result["content"][0]["text"]
    assert leaks(world, text_of(result)) == []


def foreign_probes(world: World):
    own, foreign = own_arguments(world), foreign_ids(world)
    for name, operation in sorted(PARTNER_OPERATIONS.items()):
        fields = operation.input().fields
        for argument, values in foreign.items():
            if argument in fields:
                for value in values:
                    yield name, {**own[name], argument: value}, argument, value
        if name == "get_my_report":  # the offer filter sits inside filters
            for value in foreign["offer_id"]:
                yield name, {**own[name], "filters": {"offer": value}}, "offer_id", value


def unknown_variant(arguments: dict[str, Any], argument: str, value: str) -> dict[str, Any]:
    swapped = text_of(arguments).replace(value, UNKNOWN[argument])
    return json.loads(swapped)


@pytest.mark.parametrize("key", WRITE_CREDENTIALS)
def test_foreign_ids_are_not_found_exactly_like_missing_ones_on_rest_and_mcp(world, key):
    probes = list(foreign_probes(world))
    assert {name for name, *_ in probes} >= {
        "get_my_conversion",
        "get_my_statement",
        "build_my_link",
        "get_my_stats",
        "get_my_report",
        "list_my_conversions",
    }
    mcp = Mcp(credential(world, key))
    for name, arguments, argument, value in probes:
        operation = PARTNER_OPERATIONS[name]
        missing = unknown_variant(arguments, argument, value)
        if operation.rest:
            got = rest_call(operation, world.keys["ann_write"], arguments)
            expected = rest_call(operation, world.keys["ann_write"], missing)
            assert (got.status_code, expected.status_code) == (404, 404), (name, value)
            assert got.content.decode().replace(value, UNKNOWN[argument]) == (
                expected.content.decode()
            ), (name, value)
        if operation.tool:
            got_tool = mcp.call(name, arguments)
            expected_tool = mcp.call(name, missing)
            assert got_tool["isError"] is True, (name, value)
            assert text_of(got_tool).replace(value, UNKNOWN[argument]) == text_of(expected_tool), (
                name,
                value,
            )


def test_a_partner_of_the_same_brand_sees_none_of_anns_rows(world):
    ann = {c.id for c in world.ann_conversions} | {world.ann_payout.id}
    bob_client = APIClient()
    bob_client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.keys['bob']}")
    seen = "".join(
        bob_client.get(f"/api/partner/v1/{path}").content.decode()
        for path in ("conversions/", "payouts/", "stats/", "offers/", "me/")
    )
    assert [row for row in ann if row in seen] == []
    assert "vip-ann" not in seen and "Ann Reviews" not in seen
    assert world.bob_conversion.id in seen  # bob does see his own


def test_bobs_oauth_token_sees_none_of_anns_rows_over_mcp(world):
    ann = {c.id for c in world.ann_conversions} | {world.ann_payout.id}
    bob = Mcp(credential(world, "bob_oauth"))
    seen = "".join(
        text_of(bob.call(name, {}))
        for name in ("list_my_conversions", "list_my_payouts", "get_my_stats", "get_my_profile")
    )
    assert [row for row in ann if row in seen] == []
    assert "vip-ann" not in seen and "Ann Reviews" not in seen
    assert world.bob_conversion.id in seen  # bob does see his own


def test_the_same_slug_in_another_brand_is_another_partner(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.keys['twin']}")
    seen = client.get("/api/partner/v1/conversions/").json()["results"]
    assert [row["conversion_id"] for row in seen] == [world.other_brand_conversion.id]
    assert client.get("/api/partner/v1/me/").json()["brand_id"] == "globex"


@pytest.mark.parametrize("name", sorted(n for n, op in OPERATIONS.items() if op.rest))
def test_a_partner_key_reaches_no_brand_route(world, name):
    route = OPERATIONS[name].rest
    assert route is not None
    path = route.path
    for argument in route.path_arguments:  # "1" fits every converter (int, slug, str)
        path = re.sub(rf"<(?:\w+:)?{argument}>", "1", path)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.keys['ann_write']}")
    response = client.generic(
        route.method, "/api/v1/" + path, "{}", content_type="application/json"
    )
    assert response.status_code == 401, (name, response.content)
    assert response.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize("name", ROUTED)
def test_a_brand_key_reaches_no_partner_route(world, name):
    operation = PARTNER_OPERATIONS[name]
    response = rest_call(operation, world.keys["brand"], own_arguments(world)[name])
    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] == "brand_key_on_partner_api"


@pytest.mark.parametrize(
    ("write_key", "read_key"), [("ann_write", "ann"), ("ann_oauth_write", "ann_oauth")]
)
def test_a_partner_key_lists_only_partner_tools_and_a_brand_tool_is_unknown(
    world, write_key, read_key
):
    write, read = Mcp(credential(world, write_key)), Mcp(credential(world, read_key))
    listed = {tool["name"] for tool in write.request("tools/list").json()["result"]["tools"]}
    assert listed == set(TOOLS)
    read_listed = {tool["name"] for tool in read.request("tools/list").json()["result"]["tools"]}
    assert read_listed == {n for n in TOOLS if not PARTNER_OPERATIONS[n].is_write}
    nonsense = write.request("tools/call", {"name": "drop_everything", "arguments": {}}).json()
    for brand_tool in (name for name, op in OPERATIONS.items() if op.tool):
        answer = write.request("tools/call", {"name": brand_tool, "arguments": {}}).json()
        assert "result" not in answer, brand_tool
        assert answer["error"]["code"] == nonsense["error"]["code"], brand_tool
        assert (
            answer["error"]["message"].replace(brand_tool, "drop_everything")
            == (nonsense["error"]["message"])
        ), brand_tool
    prompts = write.request("prompts/list").json()["result"]["prompts"]
    assert prompts == []


def test_a_brand_key_sees_no_partner_tool(world):
    listed = {
        tool["name"]
        for tool in Mcp(world.keys["brand"]).request("tools/list").json()["result"]["tools"]
    }
    assert listed.isdisjoint(PARTNER_OPERATIONS)
    answer = Mcp(world.keys["brand"]).request(
        "tools/call", {"name": "get_my_balance", "arguments": {}}
    )
    assert "result" not in answer.json()


def test_an_operation_refuses_an_actor_of_the_other_audience(world):
    # The backstop behind the interfaces: even a direct call cannot run a brand operation for
    # a partner, or a partner operation for the brand, before any argument is read.
    partner = Actor.for_partner_key(
        key_id=1,
        prefix="x",
        brand_id=world.brand.pk,
        brand_slug="acme",
        partner_id=world.ann.pk,
        write=True,
        channel=Channel.REST,
        request=RequestFactory().get("/"),
    )
    brand = Actor.system(brand_id=world.brand.pk, brand_slug="acme", name="tests")
    for name, operation in OPERATIONS.items():
        with pytest.raises(PermissionDeniedError) as refused:
            operation.execute(partner, {})
        assert refused.value.code == "wrong_audience", name
    for name, operation in PARTNER_OPERATIONS.items():
        with pytest.raises(PermissionDeniedError) as refused:
            operation.execute(brand, own_arguments(world)[name])
        assert refused.value.code == "wrong_audience", name


def test_statement_csv_is_the_partners_own_and_foreign_ones_are_not_found(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.keys['ann']}")
    own = client.get(f"/api/partner/v1/payouts/{world.ann_payout.id}/statement.csv")
    assert own.status_code == 200 and own["Content-Type"].startswith("text/csv")
    assert world.ann_payout.id in own.content.decode()
    assert world.bob_conversion.id not in own.content.decode()
    missing = client.get(f"/api/partner/v1/payouts/{UNKNOWN['payout_id']}/statement.csv")
    assert missing.status_code == 404
    for foreign in (world.bob_payout.id, world.other_brand_payout.id):
        got = client.get(f"/api/partner/v1/payouts/{foreign}/statement.csv")
        assert got.status_code == 404
        assert got.content.decode().replace(foreign, UNKNOWN["payout_id"]) == (
            missing.content.decode()
        )
    for hostile in ("pay_%00x", "x" * 500, "pay_../../etc", "%F0%9F%92%A5"):
        assert client.get(f"/api/partner/v1/payouts/{hostile}/statement.csv").status_code in (
            400,
            404,
        )
    brand_key = APIClient()
    brand_key.credentials(HTTP_AUTHORIZATION=f"Bearer {world.keys['brand']}")
    assert (
        brand_key.get(f"/api/partner/v1/payouts/{world.ann_payout.id}/statement.csv").status_code
        == 401
    )
