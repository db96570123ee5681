"""The partner programme's settings over REST and MCP (get_program_settings,
update_program_settings): one read and one write for the default hold, the closed list of
payout methods, whether partners see rejection reasons and the minimum payout; audited with
old → new, dry_run, scope, strict validation and tenant isolation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from audit.models import AuditEvent
from brands.models import Brand
from tests.conftest import issue_key
from tests.mcp_gateway.helpers import Mcp, structured

URL = "/api/v1/program/settings/"


def test_defaults_are_read_over_rest_and_mcp(brand, api):
    answer = api.get(URL)
    assert answer.status_code == 200, answer.content
    assert answer.json() == {
        "default_hold_days": None,
        "payout_methods": [],
        "partner_reasons_visible": True,
        "min_payout_amount": "0.00",
    }
    result = Mcp(issue_key(brand)).call("get_program_settings", {})
    assert result["isError"] is False and structured(result) == answer.json()


def test_patch_changes_only_what_is_given_and_audits_old_and_new(brand, api):
    answer = api.patch(
        URL,
        {"default_hold_days": 30, "payout_methods": ["paypal", "wire"], "min_payout_amount": "50"},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["default_hold_days"], body["payout_methods"], body["min_payout_amount"]) == (
        30,
        ["paypal", "wire"],
        "50.00",
    )
    assert body["partner_reasons_visible"] is True  # not given: kept
    (change,) = body["changes"]
    assert change["action"] == "brand.program_settings"
    event = AuditEvent.objects.get(action="brand.program_settings")
    assert event.changes == {
        "default_hold_days": [None, 30],
        "payout_methods": [[], ["paypal", "wire"]],
        "min_payout_amount": ["0.00", "50.00"],
    }
    assert event.actor_label.startswith("api_key:")
    # null clears the hold (conversions wait for a person); the rest is kept.
    cleared = api.patch(URL, {"default_hold_days": None}, format="json").json()
    assert (cleared["default_hold_days"], cleared["payout_methods"]) == (None, ["paypal", "wire"])
    brand.refresh_from_db()
    assert (brand.default_hold_days, brand.min_payout_amount) == (None, Decimal("50.00"))
    # The same value again changes nothing and records nothing.
    same = api.patch(URL, {"min_payout_amount": "50.00"}, format="json").json()
    assert same["changes"] == []
    assert AuditEvent.objects.filter(action="brand.program_settings").count() == 2


def test_mcp_update_with_dry_run_writes_nothing(brand):
    mcp = Mcp(issue_key(brand))
    rehearsal = mcp.call(
        "update_program_settings", {"partner_reasons_visible": False, "dry_run": True}
    )
    assert rehearsal["isError"] is False, rehearsal
    answer = structured(rehearsal)
    assert answer["dry_run"] is True and answer["partner_reasons_visible"] is False
    assert answer["changes"][0]["changes"] == {"partner_reasons_visible": [True, False]}
    brand.refresh_from_db()
    assert brand.partner_reasons_visible is True
    assert not AuditEvent.objects.filter(action="brand.program_settings").exists()
    done = structured(mcp.call("update_program_settings", {"partner_reasons_visible": False}))
    assert done["dry_run"] is False
    brand.refresh_from_db()
    assert brand.partner_reasons_visible is False
    assert AuditEvent.objects.get(action="brand.program_settings").actor_label.startswith("mcp:")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "non_field_errors"),
        ({"dry_run": True}, "non_field_errors"),
        ({"default_hold_days": 366}, "default_hold_days"),
        ({"default_hold_days": -1}, "default_hold_days"),
        ({"default_hold_days": "7"}, "default_hold_days"),
        ({"default_hold_days": 7.5}, "default_hold_days"),
        ({"default_hold_days": True}, "default_hold_days"),
        ({"payout_methods": "paypal"}, "payout_methods"),
        ({"payout_methods": ["PayPal"]}, "payout_methods"),
        ({"payout_methods": ["pay pal"]}, "payout_methods"),
        ({"payout_methods": ["paypal", "paypal"]}, "payout_methods"),
        ({"payout_methods": [5]}, "payout_methods"),
        ({"payout_methods": [None]}, "payout_methods"),
        ({"payout_methods": ["x" * 33]}, "payout_methods"),
        ({"payout_methods": [f"m{i}" for i in range(21)]}, "payout_methods"),
        ({"partner_reasons_visible": "false"}, "partner_reasons_visible"),
        ({"partner_reasons_visible": None}, "partner_reasons_visible"),
        ({"min_payout_amount": "-1"}, "min_payout_amount"),
        ({"min_payout_amount": "1.234"}, "min_payout_amount"),
        ({"min_payout_amount": None}, "min_payout_amount"),
        ({"min_payout_amount": "NaN"}, "min_payout_amount"),
        ({"currency": "EUR"}, "currency"),
        ({"fraud_mode": "off"}, "fraud_mode"),
        ({"brand": "other"}, "brand"),
    ],
)
def test_bad_settings_are_refused_by_name_and_change_nothing(brand, api, body, field):
    before = Brand.objects.filter(pk=brand.pk).values().get()
    events = AuditEvent.objects.count()
    answer = api.patch(URL, body, format="json")
    assert answer.status_code == 422, (body, answer.content)
    error = answer.json()["error"]
    assert error["code"] == "invalid_input" and field in error["fields"], error
    assert Brand.objects.filter(pk=brand.pk).values().get() == before
    assert AuditEvent.objects.count() == events


def test_a_read_key_reads_but_cannot_update(brand, read_api):
    assert read_api.get(URL).status_code == 200
    refused = read_api.patch(URL, {"default_hold_days": 3}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "read_only_credential"
    result = Mcp(issue_key(brand, read_only=True)).call(
        "update_program_settings", {"default_hold_days": 3}
    )
    assert result["isError"] is True
    brand.refresh_from_db()
    assert brand.default_hold_days is None


def test_each_brand_reads_and_writes_only_its_own(brand, other_brand, api):
    api.patch(URL, {"payout_methods": ["wire"], "default_hold_days": 2}, format="json")
    other = Mcp(issue_key(other_brand))
    assert structured(other.call("get_program_settings", {}))["payout_methods"] == []
    other.call("update_program_settings", {"payout_methods": ["sepa"]})
    brand.refresh_from_db()
    other_brand.refresh_from_db()
    assert (brand.payout_methods, brand.default_hold_days) == (["wire"], 2)
    assert (other_brand.payout_methods, other_brand.default_hold_days) == (["sepa"], None)


def test_the_old_payout_settings_route_is_gone(api):
    # Folded into the programme settings: one operation per field.
    assert api.get("/api/v1/payouts/settings/").status_code == 404
