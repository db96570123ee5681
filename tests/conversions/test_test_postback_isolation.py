"""Issue 14, send_test_postback: test rows change no number anyone reads — stats, reports,
fraud, caps, payouts, statements, outbound deliveries, lists, the review queue — cannot be
approved, rejected or paid, and hostile input never half-writes one."""

from __future__ import annotations

import asyncio
import json
import re

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client as SdkClient
from mcp.client.streamable_http import streamable_http_client

from audit.models import AuditEvent
from conversions import tracking_config
from conversions.models import Click, Conversion, PostbackDelivery
from conversions.payouts import payouts_generate
from conversions.services import conversion_approve
from conversions.statements import payout_statement
from core.counters import redis_client
from core.queue_redis import queue_client
from offers.models import OfferCapCounter
from operations.catalog import OPERATIONS
from tests.conftest import client_with_key, issue_key, make_actor
from tests.conversions.helpers import click, click_id_from
from tests.factories import BrandFactory, OfferFactory, PartnerFactory
from tests.mcp_gateway.helpers import Mcp

TEMPLATE = "https://partner.example.com/pb?c={CLICK_ID}&p={PAYOUT}"
REPORTS = [
    {"metrics": ["clicks", "billable_clicks", "conversions", "payout"], "group_by": ["partner"]},
    {
        "metrics": ["clicks", "conversions", "sale_amount"],
        "group_by": ["sub1"],
        "filters": {"partner": "abc-123"},  # sub ids are reported one partner at a time
    },
    {"metrics": ["clicks", "refused_clicks"], "group_by": ["outcome", "country"]},
    {"metrics": ["conversions", "avg_fraud_score"], "group_by": ["status", "event_type"]},
]


def postback(client, query):
    tracking_config.clear()
    return client.get(f"/api/postback/acme/shop?{query}", REMOTE_ADDR="203.0.113.9")


@pytest.fixture
def shop(brand, client):
    """Real traffic through the real endpoints: an approved sale already in a payout, an
    approved one not yet paid, a pending one, and a capped offer with an outbound postback."""
    offer = OfferFactory(
        brand=brand,
        slug="shop",
        daily_cap=50,
        cap_mode="hard",
        min_conversion_seconds=0,
        postback_url_template=TEMPLATE,
    )
    PartnerFactory(brand=brand, slug="abc-123")
    actor = make_actor(brand)
    for txn, approve in (("R1", True), ("R2", True), ("R3", False)):
        clicked = click_id_from(click(client, "acme", "shop", "abc-123", sub1="nl"))
        body = postback(client, f"txn_id={txn}&click_id={clicked}&amount=20").json()
        if approve:
            conversion_approve(
                actor=actor, conversion=Conversion.objects.get(pk=body["conversion_id"])
            )
        if txn == "R1":
            (payout,) = payouts_generate(actor=actor)
    click(client, "acme", "shop", "abc-123")  # one more click, never converted
    return offer, payout


def _counters() -> dict[str, bytes | None]:
    found: dict[str, bytes | None] = {}
    for store in (redis_client(), queue_client()):
        if store is not None:
            for pattern in ("*trcker:vel:*", "*trcker:dup:*"):
                for key in store.scan_iter(match=pattern):
                    found[str(key)] = store.get(key)
    return found


def run(actor, name, **arguments):
    return OPERATIONS[name].execute(actor, arguments).data


