"""The HTTP / JSON-RPC matrix of reference/mcp-protocol.md §1.7, per protocol version."""

import json

import pytest

from mcp_gateway.tools import TOOLS
from offers.models import Offer
from tests.conftest import issue_key
from tests.mcp_gateway.helpers import META, MODERN, Mcp

LEGACY = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]


@pytest.fixture
def mcp(brand):
    return Mcp(issue_key(brand))


def test_get_and_delete_are_405_with_allow_post(client):
    for method in ("get", "delete", "put"):
        response = getattr(client, method)("/api/mcp")
        assert response.status_code == 405
        assert response["Allow"] == "POST"


def test_accept_must_fit_json_or_sse(mcp):
    assert mcp.request("ping", headers={"Accept": "image/png"}).status_code == 406
    assert mcp.request("ping", headers={"Accept": "application/json"}).status_code == 200
    assert mcp.request("ping", headers={"Accept": "*/*"}).status_code == 200
    sse = mcp.request("ping", headers={"Accept": "text/event-stream"})
    assert sse.status_code == 200
    assert sse["Content-Type"].startswith("text/event-stream")
    assert sse.content.decode().startswith("event: message\ndata: {")


def test_foreign_origin_is_403_and_no_origin_is_fine(mcp, settings):
    assert mcp.request("ping", headers={"Origin": "https://evil.example"}).status_code == 403
    assert mcp.request("ping", headers={"Origin": settings.TRCKER_PUBLIC_URL}).status_code == 200
    assert mcp.request("ping").status_code == 200


def test_missing_or_bad_credentials_are_401_with_a_challenge(brand):
    for key in (None, "trk_bad", "Basic x"):
        response = Mcp(key).request("ping")
        assert response.status_code == 401
        challenge = response["WWW-Authenticate"]
        assert challenge.startswith('Bearer realm="trcker"')
        assert (
            'resource_metadata="http://127.0.0.1:8000/.well-known/oauth-protected-resource/api/mcp"'
            in challenge
        )
        assert response.json()["error"]["code"] == -32600
    plaintext = issue_key(brand)
    query_token = Mcp(None).client.post(
        f"/api/mcp?access_token={plaintext}", "{}", content_type="application/json"
    )
    assert query_token.status_code == 401


