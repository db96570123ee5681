"""Partners paid in their own currency: a payout keeps its ledger currency and amount, and
records the rate of the day it is generated and what the partner receives; without a rate it
is left out (fx_rate_missing), never paid at a guess (docs/currencies.md)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest

from audit.models import AuditEvent
from brands.fx_services import fx_rate_set
from conversions.ledger_models import LedgerEntry
from conversions.payouts import payouts_generate
from conversions.statements import payout_statement
from tests.conftest import client_with_key, issue_key, make_actor
from tests.conversions.ledger_helpers import sale
from tests.factories import OfferFactory, PartnerFactory


@pytest.fixture
def world(brand):
    actor = make_actor(brand)
    offer = OfferFactory(brand=brand, slug="us-shop", currency="USD", payout_amount=10)
    londoner = PartnerFactory(brand=brand, slug="london-deals", payout_currency="GBP")
    local = PartnerFactory(brand=brand, slug="local-deals")
    for partner in (londoner, londoner, londoner, local):
        sale(brand, offer, partner, actor=actor)
    return actor, londoner, local


def set_rate(actor, rate="0.7853"):
    fx_rate_set(actor=actor, base="USD", quote="GBP", day=dt.date(2026, 1, 1), rate=Decimal(rate))


def test_a_payout_states_what_the_partner_receives_in_their_currency(world):
    actor, londoner, local = world
    set_rate(actor)
    batch = payouts_generate(actor=actor)
    by_partner = {payout.partner_id: payout for payout in batch}
    london = by_partner[londoner.pk]
    assert (london.currency, london.amount) == ("USD", Decimal("30.00"))
    assert (london.partner_currency, london.partner_amount) == ("GBP", Decimal("23.56"))
    assert london.fx_rate == Decimal("0.7853")
    event = AuditEvent.objects.get(action="payout.generate", target_id=london.pk)
    assert event.changes["partner_currency"] == [None, "GBP"]
    assert event.changes["partner_amount"] == [None, "23.56"]
    home = by_partner[local.pk]
    assert (home.partner_currency, home.partner_amount, home.fx_rate) == (
        "USD",
        Decimal("10.00"),
        Decimal(1),
    )
    assert "partner_currency" not in AuditEvent.objects.get(target_id=home.pk).changes


def test_without_a_rate_the_payout_is_left_out_and_its_entries_carry_on(
    world, django_capture_on_commit_callbacks
):
    """Planted: paid_in answering rate 1 when no rate is found — the londoner's payout is
    generated in "GBP" at 1 (red)."""
    actor, londoner, local = world
    batch = payouts_generate(actor=actor)
    assert [payout.partner_id for payout in batch] == [local.pk]
    (skip,) = batch.skipped
    assert (skip["partner_id"], skip["reason"], skip["amount"]) == (
        "london-deals",
        "fx_rate_missing",
        Decimal("30.00"),
    )
    assert "USD to GBP" in skip["message"] and "set_fx_rate" in skip["message"]
    assert not LedgerEntry.objects.filter(partner=londoner, payout__isnull=False).exists()
    with django_capture_on_commit_callbacks(execute=True):  # the rate's commit clears caches
        set_rate(actor)
    (later,) = payouts_generate(actor=actor)
    assert (later.partner_id, later.partner_amount) == (londoner.pk, Decimal("23.56"))


def test_the_statement_and_both_apis_show_it(world, brand):
    actor, _, _ = world
    set_rate(actor)
    api = client_with_key(issue_key(brand))
    generated = api.post("/api/v1/payouts/generate/", {}, format="json")
    assert generated.status_code == 201, generated.content
    rows = {p["partner_id"]: p for p in generated.json()["payouts"]}
    assert (rows["london-deals"]["partner_currency"], rows["london-deals"]["partner_amount"]) == (
        "GBP",
        "23.56",
    )
    assert rows["london-deals"]["fx_rate"] == "0.785300000000"
    payout_id = rows["london-deals"]["payout_id"]
    statement = payout_statement(actor=actor, payout_id=payout_id)
    header = dict(row for row in csv.reader(io.StringIO(statement.content)) if len(row) == 2)
    assert (header["total"], header["partner_currency"], header["partner_amount"]) == (
        "30.00",
        "GBP",
        "23.56",
    )


def test_a_payout_near_the_column_limit_is_converted_to_the_exact_cent(brand):
    """Review bug: amount × rate was computed in Python's default 28 digits, so a 17-digit
    payout at a 12-decimal rate was rounded twice (to 28 digits, then half-up to the cent):
    10,000,004,999,999,999.89 USD × 0.909090909091 (1 / the brand's 1.1) is exactly
    …4,545.35499999999999 EUR, …4,545.35, and was stated as …4,545.36."""
    from conversions.payout_currency import paid_in

    actor = make_actor(brand)
    fx_rate_set(
        actor=actor,
        base="EUR",
        quote="USD",
        day=dt.date(2026, 1, 1),
        rate=Decimal("1.1"),
    )
    receives = paid_in(
        brand_id=brand.pk,
        partner_currency="EUR",
        currency="USD",
        amount=Decimal("10000004999999999.89"),
        day=dt.date(2026, 1, 2),
    )
    assert receives is not None
    assert receives.rate == Decimal("0.909090909091")
    assert receives.amount == Decimal("9090913636364545.35")
