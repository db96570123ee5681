"""The demo brand answers the product page: each of its four example prompts, and "why did X
drop?" / "clicks but no revenue", played as the tool calls an agent makes through the official
MCP SDK against the seeded demo, find the facts the answer needs."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx2
import pytest
from django.core.management import call_command
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from brands.models import Brand
from conversions.models import Conversion
from offers.models import PayoutRule
from partners.models import Partner
from tests.conftest import issue_key

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo(tmp_path):
    call_command(
        "seed_demo",
        "--key-file",
        str(tmp_path / "key"),
        "--admin-password-file",
        str(tmp_path / "pw"),
        stdout=open(tmp_path / "out", "w"),  # noqa: SIM115 - closed with the test's tmp_path
    )
    return Brand.objects.get(slug="demo")


def play(live_server, brand, work):
    key = issue_key(brand)

    async def session():
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
            Client(
                streamable_http_client(f"{live_server.url}/api/mcp", http_client=http)
            ) as client,
        ):
            return await work(client)

    return asyncio.run(session())


def test_the_product_pages_example_prompts_get_real_answers(live_server, demo):
    async def work(client):
        answers = {}
        # "Which partners have the highest fraud scores this month?"
        answers["fraud"] = await client.call_tool("get_fraud_summary", {"days": 30})
        # "Show me top 5 publishers by revenue in the last 14 days."
        answers["top"] = await client.call_tool(
            "get_top_publishers", {"metric": "revenue", "limit": 5, "days": 14}
        )
        # "Pause partner abc-123 and lower their payout on offer xyz to 15%."
        answers["pause"] = await client.call_tool("pause_partner", {"partner_id": "abc-123"})
        answers["payout"] = await client.call_tool(
            "adjust_payout",
            {
                "offer_id": "xyz",
                "partner_id": "abc-123",
                "payout_type": "percent",
                "payout_amount": "15",
            },
        )
        # "Approve conversion conv_9f2a if its fraud score is under 20."
        answers["lookup"] = await client.call_tool(
            "get_conversions", {"conversion_id": "conv_9f2a"}
        )
        (found,) = answers["lookup"].structured_content["items"]
        if found["fraud_score"] < 20:
            answers["approve"] = await client.call_tool(
                "approve_conversion", {"conversion_id": "conv_9f2a"}
            )
        return answers

    answers = play(live_server, demo, work)
    assert not any(answer.is_error for answer in answers.values()), answers
    risky = answers["fraud"].structured_content["top_risk_partners"]
    assert risky and risky[0]["partner_id"] == "coupon-kings"
    top = answers["top"].structured_content["results"]
    assert len(top) >= 3 and all(Decimal(row["revenue"]) > 0 for row in top)
    assert Partner.objects.get(brand=demo, slug="abc-123").status == "paused"
    rule = PayoutRule.objects.get(offer__slug="xyz", partner__slug="abc-123", event_type="")
    assert (rule.payout_type, rule.payout_amount) == ("percent", Decimal("15.00"))
    assert Conversion.objects.get(pk="conv_9f2a").status == "approved"


def test_why_a_partner_dropped_and_clicks_without_revenue(live_server, demo):
    async def work(client):
        return (
            await client.call_tool("get_partner_stats", {"partner_id": "tech-reviews", "days": 5}),
            await client.call_tool("diagnose_offer", {"offer_id": "pro-plan", "days": 7}),
            await client.call_tool(
                "get_report",
                {
                    "metrics": ["clicks", "refused_clicks", "conversions"],
                    "group_by": ["outcome", "country"],
                    "filters": {"partner": "tech-reviews"},
                    "days": 5,
                    "compare_previous": True,
                },
            ),
        )

    stats, diagnosis, report = play(live_server, demo, work)
    assert not stats.is_error and not diagnosis.is_error and not report.is_error
    # The report shows where the clicks went: refused by geo, from the partner's new countries
    # (the move began five days ago, so the previous period holds at most its first hours).
    blocked = [r for r in report.structured_content["rows"] if r["outcome"] == "geo_blocked"]
    assert {r["country"] for r in blocked} <= {"FR", "AU", "BR", "IN"}
    refused_now = sum(r["refused_clicks"] for r in blocked)
    assert refused_now >= 20
    assert sum(r["previous"]["refused_clicks"] for r in blocked) < refused_now / 2
    assert all(r["conversions"] == 0 for r in blocked)
    findings = {f["code"]: f for f in diagnosis.structured_content["findings"]}
    # The drop is explained: pro-plan's targeting refuses the countries the partner now sends.
    targeting = findings["targeting_refuses_clicks"]
    assert targeting["evidence"]["outcome"] == "geo_blocked"
    assert targeting["evidence"]["refused_clicks"] >= 20
    assert diagnosis.structured_content["refused_clicks"]["geo_blocked"] >= 20