def snapshot(brand, offer, payout):
    """What every reader shows, through the real operations and selectors."""
    actor = make_actor(brand)
    return {
        "offer_stats": run(actor, "get_offer_stats", offer_id="shop"),
        "partner_stats": run(actor, "get_partner_stats"),
        "top": run(actor, "get_top_publishers", metric="conversions"),
        "fraud": run(actor, "get_fraud_summary"),
        "reports": [run(actor, "get_report", days=7, **spec) for spec in REPORTS],
        "diagnosis": run(actor, "diagnose_offer", offer_id="shop"),
        "conversions": run(actor, "get_conversions"),
        "queue": run(actor, "list_pending_conversions"),
        "payouts_to_generate": [
            (row["partner_id"], row["currency"], row["amount"])  # ids are new on each dry run
            for row in run(actor, "generate_payouts", dry_run=True)["payouts"]
        ],
        "statement": payout_statement(actor=actor, payout_id=payout.pk).content,
        "caps": list(OfferCapCounter.objects.filter(offer=offer).values_list("period", "count")),
        "deliveries": list(PostbackDelivery.objects.values_list("pk", "conversion_id")),
        "fraud_counters": _counters(),
    }


def test_a_test_changes_no_number_anyone_reads(brand, shop):
    offer, payout = shop
    before = snapshot(brand, offer, payout)
    assert before["offer_stats"]["results"][0]["clicks"] == 4  # the snapshot sees traffic
    assert before["caps"] and before["deliveries"] and before["payouts_to_generate"]

    api = client_with_key(issue_key(brand))
    tracking_config.clear()
    answer = api.post(
        "/api/v1/offers/shop/test-postback/", {"sale_amount": "999", "sub1": "nl"}, format="json"
    ).json()
    assert answer["ok"] is True, answer
    (conversion,) = answer["trace"]["conversions"]
    assert conversion["is_test"] is True and conversion["status"] == "pending"

    assert snapshot(brand, offer, payout) == before
    # Asked for, the test rows are there.
    listed = run(make_actor(brand), "get_conversions", include_test=True)
    assert conversion["conversion_id"] in [row["conversion_id"] for row in listed]
    assert (
        payouts_generate(actor=make_actor(brand), up_to=None)[0]
        .conversions.filter(is_test=True)
        .count()
        == 0
    )


def test_a_test_conversion_is_never_approved_rejected_or_paid(brand, shop):
    api = client_with_key(issue_key(brand))
    tracking_config.clear()
    answer = api.post("/api/v1/offers/shop/test-postback/", {}, format="json").json()
    test_id = answer["postback"]["conversion_id"]

    shown = api.get(f"/api/v1/conversions/{test_id}/")
    assert shown.status_code == 200 and shown.json()["is_test"] is True
    for verb in ("approve", "reject"):
        refused = api.post(f"/api/v1/conversions/{test_id}/{verb}/", {}, format="json")
        assert refused.status_code == 409, refused.content
        assert refused.json()["error"]["code"] == "test_conversion"
    by_id = api.post(
        "/api/v1/conversions/bulk/",
        {"action": "approve", "conversion_ids": [test_id]},
        format="json",
    ).json()
    assert (by_id["refused"], by_id["results"][0]["error"]) == (1, "test_conversion")
    by_filter = api.post(
        "/api/v1/conversions/bulk/", {"action": "approve", "status": "pending"}, format="json"
    ).json()
    assert test_id not in [row["conversion_id"] for row in by_filter["results"]]
    assert by_filter["changed"] == 1  # R3, the real pending sale
    assert Conversion.objects.get(pk=test_id).status == "pending"
    assert (
        payouts_generate(actor=make_actor(brand))[0].conversions.filter(is_test=True).count() == 0
    )
    assert not PostbackDelivery.objects.filter(conversion_id=test_id).exists()


# --- hostile input ----------------------------------------------------------------------------

HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=200, max_size=600),
    st.sampled_from(["\x00", "a\x00b", "shop\x00", "../shop", "SHOP", "  ", "\u202e", "🙂" * 70]),
)
HOSTILE_VALUE = st.one_of(
    HOSTILE_TEXT,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.sampled_from(["1e400", "-1", "0.001", "999999999999.995", "NaN", "Infinity"]),
)
FIELDS = st.sampled_from(
    [
        "partner_id",
        "event_type",
        "sale_amount",
        "currency",
        "country",
        "device",
        "sub1",
        "sub5",
        "dry_run",
        "brand_id",
        "is_test",
        "offer_id",
    ]
)
NOT_WRITES = ("api_key.create",)
# Valid values for some fields, so that one hostile field at a time gets past the others.
VALID = st.fixed_dictionaries(
    {},
    optional={
        "partner_id": st.just("abc-123"),
        "event_type": st.sampled_from(["sale", "lead", "trial.start"]),
        "sale_amount": st.sampled_from(["0", "49.90", 12, "999999999999.99"]),
        "currency": st.sampled_from(["USD", "EUR"]),
        "country": st.sampled_from(["DE", "US"]),
        "device": st.sampled_from(["desktop", "mobile", "tablet"]),
        "sub1": st.text(max_size=20),
        "dry_run": st.booleans(),
    },
)


@pytest.mark.django_db
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    offer_segment=st.one_of(st.just("shop"), HOSTILE_TEXT),
    valid=VALID,
    hostile=st.one_of(st.none(), st.tuples(FIELDS, HOSTILE_VALUE)),
    via_mcp=st.booleans(),
)
def test_hostile_input_is_a_clean_answer_and_never_half_written(
    brand, shop, offer_segment, valid, hostile, via_mcp
):
    arguments = valid | dict([hostile] if hostile else [])
    key = issue_key(brand)
    clicks, conversions = Click.objects.count(), Conversion.objects.count()
    real = Click.objects.filter(is_test=False).count()
    events = AuditEvent.objects.exclude(action__in=NOT_WRITES).count()
    tracking_config.clear()
    if via_mcp:
        result = Mcp(key).call("send_test_postback", {"offer_id": offer_segment, **arguments})
        failed = result["isError"]
        answer = None if failed else result["structuredContent"]
        if failed:
            assert "internal" not in result["content"][0]["text"].lower()
    else:
        # Encoded here: NaN and Infinity go out as the bare literals a hostile client sends.
        response = client_with_key(key).post(
            f"/api/v1/offers/{_path(offer_segment)}/test-postback/",
            json.dumps(arguments),
            content_type="application/json",
        )
        assert response.status_code < 500, response.content
        failed = response.status_code >= 400
        answer = None if failed else response.json()
        if failed and response.status_code != 404:
            assert re.fullmatch(r"[a-z_]+", response.json()["error"]["code"])
    if failed:
        assert Click.objects.count() == clicks and Conversion.objects.count() == conversions
        assert AuditEvent.objects.exclude(action__in=NOT_WRITES).count() == events
        return
    assert answer is not None and answer["trace"]["click"]["is_test"] is True
    kept = 0 if answer["dry_run"] else 1
    assert Click.objects.count() == clicks + kept
    assert Click.objects.filter(is_test=False).count() == real


def _path(segment: str) -> str:
    from urllib.parse import quote

    return quote(segment, safe="") or "%20"


# --- the official MCP SDK ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_sdk_client_gets_the_trace(live_server):
    brand = BrandFactory(slug="acme")
    OfferFactory(brand=brand, slug="shop", postback_secret="k" * 32, allow_unsigned_postbacks=False)
    PartnerFactory(brand=brand, slug="abc-123")
    key = issue_key(brand)

    async def call():
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
            SdkClient(
                streamable_http_client(f"{live_server.url}/api/mcp", http_client=http)
            ) as sdk,
        ):
            return await sdk.call_tool("send_test_postback", {"offer_id": "shop", "sub1": "sdk"})

    result = asyncio.run(call())
    assert result.is_error is False, result.content[0].text
    answer = result.structured_content
    assert answer["ok"] is True and answer["request"]["proof"] == "signature"
    trace = answer["trace"]
    assert trace["click"]["is_test"] is True and trace["click"]["sub1"] == "sdk"
    assert [c["conversion_id"] for c in trace["conversions"]] == [
        answer["postback"]["conversion_id"]
    ]
    assert [a["outcome"] for a in trace["postback_attempts"]] == ["accepted"]
    assert Conversion.objects.get(is_test=True).click_id == answer["click_id"]
