"""Hostile input on PATCH /api/v1/program/settings/ and update_program_settings: wrong JSON
types, huge and negative numbers, control characters, unknown fields, repeated methods.
Whatever arrives: never a 5xx, the error shape with a code, and a refusal changes nothing; an
accepted body leaves settings inside their rules (hold 0–365 or null, methods from the
closed form, minimum 0 or more, two decimals) and is audited."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit.models import AuditEvent
from brands.models import Brand
from tests.conftest import issue_key
from tests.mcp_gateway.helpers import Mcp, structured
from tests.reliability.test_hostile_fuzz import (
    FUZZ,
    _assert_rest_error_shape,
    hostile_text,
    huge_ints,
    json_values,
)

URL = "/api/v1/program/settings/"
METHOD = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
valid_methods = st.lists(
    st.sampled_from(["paypal", "wire", "sepa", "ach"]) | st.from_regex(METHOD, fullmatch=True),
    max_size=21,
)
hostile_methods = st.lists(
    st.sampled_from(["PayPal", "pay pal", "x" * 33, "", "paypal"]) | hostile_text | json_values,
    min_size=1,
    max_size=22,
)
amounts = st.decimals(min_value=-10, max_value=10**13, places=2, allow_nan=False).map(str)
# Each field well-formed more often than not, so most bodies reach the service with one
# hostile value; unknown fields in some.
fields = {
    "default_hold_days": st.none() | st.integers(-2, 400) | huge_ints | json_values,
    "payout_methods": valid_methods | hostile_methods | json_values,
    "partner_reasons_visible": st.booleans() | json_values,
    "min_payout_amount": amounts
    | st.sampled_from(["0", "25.00", "1e3", "9" * 13, "-0.01", "Infinity", "NaN", "1.234"])
    | json_values,
    "dry_run": st.booleans() | st.booleans() | json_values,
}
bodies = st.fixed_dictionaries({}, optional=fields) | st.fixed_dictionaries(
    {}, optional={**fields, "currency": hostile_text, "brand": json_values, "id": huge_ints}
)


@pytest.fixture(autouse=True)
def _no_api_rate_limit(settings):
    settings.TRCKER_API_RATE = "100000/m"


def _row(brand):
    return Brand.objects.filter(pk=brand.pk).values().get()


def _within_rules(row) -> None:
    hold = row["default_hold_days"]
    assert hold is None or 0 <= hold <= 365
    assert len(row["payout_methods"]) <= 20
    assert all(METHOD.match(name) for name in row["payout_methods"])
    assert len(set(row["payout_methods"])) == len(row["payout_methods"])
    amount = row["min_payout_amount"]
    assert amount >= 0 and amount == amount.quantize(Decimal("0.01"))


@FUZZ
@given(body=bodies)
def test_rest_patch_never_fails_badly_and_refusals_change_nothing(brand, api, body):
    before, events = _row(brand), AuditEvent.objects.count()
    # json.dumps escapes lone surrogates (\ud800), which the server then reads back whole.
    answer = api.patch(URL, json.dumps(body), content_type="application/json")
    _assert_rest_error_shape(answer)
    assert answer.status_code in (200, 400, 422), (body, answer.content)
    after = _row(brand)
    _within_rules(after)
    if answer.status_code != 200 or answer.json()["dry_run"]:
        assert after == before
        assert AuditEvent.objects.count() == events
    else:
        changed = {k for k in ("default_hold_days", "payout_methods") if after[k] != before[k]}
        assert changed <= set(body)
        assert AuditEvent.objects.count() == events + len(answer.json()["changes"])


@FUZZ
@given(arguments=bodies)
def test_mcp_update_never_fails_badly(brand, arguments):
    before = _row(brand)
    response = Mcp(issue_key(brand)).request(
        "tools/call", {"name": "update_program_settings", "arguments": arguments}
    )
    assert response.status_code in (200, 400), response.content
    after = _row(brand)
    _within_rules(after)
    body = response.json()
    if response.status_code == 400 or body["result"]["isError"]:
        assert after == before  # a protocol error (too deep) or a refused call
        return
    answer = structured(body["result"])
    if answer["dry_run"]:  # the answer shows what would be; nothing was written
        assert after == before
        return
    assert answer["payout_methods"] == after["payout_methods"]
    assert answer["changes"] or after == before
