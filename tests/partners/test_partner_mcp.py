"""A partner key on the MCP endpoint, through the official MCP SDK client against a live
server: it lists and calls only the partner tools, a brand tool is as unknown as a made-up
name, and every partner tool answers what the same operation answers on REST (parity)."""

from __future__ import annotations

import asyncio
import json

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from rest_framework.test import APIClient

from audit.models import AuditEvent
from mcp_gateway.models import McpToolCall
from mcp_gateway.tools import PARTNER_TOOLS, TOOLS
from operations.catalog import PARTNER_OPERATIONS
from partners.models import Partner
from tests.mcp_gateway.helpers import Mcp, structured
from tests.partners.partner_world import build_partner_world
from tests.test_partner_isolation import (
    UNKNOWN,
    foreign_probes,
    leaks,
    own_arguments,
    rest_call,
    unknown_variant,
)


def value_kind(value: str) -> str:
    if value.startswith("conv_"):
        return "conversion_id"
    return "payout_id" if value.startswith("pay_") else "offer_id"


async def _session(url: str, key: str, work):
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        return await work(client)


@pytest.mark.django_db(transaction=True)
def test_sdk_client_sees_and_calls_only_partner_tools(live_server):
    world = build_partner_world()
    calls = own_arguments(world)

    async def work(client):
        listed = (await client.list_tools()).tools
        answers = {
            tool.name: await client.call_tool(tool.name, calls[tool.name]) for tool in listed
        }
        probed = []
        for name, arguments, argument, value in foreign_probes(world):
            if not PARTNER_OPERATIONS[name].tool:
                continue
            foreign = await client.call_tool(name, arguments)
            missing = await client.call_tool(name, unknown_variant(arguments, argument, value))
            probed.append((name, value, foreign, missing))
        refused = {}
        for name in ("list_partners", "get_report", "drop_everything"):
            try:
                await client.call_tool(name, {})
            except MCPError as exc:
                refused[name] = str(exc).replace(name, "NAME")
        return listed, answers, probed, refused

    listed, answers, probed, refused = asyncio.run(
        _session(f"{live_server.url}/api/mcp", world.keys["ann"], work)
    )
    # A read key: the read partner tools, no write tool, no brand tool.
    assert {tool.name for tool in listed} == {
        tool.name for tool in PARTNER_TOOLS if not tool.operation.is_write
    }
    assert {tool.name for tool in listed}.isdisjoint(tool.name for tool in TOOLS)
    for name, result in answers.items():
        assert result.is_error is False, (name, result.content[0].text)
        assert leaks(world, json.dumps(result.structured_content)) == [], name
    # Another partner's or brand's id answers exactly what an id that never existed does.
    assert len(probed) >= 6
    for name, value, foreign, missing in probed:
        assert foreign.is_error and missing.is_error, (name, value)
        assert foreign.content[0].text.replace(value, UNKNOWN[value_kind(value)]) == (
            missing.content[0].text
        ), (name, value)
    assert set(refused) == {"list_partners", "get_report", "drop_everything"}
    assert len(set(refused.values())) == 1, refused  # indistinguishable


def _comparable(value):
    if isinstance(value, dict):
        return {
            k: _comparable(v)
            for k, v in value.items()
            if k not in {"next", "previous", "next_cursor"} and not k.endswith("_at")
        }
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", sorted(n for n, op in PARTNER_OPERATIONS.items() if op.tool and op.rest)
)
def test_rest_and_mcp_give_the_same_answer_and_audit(name):
    world = build_partner_world()
    operation = PARTNER_OPERATIONS[name]
    arguments = own_arguments(world)[name]
    mcp_out = structured(Mcp(world.keys["ann_write"]).call(name, arguments))
    mcp_audit = list(AuditEvent.objects.order_by("-id").values("action", "changes")[:1])
    if operation.is_write:  # the same write again through REST: undo the first one
        Partner.objects.filter(pk=world.ann.pk).update(
            name=world.ann.name, website=world.ann.website, payout_details=""
        )
    response = rest_call(operation, world.keys["ann_write"], arguments)
    assert response.status_code == 200, response.content
    rest_out = response.json()
    if operation.shape != "one":
        rest_out["items"] = rest_out.pop("results")
    rest_audit = list(AuditEvent.objects.order_by("-id").values("action", "changes")[:1])
    assert _comparable(mcp_out) == _comparable(rest_out), name
    assert mcp_audit == rest_audit, name


@pytest.mark.django_db
def test_partner_tool_calls_are_logged_as_the_partner_with_their_key():
    world = build_partner_world()
    Mcp(world.keys["ann"]).call("get_my_balance", {})
    logged = McpToolCall.objects.get(tool="get_my_balance")
    assert (logged.brand_id, logged.actor_label) == (world.brand.pk, f"partner:{world.ann.pk}")
    assert logged.credential == world.keys["ann"].split("_")[1]


@pytest.mark.django_db
def test_a_partner_write_over_mcp_is_audited_as_the_partner():
    world = build_partner_world()
    Mcp(world.keys["ann_write"]).call("update_my_profile", {"name": "Ann (MCP)"})
    event = AuditEvent.objects.get(action="partner.update")
    assert (event.actor_label, event.actor_kind, event.channel) == (
        f"partner:{world.ann.pk}",
        "partner",
        "mcp",
    )
    assert event.actor_detail == {"partner_api_key": world.keys["ann_write"].split("_")[1]}


@pytest.mark.django_db
def test_the_statement_tool_answers_the_rest_download():
    world = build_partner_world()
    payout_id = world.ann_payout.id
    tool = structured(Mcp(world.keys["ann"]).call("get_my_statement", {"payout_id": payout_id}))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.keys['ann']}")
    download = client.get(f"/api/partner/v1/payouts/{payout_id}/statement.csv")
    assert tool["csv"] == download.content.decode()
    assert tool["filename"] == f"statement-{payout_id}.csv"
    assert "txn_id" not in tool["csv"] and "TXN-ANN" not in tool["csv"]
