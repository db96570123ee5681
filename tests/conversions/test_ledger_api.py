"""The ledger over REST: reverse_conversion, get_partner_balance, list_ledger_entries,
create_ledger_adjustment and the minimum payout (a programme setting) — answers, audit,
tenant isolation and hostile input (nothing half-written, a clear error code)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from audit.models import AuditEvent
from conversions.ledger_models import LedgerEntry
from tests.conftest import client_with_key, issue_key, make_actor
from tests.conversions.ledger_helpers import sale
from tests.factories import OfferFactory, PartnerFactory


@pytest.fixture
def shop(brand):
    return OfferFactory(brand=brand, slug="shop", payout_amount=Decimal("10.00"))


def test_reverse_then_balance_then_adjust_over_rest(brand, api, shop, partner):
    actor = make_actor(brand)
    conversion = sale(brand, shop, partner, actor=actor)
    rehearsal = api.post(
        f"/api/v1/conversions/{conversion.pk}/reverse/",
        {"reason": "chargeback", "dry_run": True},
        format="json",
    )
    assert rehearsal.status_code == 200, rehearsal.content
    assert rehearsal.json()["dry_run"] is True and rehearsal.json()["status"] == "reversed"
    assert not LedgerEntry.objects.filter(kind="reversal").exists()
    done = api.post(
        f"/api/v1/conversions/{conversion.pk}/reverse/", {"reason": "chargeback"}, format="json"
    )
    assert done.status_code == 200, done.content
    body = done.json()
    assert (body["status"], body["status_reason"]) == ("reversed", "chargeback")
    assert body["changes"][0]["action"] == "conversion.reverse"
    balance = api.get(f"/api/v1/partners/{partner.slug}/balance/").json()
    assert balance["partner_id"] == partner.slug
    (usd,) = balance["currencies"]
    assert (usd["balance"], usd["unpaid_commissions"], usd["unpaid_reversals"]) == (
        "0.00",
        "10.00",
        "10.00",
    )
    made = api.post(
        "/api/v1/ledger/adjustments/",
        {"partner_id": partner.slug, "currency": "USD", "amount": "5.00", "reason": "Bonus"},
        format="json",
    )
    assert made.status_code == 201, made.content
    assert (made.json()["kind"], made.json()["amount"]) == ("adjustment", "5.00")
    entries = api.get("/api/v1/ledger/entries/", {"partner_id": partner.slug}).json()["results"]
    assert [row["kind"] for row in entries] == ["adjustment", "reversal", "commission"]
    assert (
        api.get("/api/v1/ledger/entries/", {"kind": "reversal"}).json()["results"][0][
            "conversion_id"
        ]
        == conversion.pk
    )
    settings_ = api.patch("/api/v1/program/settings/", {"min_payout_amount": "50"}, format="json")
    assert settings_.status_code == 200 and settings_.json()["min_payout_amount"] == "50.00"
    generated = api.post("/api/v1/payouts/generate/", {}, format="json")
    assert generated.status_code == 201
    assert generated.json()["payouts"] == []
    (skip,) = generated.json()["skipped"]
    assert (skip["reason"], skip["amount"], skip["partner_id"]) == (
        "below_minimum",
        "5.00",
        partner.slug,
    )


def test_another_brands_ids_answer_like_ids_that_never_existed(brand, other_brand, shop):
    foreign_partner = PartnerFactory(brand=other_brand, slug="theirs")
    foreign_offer = OfferFactory(brand=other_brand, slug="theirs-shop")
    foreign = sale(other_brand, foreign_offer, foreign_partner, actor=make_actor(other_brand))
    api = client_with_key(issue_key(brand))
    pairs = [
        (
            ("post", f"/api/v1/conversions/{foreign.pk}/reverse/", {"reason": "refund"}),
            ("post", "/api/v1/conversions/conv_nope/reverse/", {"reason": "refund"}),
        ),
        (
            ("get", f"/api/v1/partners/{foreign_partner.slug}/balance/", None),
            ("get", "/api/v1/partners/nobody/balance/", None),
        ),
        (
            (
                "post",
                "/api/v1/ledger/adjustments/",
                {"partner_id": "theirs", "currency": "USD", "amount": "1", "reason": "x"},
            ),
            (
                "post",
                "/api/v1/ledger/adjustments/",
                {"partner_id": "nobody", "currency": "USD", "amount": "1", "reason": "x"},
            ),
        ),
    ]
    for theirs, missing in pairs:
        answers = []
        for method, url, body in (theirs, missing):
            response = getattr(api, method)(url, body, format="json") if body else api.get(url)
            answers.append((response.status_code, response.json()["error"]["code"]))
        assert answers[0] == answers[1] == (404, "not_found"), (theirs, answers)
    listed = api.get("/api/v1/ledger/entries/", {"partner_id": "theirs"})
    assert listed.status_code == 404
    assert api.get("/api/v1/ledger/entries/").json()["results"] == []
    foreign.refresh_from_db()
    assert foreign.status == "approved"
    assert LedgerEntry.objects.filter(brand=other_brand).count() == 1


HOSTILE = [
    ("reason", "refund\x00"),
    ("reason", "ｒｅｆｕｎｄ"),
    ("reason", 1),
    ("reason", None),
    ("reason", ["refund"]),
    ("note", "x" * 501),
    ("note", 7),
    ("note", "\x00"),
    ("dry_run", "yes"),
    ("extra", "field"),
]


@pytest.mark.parametrize(("field", "value"), HOSTILE)
def test_hostile_reversals_are_refused_and_write_nothing(brand, api, shop, partner, field, value):
    conversion = sale(brand, shop, partner, actor=make_actor(brand))
    before = AuditEvent.objects.count()
    body = {"reason": "refund", field: value}
    response = api.post(f"/api/v1/conversions/{conversion.pk}/reverse/", body, format="json")
    assert response.status_code in (400, 422), (field, value, response.content)
    assert response.json()["error"]["code"] in ("invalid_input", "invalid_characters")
    conversion.refresh_from_db()
    assert conversion.status == "approved"
    assert not LedgerEntry.objects.filter(kind="reversal").exists()
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "0"},
        {"amount": "0.00"},
        {"amount": "1.001"},
        {"amount": "1" * 40},
        {"amount": "-1e20"},
        {"amount": "NaN"},
        {"amount": "Infinity"},
        {"amount": True},
        {"amount": None},
        {"currency": "usd"},
        {"currency": "US\x00"},
        {"currency": "ＵＳＤ"},
        {"currency": 840},
        {"reason": ""},
        {"reason": "   "},
        {"reason": "r" * 501},
        {"reason": "a\x00b"},
        {"partner_id": "x" * 500},
        {"partner_id": 12},
        {"partner_id": "../abc"},
    ],
)
def test_hostile_adjustments_are_refused_and_write_nothing(brand, api, partner, change):
    before = AuditEvent.objects.count()
    body = {"partner_id": partner.slug, "currency": "USD", "amount": "1.00", "reason": "ok"}
    body.update(change)
    response = api.post("/api/v1/ledger/adjustments/", body, format="json")
    assert response.status_code in (400, 404, 422), (change, response.content)
    assert response.json()["error"]["code"] in ("invalid_input", "invalid_characters", "not_found")
    assert not LedgerEntry.objects.exists()
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize(
    "value", ["-1", "1e30", "abc", None, True, "1.234", "\x00", "9" * 13 + ".00"]
)
def test_hostile_minimum_payouts_are_refused(brand, api, value):
    response = api.patch("/api/v1/program/settings/", {"min_payout_amount": value}, format="json")
    assert response.status_code in (400, 422), (value, response.content)
    brand.refresh_from_db()
    assert brand.min_payout_amount == 0


def test_read_keys_read_the_ledger_and_cannot_write_it(brand, read_api, shop, partner):
    conversion = sale(brand, shop, partner, actor=make_actor(brand))
    assert read_api.get(f"/api/v1/partners/{partner.slug}/balance/").status_code == 200
    refused = read_api.post(
        f"/api/v1/conversions/{conversion.pk}/reverse/", {"reason": "refund"}, format="json"
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "read_only_credential"
