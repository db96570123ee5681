"""Every write answers what it changed, and with dry_run answers what it would change while
writing nothing and sending nothing — through MCP and REST alike."""

from __future__ import annotations

import re

import pytest
from django.apps import apps

from audit.models import AuditEvent
from mcp_gateway.tools import TOOLS
from operations.catalog import OPERATIONS
from tests.conftest import client_with_key, issue_key
from tests.factories import BrandFactory
from tests.mcp_gateway.helpers import Mcp, structured
from tests.mcp_gateway.world import build_world, every_tool_call

pytestmark = pytest.mark.django_db

WRITE_TOOLS = [tool.name for tool in TOOLS if tool.scope == "write"]
ID = re.compile(r"\b(clk|conv|pay|led|inv)_[A-Za-z0-9]+\b")
# Every table a write may touch, read whole: a dry run must leave each exactly as it was.
TABLES = [
    "brands.Brand",
    "brands.ApiKey",
    "brands.WebhookEndpoint",
    "brands.SigningSecret",
    "offers.Offer",
    "offers.PayoutRule",
    "partners.Partner",
    "partners.Coupon",
    "partners.PartnerInvitation",
    "conversions.Conversion",
    "conversions.Payout",
    "conversions.PostbackDelivery",
    "conversions.DailyRollup",
    "audit.AuditEvent",
]


def database_state():
    return {label: list(apps.get_model(label).objects.order_by("pk").values()) for label in TABLES}


def without_ids(value):
    if isinstance(value, dict):
        # A new webhook's serial id: the rolled-back dry run used one up, the write the next.
        serial = value.get("target_type") == "webhook"
        return {
            key: without_ids(item)
            for key, item in value.items()
            if not key.endswith("_at") and not (serial and key == "target_id")
        }
    if isinstance(value, list):
        return [without_ids(item) for item in value]
    if isinstance(value, str):
        return ID.sub(r"\1_X", value)
    return value


def test_every_write_takes_dry_run_and_answers_changes():
    for name in WRITE_TOOLS:
        schema = TOOLS.get(name).input_schema()
        assert "dry_run" in schema["properties"], name
        output = TOOLS.get(name).output
        assert {"changes", "dry_run"} <= set(output["properties"]), name


@pytest.mark.parametrize("name", WRITE_TOOLS)
def test_a_dry_run_writes_nothing_and_shows_the_changes_the_write_then_makes(
    name, django_capture_on_commit_callbacks
):
    world = build_world(BrandFactory(slug="acme"))
    arguments = dict(every_tool_call(world))[name]
    mcp = Mcp(issue_key(world.brand))
    mcp.call("get_fraud_settings", {})  # the key's first use records last_used_at
    before = database_state()
    with django_capture_on_commit_callbacks() as callbacks:
        rehearsal = structured(mcp.call(name, {**arguments, "dry_run": True}))
    assert rehearsal["dry_run"] is True
    assert database_state() == before, name
    # Nothing waits for a commit that will never come (emails, postbacks, cache bumps): the
    # only callbacks are the tool-call log's, which records the dry run as a call.
    assert all("tool_call" in repr(callback) for callback in callbacks), callbacks
    done = structured(mcp.call(name, arguments))
    assert done["dry_run"] is False
    assert without_ids(rehearsal["changes"]) == without_ids(done["changes"]), name
    # What the write answers is what the audit log recorded, event for event.
    events = AuditEvent.objects.filter(brand=world.brand).order_by("-id")[: len(done["changes"])]
    recorded = [
        {
            "action": event.action,
            "target_type": event.target_type,
            "target_id": event.target_id,
            "changes": event.changes,
        }
        for event in reversed(list(events))
    ]
    assert done["changes"] == recorded, name


def test_rest_dry_run_creates_nothing_and_answers_200():
    brand = BrandFactory(slug="acme")
    api = client_with_key(issue_key(brand))
    body = {
        "name": "Summer Sale",
        "destination_url": "https://shop.example.com/summer",
        "payout_amount": "5",
        "dry_run": True,
    }
    response = api.post("/api/v1/offers/", body, format="json")
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["dry_run"] is True
    assert answer["offer_id"] == "summer-sale"
    assert [change["action"] for change in answer["changes"]] == ["offer.create"]
    assert not apps.get_model("offers.Offer").objects.filter(brand=brand).exists()
    created = api.post("/api/v1/offers/", {**body, "dry_run": False}, format="json")
    assert created.status_code == 201
    assert created.json()["changes"][0]["action"] == "offer.create"


def test_dry_run_must_be_a_json_boolean():
    brand = BrandFactory(slug="acme")
    result = Mcp(issue_key(brand)).call("set_fraud_settings", {"mode": "review", "dry_run": "yes"})
    assert result["isError"] is True
    assert "dry_run" in result["content"][0]["text"]


def test_reads_take_no_dry_run():
    for name, operation in OPERATIONS.items():
        if operation.scope == "read":
            assert "dry_run" not in operation.contract().fields, name
