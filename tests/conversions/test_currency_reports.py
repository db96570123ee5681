"""Two offers in two currencies, one partner on both: every reader keeps the currencies apart
and says which (docs/currencies.md, "Reports and rollups per currency"); a sale reported in
a third currency is counted in its offer's."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from brands.fx_services import fx_rate_set
from conversions.models import DailyRollup
from conversions.payouts import payouts_generate
from conversions.services import conversion_approve
from conversions.stats import daily_series, resolve_period
from tests.conftest import make_actor
from tests.conversions.factories_flow import accepted_click, record
from tests.factories import OfferFactory, PartnerFactory


@pytest.fixture
def two_currencies(brand):
    actor = make_actor(brand)
    dollars = OfferFactory(brand=brand, slug="us-shop", currency="USD", payout_amount=10)
    euros = OfferFactory(
        brand=brand, slug="eu-shop", currency="EUR", payout_amount=8, revenue_amount=20
    )
    partner = PartnerFactory(brand=brand, slug="abc-123")
    fx_rate_set(actor=actor, base="GBP", quote="EUR", day=dt.date(2020, 1, 1), rate=Decimal("1.2"))
    sales = [
        record(brand, dollars, click=accepted_click(brand, dollars, partner), txn_id="U-1"),
        record(brand, dollars, click=accepted_click(brand, dollars, partner), txn_id="U-2"),
        record(brand, euros, click=accepted_click(brand, euros, partner), txn_id="E-1"),
        record(
            brand,
            euros,
            click=accepted_click(brand, euros, partner),
            txn_id="E-2",
            amount="50.00",
            currency="GBP",
        ),
    ]
    for conversion in sales:
        conversion_approve(actor=actor, conversion=conversion)
    return actor, sales


def test_the_converted_sale_is_counted_in_its_offers_currency(two_currencies):
    _, sales = two_currencies
    assert (sales[3].currency, sales[3].sale_amount, sales[3].original_currency) == (
        "EUR",
        Decimal("60.00"),
        "GBP",
    )
    rollups = {
        (row.offer.slug, row.currency)
        for row in DailyRollup.objects.select_related("offer").filter(approved_count__gt=0)
    }
    assert rollups == {("us-shop", "USD"), ("eu-shop", "EUR")}


def test_partner_and_offer_stats_have_a_row_per_currency(api, two_currencies):
    partners = api.get("/api/v1/stats/partners/?days=7").json()["results"]
    assert sorted(
        (r["partner_id"], r["currency"], r["payout"], r["conversions"]) for r in partners
    ) == [
        ("abc-123", "EUR", "16.00", 2),
        ("abc-123", "USD", "20.00", 2),
    ]
    offers = api.get("/api/v1/stats/offers/?days=7").json()["results"]
    assert sorted((r["offer_id"], r["currency"], r["revenue"]) for r in offers) == [
        ("eu-shop", "EUR", "40.00"),
        ("us-shop", "USD", "50.00"),
    ]
    top = api.get("/api/v1/stats/top-publishers/?metric=revenue").json()["results"]
    assert sorted((r["partner_id"], r["currency"]) for r in top) == [
        ("abc-123", "EUR"),
        ("abc-123", "USD"),
    ]


def test_a_report_splits_money_by_currency_and_says_so(api, two_currencies):
    answer = api.post(
        "/api/v1/stats/report/",
        {"metrics": ["conversions", "revenue", "payout"], "group_by": ["partner"], "days": 7},
        format="json",
    ).json()
    assert answer["group_by"] == ["partner", "currency"]
    assert sorted(
        (r["partner"], r["currency"], r["conversions"], r["revenue"], r["payout"])
        for r in answer["rows"]
    ) == [
        ("abc-123", "EUR", 2, "40.00", "16.00"),
        ("abc-123", "USD", 2, "50.00", "20.00"),
    ]
    # Counts alone need no currency: one row.
    counts = api.post(
        "/api/v1/stats/report/",
        {"metrics": ["conversions"], "group_by": ["partner"], "days": 7},
        format="json",
    ).json()
    assert [(r["partner"], r["conversions"]) for r in counts["rows"]] == [("abc-123", 4)]


def test_the_daily_series_and_payouts_are_per_currency(brand, two_currencies):
    actor, _ = two_currencies
    series = daily_series(actor=actor, period=resolve_period(actor=actor, days=2))
    assert {code: sum(values["payout"]) for code, values in series.money.items()} == {
        "USD": Decimal("20.00"),
        "EUR": Decimal("16.00"),
    }
    payouts = payouts_generate(actor=actor)
    assert sorted((p.currency, p.amount) for p in payouts) == [
        ("EUR", Decimal("16.00")),
        ("USD", Decimal("20.00")),
    ]


def test_a_report_by_the_currency_sales_were_reported_in(api, two_currencies):
    answer = api.post(
        "/api/v1/stats/report/",
        {
            "metrics": ["conversions", "sale_amount"],
            "group_by": ["offer", "original_currency"],
            "days": 7,
        },
        format="json",
    ).json()
    assert answer["group_by"] == ["offer", "original_currency", "currency"]
    assert sorted(
        (r["offer"], r["original_currency"], r["currency"], r["conversions"], r["sale_amount"])
        for r in answer["rows"]
    ) == [
        ("eu-shop", "EUR", "EUR", 1, "100.00"),
        ("eu-shop", "GBP", "EUR", 1, "60.00"),
        ("us-shop", "USD", "USD", 2, "200.00"),
    ]
    refused = api.post(
        "/api/v1/stats/report/",
        {"metrics": ["clicks"], "group_by": ["original_currency"], "days": 7},
        format="json",
    )
    assert refused.status_code == 422