def test_parse_error_invalid_request_and_null_id(mcp):
    parse = mcp.post(None, raw=b"{not json")
    assert (parse.status_code, parse.json()["error"]["code"], parse.json()["id"]) == (
        400,
        -32700,
        None,
    )
    for bad in (
        {"jsonrpc": "1.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "id": 1},
        {"jsonrpc": "2.0", "id": None, "method": "ping"},
        {"jsonrpc": "2.0", "id": True, "method": "ping"},
        {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": [1]},
        42,
        "x",
    ):
        response = mcp.post(bad)
        assert response.status_code == 400, bad
        assert response.json()["error"]["code"] == -32600


@pytest.mark.parametrize("version", LEGACY)
def test_initialize_negotiates_the_requested_version(brand, version):
    response = Mcp(issue_key(brand), version=None).request(
        "initialize",
        {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    )
    result = response.json()["result"]
    assert result["protocolVersion"] == version
    assert result["capabilities"]["tools"] == {"listChanged": False}
    assert result["serverInfo"]["name"] == "trcker"
    assert "instructions" in result
    assert response.get("Mcp-Session-Id") is None  # stateless: no session minted


def test_initialize_with_an_unknown_version_gets_the_newest_legacy_one(brand):
    for requested in ("1999-01-01", MODERN):
        response = Mcp(issue_key(brand), version="2099-01-01").request(
            "initialize", {"protocolVersion": requested, "capabilities": {}}
        )
        assert response.json()["result"]["protocolVersion"] == "2025-11-25"


def test_notifications_and_responses_are_202(mcp):
    assert mcp.post({"jsonrpc": "2.0", "method": "notifications/initialized"}).status_code == 202
    assert (
        mcp.post(
            {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}
        ).status_code
        == 202
    )
    response = mcp.post({"jsonrpc": "2.0", "id": 9, "result": {}})
    assert (response.status_code, response.content) == (202, b"")


def test_ping_and_unknown_method(mcp):
    assert mcp.request("ping").json()["result"] == {}
    unknown = mcp.request("resources/list")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (200, -32601)


def test_protocol_version_header_is_validated(brand):
    key = issue_key(brand)
    assert Mcp(key, version="2030-01-01").request("ping").status_code == 400
    assert Mcp(key, version=None).request("ping").status_code == 200  # absent → 2025-03-26


def test_unknown_tool_and_bad_params_are_32602(mcp):
    assert (
        mcp.request("tools/call", {"name": "drop_database", "arguments": {}}).json()["error"][
            "code"
        ]
        == -32602
    )
    assert mcp.request("tools/call", {"arguments": {}}).json()["error"]["code"] == -32602
    assert (
        mcp.request("tools/call", {"name": "list_offers", "arguments": [1]}).json()["error"]["code"]
        == -32602
    )
    assert mcp.request("tools/list", {"cursor": "bogus"}).json()["error"]["code"] == -32602


@pytest.mark.parametrize(
    ("version", "fields", "annotations", "structured"),
    [
        ("2024-11-05", {"name", "description", "inputSchema"}, False, False),
        ("2025-03-26", {"name", "description", "inputSchema", "annotations"}, True, False),
        (
            "2025-06-18",
            {"name", "description", "inputSchema", "annotations", "title", "outputSchema"},
            True,
            True,
        ),
        (
            "2025-11-25",
            {"name", "description", "inputSchema", "annotations", "title", "outputSchema"},
            True,
            True,
        ),
    ],
)
def test_tool_shapes_follow_the_negotiated_version(
    brand, offer, version, fields, annotations, structured
):
    mcp = Mcp(issue_key(brand), version=version)
    tools = mcp.request("tools/list").json()["result"]["tools"]
    assert all(set(tool) == fields for tool in tools)
    result = mcp.call("get_offer_config", {"offer_id": offer.slug})
    assert ("structuredContent" in result) is structured
    assert json.loads(result["content"][0]["text"])["offer_id"] == offer.slug


# --- batches ---------------------------------------------------------------------------------


def _batch(*messages):
    return list(messages)


@pytest.mark.parametrize("version", ["2025-03-26", None])
def test_batch_answers_every_request_and_no_notification(brand, version):
    mcp = Mcp(issue_key(brand), version=version)
    response = mcp.post(
        _batch(
            {"jsonrpc": "2.0", "id": "a", "method": "ping"},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": "b", "method": "tools/list"},
            5,
            {"jsonrpc": "2.0", "id": "c", "method": "nope"},
        )
    )
    assert response.status_code == 200
    body = response.json()
    by_id = {item["id"]: item for item in body}
    assert set(by_id) == {"a", "b", "c", None}
    assert by_id["a"]["result"] == {}
    assert len(by_id["b"]["result"]["tools"]) == len(TOOLS)
    assert by_id["c"]["error"]["code"] == -32601
    assert by_id[None]["error"]["code"] == -32600  # the non-object element


def test_batch_edge_cases(brand, settings):
    mcp = Mcp(issue_key(brand), version="2025-03-26")
    empty = mcp.post([])
    assert (empty.status_code, empty.json()["error"]["code"]) == (400, -32600)
    only_notifications = mcp.post([{"jsonrpc": "2.0", "method": "notifications/initialized"}])
    assert (only_notifications.status_code, only_notifications.content) == (202, b"")
    settings.TRCKER_MCP_MAX_BATCH = 3
    too_big = mcp.post([{"jsonrpc": "2.0", "id": i, "method": "ping"} for i in range(4)])
    assert too_big.status_code == 400
    assert "at most 3" in too_big.json()["error"]["message"]
    init = mcp.post(
        [
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {"protocolVersion": "2025-03-26"},
            }
        ]
    )
    assert init.json()[0]["error"]["code"] == -32600


@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25", "2024-11-05"])
def test_batches_are_refused_where_the_version_removed_them(brand, version):
    response = Mcp(issue_key(brand), version=version).post(
        [{"jsonrpc": "2.0", "id": 1, "method": "ping"}]
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == -32600
    assert "batching is not supported" in error["message"]


def test_each_batch_element_commits_or_fails_on_its_own(brand, offer):
    mcp = Mcp(issue_key(brand), version="2025-03-26")
    response = mcp.post(
        [
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {
                    "name": "update_offer",
                    "arguments": {"offer_id": offer.slug, "name": "Renamed"},
                },
            },
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {
                    "name": "update_offer",
                    "arguments": {
                        "offer_id": offer.slug,
                        "payout_type": "percent",
                        "payout_amount": "150",
                    },
                },
            },
            {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "tools/call",
                "params": {"name": "pause_offer", "arguments": {"offer_id": offer.slug}},
            },
        ]
    )
    results = {item["id"]: item["result"] for item in response.json()}
    assert results[1]["isError"] is False
    assert results[2]["isError"] is True
    assert results[3]["isError"] is False
    stored = Offer.objects.get(pk=offer.pk)
    assert (stored.name, stored.payout_type, stored.status) == ("Renamed", "flat", "paused")


# --- modern era (2026-07-28) -----------------------------------------------------------------


def test_server_discover(mcp):
    response = mcp.modern("server/discover")
    assert response.status_code == 200
    result = response.json()["result"]
    assert result["resultType"] == "complete"
    assert MODERN in result["supportedVersions"]
    assert result["cacheScope"] == "private"
    assert result["ttlMs"] >= 0
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "trcker"


def test_modern_lists_carry_caching_hints_and_calls_need_mcp_name(mcp, offer):
    listed = mcp.modern("tools/list").json()["result"]
    assert (listed["resultType"], listed["cacheScope"]) == ("complete", "private")
    assert [tool["name"] for tool in listed["tools"]][:2] == [
        "get_partner_stats",
        "get_offer_stats",
    ]
    called = mcp.modern(
        "tools/call",
        {"name": "get_offer_config", "arguments": {"offer_id": offer.slug}},
        name="get_offer_config",
    )
    assert called.json()["result"]["structuredContent"]["offer_id"] == offer.slug
    encoded = mcp.modern(
        "tools/call",
        {"name": "get_offer_config", "arguments": {"offer_id": offer.slug}},
        name="=?base64?Z2V0X29mZmVyX2NvbmZpZw==?=",
    )
    assert encoded.status_code == 200


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ("no_meta", 400, -32602),
        ("no_capabilities", 400, -32602),
        ("old_version", 400, -32022),
        ("header_mismatch", 400, -32020),
        ("no_method_header", 400, -32020),
        ("wrong_method_header", 400, -32020),
        ("no_name_header", 400, -32020),
        ("wrong_name_header", 400, -32020),
        ("unknown_method", 404, -32601),
    ],
)
def test_modern_request_validation(mcp, change, status, code):
    params = {"name": "list_offers", "arguments": {}, "_meta": dict(META)}
    headers = {
        "Mcp-Method": "tools/call",
        "Mcp-Name": "list_offers",
        "MCP-Protocol-Version": MODERN,
    }
    method = "tools/call"
    if change == "no_meta":
        del params["_meta"]
    elif change == "no_capabilities":
        del params["_meta"]["io.modelcontextprotocol/clientCapabilities"]
    elif change == "old_version":
        params["_meta"]["io.modelcontextprotocol/protocolVersion"] = "2025-06-18"
        headers["MCP-Protocol-Version"] = "2025-06-18"
    elif change == "header_mismatch":
        headers["MCP-Protocol-Version"] = "2025-11-25"
    elif change == "no_method_header":
        del headers["Mcp-Method"]
    elif change == "wrong_method_header":
        headers["Mcp-Method"] = "tools/list"
    elif change == "no_name_header":
        del headers["Mcp-Name"]
    elif change == "wrong_name_header":
        headers["Mcp-Name"] = "create_offer"
    elif change == "unknown_method":
        method, headers["Mcp-Method"] = "resources/list", "resources/list"
    mcp.version = None
    response = mcp.request(method, params, headers=headers)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    if code == -32022:
        assert response.json()["error"]["data"]["supported"] == [MODERN]


def test_unexpected_failures_are_a_generic_32603(mcp, caplog):
    # The one failure the application cannot produce on purpose is a bug. Simulate one in the
    # tool's domain function and check nothing of it leaks to the client.
    from mcp_gateway.tools import TOOLS

    operation = TOOLS.get("list_offers").operation
    original = operation.run

    def explode(**_kwargs):
        raise RuntimeError("secret internals: password=hunter2")

    object.__setattr__(operation, "run", explode)  # Operation is frozen; restored below
    try:
        response = mcp.request("tools/call", {"name": "list_offers", "arguments": {}})
    finally:
        object.__setattr__(operation, "run", original)
    body = response.json()
    assert body["error"]["code"] == -32603
    assert "hunter2" not in response.content.decode()
    assert "secret internals" in caplog.text
