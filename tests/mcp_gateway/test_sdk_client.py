"""The official MCP Python SDK (mcp 2.x) as the client, against a live server: the default
(probe server/discover at 2026-07-28) mode and the legacy initialize handshake."""

import asyncio
import json
from decimal import Decimal

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from conversions.models import Conversion
from mcp_gateway.tools import TOOLS
from offers.models import PayoutRule
from partners.models import Partner
from tests.conftest import issue_key
from tests.factories import BrandFactory, OfferFactory
from tests.mcp_gateway.world import build_world, every_tool_call

pytestmark = pytest.mark.django_db(transaction=True)


async def _session(url: str, key: str, mode: str, work):
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        return await work(client)


def run(live_server, key, work, mode="auto"):
    return asyncio.run(_session(f"{live_server.url}/api/mcp", key, mode, work))


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_sdk_lists_and_calls_every_tool(live_server, mode):
    world = build_world(BrandFactory(slug="acme"))
    key = issue_key(world.brand)

    async def work(client):
        tools, cursor = [], None
        while True:
            page = await client.list_tools(cursor=cursor)
            tools += page.tools
            if not (cursor := page.next_cursor):
                break
        results = {}
        for name, arguments in every_tool_call(world):
            results[name] = await client.call_tool(name, arguments)
        return client.protocol_version, tools, results

    version, tools, results = run(live_server, key, work, mode)
    assert version == ("2026-07-28" if mode == "auto" else "2025-11-25")
    assert len(tools) == len(TOOLS)
    assert all(
        tool.annotations is not None and tool.annotations.read_only_hint is not None
        for tool in tools
    )
    for name, result in results.items():
        assert result.is_error is False, (name, result.content[0].text)
        assert result.structured_content is not None, name
        assert json.loads(result.content[0].text) == result.structured_content, name


def test_sdk_sees_tool_errors_and_protocol_errors(live_server):
    brand = BrandFactory(slug="acme")
    key = issue_key(brand)

    async def work(client):
        missing = await client.call_tool("pause_offer", {"offer_id": "nope"})
        try:
            await client.call_tool("drop_everything", {})
        except MCPError as exc:
            unknown = exc
        else:
            unknown = None
        return missing, unknown

    missing, unknown = run(live_server, key, work, "legacy")
    assert missing.is_error is True
    assert "not_found" in missing.content[0].text
    assert unknown is not None


def test_sdk_with_a_bad_key_fails_cleanly(live_server):
    with pytest.raises(Exception):  # noqa: B017, PT011 - the SDK wraps the 401 in its own types
        run(live_server, "trk_not_a_real_key", lambda client: client.list_tools(), "legacy")


def test_product_page_example_prompts_as_tool_sequences(live_server):
    brand = BrandFactory(slug="acme")
    world = build_world(brand)
    OfferFactory(brand=brand, slug="xyz")
    Conversion.objects.filter(pk=world.pending.pk).update(fraud_score=12)
    key = issue_key(brand)

    async def work(client):
        # "Which partners have the highest fraud scores this month?"
        fraud = (await client.call_tool("get_fraud_summary", {"days": 30})).structured_content
        # "Show me top 5 publishers by revenue in the last 14 days."
        top = await client.call_tool(
            "get_top_publishers", {"metric": "revenue", "limit": 5, "days": 14}
        )
        # "Pause partner abc-123 and lower their payout on offer xyz to 15%."
        paused = await client.call_tool("pause_partner", {"partner_id": "abc-123"})
        adjusted = await client.call_tool(
            "adjust_payout",
            {
                "offer_id": "xyz",
                "partner_id": "abc-123",
                "payout_type": "percent",
                "payout_amount": "15",
            },
        )
        # "Approve conversion conv_… if its fraud score is under 20."
        found = (
            await client.call_tool("get_conversions", {"conversion_id": world.pending.id})
        ).structured_content
        approved = None
        if found["items"][0]["fraud_score"] < 20:
            approved = await client.call_tool(
                "approve_conversion", {"conversion_id": world.pending.id}
            )
        return fraud, top, paused, adjusted, approved

    fraud, top, paused, adjusted, approved = run(live_server, key, work)
    assert "top_risk_partners" in fraud
    assert top.structured_content["metric"] == "revenue"
    assert [row["partner_id"] for row in top.structured_content["results"]] == [
        "abc-123",
        "deal-site",
    ]
    assert paused.structured_content["status"] == "paused"
    assert Partner.objects.get(brand=brand, slug="abc-123").status == "paused"
    rule = PayoutRule.objects.get(offer__slug="xyz", partner__slug="abc-123")
    assert (rule.payout_type, rule.payout_amount) == ("percent", Decimal("15.00"))
    assert adjusted.is_error is False
    assert approved is not None and approved.structured_content["status"] == "approved"
