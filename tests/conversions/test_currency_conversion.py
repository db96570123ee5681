"""Sales reported in another currency than their offer's: converted at the day's rate, the
original kept; refused with fx_rate_missing when there is no rate; no query added when the
currency is the offer's, none when the rate is cached; hostile currency values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.models import AuditEvent
from brands.fx import RATE_QUANTUM
from brands.fx_services import fx_rate_set, fx_reference_load
from conversions import tracking_config
from conversions.currency import in_offer_currency
from conversions.models import Conversion, PostbackAttempt
from conversions.postbacks import PostbackInput
from core.currencies import KNOWN
from core.ecb_rates import parse_reference_rates
from offers.services import offer_set_payout_rule
from tests.conftest import make_actor
from tests.conversions.helpers import click, click_id_from
from tests.conversions.test_postbacks import postback
from tests.factories import OfferFactory, PartnerFactory

SAMPLE = Path(__file__).resolve().parents[2] / "demo" / "data" / "eurofxref-sample.xml"
# Thursday 2026-11-26 in the afternoon: the sample's last day (EUR/USD 1.1587, EUR/GBP 0.87945).
NOW = dt.datetime(2026, 11, 26, 15, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def reference(db):
    fx_reference_load(parse_reference_rates(SAMPLE.read_bytes()))


@pytest.fixture
def shop(brand):
    offer = OfferFactory(
        brand=brand,
        slug="spring-sale",
        currency="USD",
        payout_amount=Decimal("10.00"),
        revenue_amount=Decimal("25.00"),
        min_conversion_seconds=0,
    )
    partner = PartnerFactory(brand=brand, slug="abc-123")
    return offer, partner


@pytest.fixture
def clicked(client, shop):
    return click_id_from(click(client, "acme", "spring-sale", "abc-123"))


def new_click(client) -> str:
    return click_id_from(click(client, "acme", "spring-sale", "abc-123"))


def test_a_sale_in_euros_on_a_dollar_offer_is_converted_and_keeps_its_original(
    client, clicked, reference, shop, actor
):
    offer, partner = shop
    offer_set_payout_rule(
        actor=actor, offer=offer, partner=partner, payout_type="percent", payout_amount=10
    )
    response = postback(client, click_id=clicked, txn_id="EU-1", amount="49.90", currency="eur")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["currency"], body["sale_amount"]) == ("USD", "57.82")  # 49.90 × 1.1587
    assert (body["original_amount"], body["original_currency"]) == ("49.90", "EUR")
    assert Decimal(body["fx_rate"]) == Decimal("1.1587")
    conversion = Conversion.objects.get()
    assert (conversion.sale_amount, conversion.currency) == (Decimal("57.82"), "USD")
    assert conversion.payout == Decimal("5.78")  # the percentage of the converted sale
    assert (conversion.original_amount, conversion.original_currency) == (Decimal("49.90"), "EUR")
    event = AuditEvent.objects.get(action="conversion.create")
    assert event.changes["original_currency"] == [None, "EUR"]
    assert event.changes["fx_rate"] == [None, "1.158700000000"]


def test_a_cross_rate_through_the_euro(client, clicked, reference):
    response = postback(client, click_id=clicked, txn_id="GB-1", amount="100", currency="GBP")
    assert response.status_code == 200, response.content
    rate = (Decimal("1.1587") / Decimal("0.87945")).quantize(RATE_QUANTUM)
    conversion = Conversion.objects.get()
    assert conversion.fx_rate == rate
    assert conversion.sale_amount == (Decimal(100) * rate).quantize(Decimal("0.01"))


def test_a_sale_in_the_offers_currency_is_kept_as_it_is(client, clicked):
    response = postback(client, click_id=clicked, txn_id="US-1", amount="10.00", currency="USD")
    assert response.status_code == 200, response.content
    conversion = Conversion.objects.get()
    assert (conversion.original_amount, conversion.original_currency) == (Decimal("10.00"), "USD")
    assert conversion.fx_rate == 1
    assert "fx_rate" not in AuditEvent.objects.get(action="conversion.create").changes


def test_no_rate_is_a_clear_refusal_logged_and_nothing_recorded(client, clicked, brand):
    response = postback(client, click_id=clicked, txn_id="EU-2", amount="5", currency="EUR")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "fx_rate_missing"
    assert "EUR to USD on or before 2026-11-26" in error["message"]
    assert "load_fx_rates" in error["message"] and "set_fx_rate" in error["message"]
    assert not Conversion.objects.exists()
    attempt = PostbackAttempt.objects.get()
    assert (attempt.outcome, attempt.http_status, attempt.txn_id) == (
        "fx_rate_missing",
        422,
        "EU-2",
    )
    # Once the brand sets a rate, the advertiser's resend is recorded.
    fx_rate_set(
        actor=make_actor(brand), base="EUR", quote="USD", day=dt.date(2026, 11, 1), rate=Decimal(2)
    )
    again = postback(client, click_id=clicked, txn_id="EU-2", amount="5", currency="EUR")
    assert again.status_code == 200, again.content
    assert again.json()["sale_amount"] == "10.00"


def test_a_repeat_of_a_recorded_sale_is_a_duplicate_even_once_its_rate_is_gone(
    client, clicked, reference
):
    first = postback(client, click_id=clicked, txn_id="EU-3", amount="5", currency="EUR")
    assert first.status_code == 200
    with time_machine.travel(NOW + dt.timedelta(days=30), tick=False):
        repeat = postback(client, click_id=clicked, txn_id="EU-3", amount="5", currency="EUR")
    assert repeat.status_code == 200, repeat.content
    assert repeat.json()["duplicate"] is True
    assert repeat.json()["fx_rate"] == first.json()["fx_rate"]


def test_the_brands_own_rate_beats_the_reference(client, clicked, reference, brand):
    fx_rate_set(
        actor=make_actor(brand),
        base="EUR",
        quote="USD",
        day=dt.date(2026, 11, 1),
        rate=Decimal("1.25"),
    )
    response = postback(client, click_id=clicked, txn_id="EU-4", amount="8", currency="EUR")
    assert response.json()["sale_amount"] == "10.00"


def test_a_converted_amount_too_large_to_store_is_refused(client, clicked, reference):
    response = postback(
        client, click_id=clicked, txn_id="BIG", amount="999999999999.99", currency="EUR"
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "amount_out_of_range"
    assert not Conversion.objects.exists()


def _queries(client, **params) -> int:
    # No cache clearing here (the test helper clears it): what a warm process does.
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/api/postback/acme/spring-sale", params)
    assert response.status_code == 200, response.content
    return len(captured)


def test_no_query_is_added_in_the_offers_currency_nor_for_a_cached_rate(client, shop, reference):
    """Warm: a sale in the offer's currency, and one whose rate is cached, cost what a sale
    cost before currencies; the first of a day in another currency pays its lookup."""
    tracking_config.clear()
    warm = new_click(client)
    _queries(client, click_id=warm, txn_id="W-0", amount="1")  # config cached
    without = _queries(client, click_id=new_click(client), txn_id="W-1", amount="1")
    same = _queries(client, click_id=new_click(client), txn_id="W-2", amount="1", currency="USD")
    first_euro = _queries(
        client, click_id=new_click(client), txn_id="W-3", amount="1", currency="EUR"
    )
    cached_euro = _queries(
        client, click_id=new_click(client), txn_id="W-4", amount="1", currency="EUR"
    )
    assert same == without
    assert first_euro == without + 2  # EUR→USD: the brand's pair, then the reference
    assert cached_euro == without


def test_the_offers_own_currency_is_never_looked_up_even_cold(brand, shop):
    """Planted: in_offer_currency without its one-currency shortcut — a USD sale on a cold
    cache asks for a USD→USD rate (red)."""
    tracking_config.clear()
    brand_config = tracking_config.brand_config(brand.slug)
    offer_config = tracking_config.offer_config(brand_config, "spring-sale")
    data = PostbackInput("", "T", Decimal("5.00"), "USD", "sale", "", ("",) * 5)
    with CaptureQueriesContext(connection) as captured:
        same, original = in_offer_currency(brand_config, offer_config, data, now=NOW)
    assert len(captured) == 0
    assert same is data and original.fields() == {
        "original_amount": Decimal("5.00"),
        "original_currency": "USD",
        "fx_rate": Decimal(1),
    }


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        ("eur", 200, None),
        (" EUR ", 200, None),
        ("EURO", 422, "invalid_currency"),
        ("EU", 422, "invalid_currency"),
        ("E\x00R", 422, "invalid_currency"),
        ("XYZ", 422, "invalid_currency"),
        ("XXX", 422, "invalid_currency"),
        ("uß", 422, "invalid_currency"),
        ("ＥＵＲ", 422, "invalid_currency"),
        ("DEM", 422, "fx_rate_missing"),  # a real, withdrawn code: no rate
        ("XAU", 422, "fx_rate_missing"),
    ],
)
def test_odd_currencies(client, clicked, reference, raw, status, code):
    response = postback(client, click_id=clicked, txn_id="ODD-1", amount="1", currency=raw)
    assert response.status_code == status, response.content
    if code:
        assert response.json()["error"]["code"] == code
        assert not Conversion.objects.exists()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    raw=st.one_of(
        st.text(max_size=6),
        st.sampled_from(sorted(KNOWN)).map(lambda code: code.lower()),
        st.text(alphabet="EURSDGBPXJYa\x00 ", min_size=1, max_size=5),
    )
)
def test_fuzz_a_postbacks_currency_never_errors_and_never_guesses(client, clicked, reference, raw):
    txn = f"FZ-{abs(hash(raw))}"
    response = postback(client, click_id=clicked, txn_id=txn, amount="3", currency=raw)
    assert response.status_code in (200, 422), response.content
    created = Conversion.objects.filter(txn_id=txn).first()
    if response.status_code == 422:
        assert created is None
        assert response.json()["error"]["code"] in ("invalid_currency", "fx_rate_missing")
    else:
        assert created is not None
        if raw.strip():
            assert created.original_currency == raw.strip().upper()
        assert created.currency == "USD"
        assert created.sale_amount == (Decimal(3) * created.fx_rate).quantize(Decimal("0.01"))
