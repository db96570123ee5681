"""Hypothesis fuzz of the inbound postback with issue 15's rules in play: clicks of any age
against the attribution window, coupons valid, used up, unknown or hostile, either
precedence, sub ids sent or not, and refund postbacks naming real, unknown or hostile sales.
Whatever arrives: never a 5xx; a refusal is a stable code with nothing written; what is
recorded obeys the documented rules (docs/tracking.md, "Attribution" and "Refunds")."""

from __future__ import annotations

import itertools
from decimal import Decimal
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversions import tracking_config
from conversions.attribution import EXHAUSTED, EXPIRED, NOT_USED, UNKNOWN, WON
from conversions.ledger_models import LedgerEntry
from conversions.models import Conversion, PostbackAttempt
from conversions.refund_ledger import refund_amount
from conversions.services import conversion_approve
from core.errors import ValidationError
from partners.models import Coupon
from tests.conftest import make_actor
from tests.conversions.factories_flow import accepted_click
from tests.factories import CouponFactory, OfferFactory, PartnerFactory

WINDOW_DAYS = 10
DAY = 86400
CLICK_SUB = "clicking-partner-sub"
hostile = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "\x00", "a\x00b", "%00", "\ud800", "x" * 3000, "DROP TABLE", "東😀"]),
)
_txn = itertools.count()

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def shop(brand):
    offer = OfferFactory(
        brand=brand, slug="shop", min_conversion_seconds=0, attribution_window_days=WINDOW_DAYS
    )
    clicker = PartnerFactory(brand=brand, slug="clicker")
    coupon_partner = PartnerFactory(brand=brand, slug="coupons")
    CouponFactory(brand=brand, partner=coupon_partner, code="VALID")
    CouponFactory(brand=brand, partner=coupon_partner, code="USEDUP", max_uses=1, used_count=1)
    CouponFactory(brand=brand, partner=coupon_partner, code="OFF", status="disabled")
    return brand, offer, clicker, coupon_partner


def _get(client, params: dict[str, str]):
    query = "&".join(
        f"{quote(k.encode('utf-8', 'surrogatepass'), safe='')}="
        f"{quote(v.encode('utf-8', 'surrogatepass'), safe='')}"
        for k, v in params.items()
    )
    tracking_config.clear()
    return client.get("/api/postback/acme/shop", QUERY_STRING=query)


@pytest.mark.django_db
@FUZZ
@given(
    # Hours, so no example sits within a second of the window's edge; None: no click.
    click_age_hours=st.one_of(
        st.none(),
        st.sampled_from([0, 1, WINDOW_DAYS * 24 - 1, WINDOW_DAYS * 24, 400 * 24]),
        st.integers(min_value=0, max_value=3 * WINDOW_DAYS * 24),
    ),
    coupon=st.one_of(st.sampled_from(["", "VALID", "valid", "USEDUP", "OFF", "NOPE"]), hostile),
    precedence=st.sampled_from(["coupon", "click"]),
    sub1=st.one_of(st.just(""), st.just(CLICK_SUB), hostile),
    click_id=st.one_of(st.none(), hostile, st.just("clk_" + "A" * 22)),
)
def test_sales_follow_the_attribution_rules(
    client, shop, click_age_hours, coupon, precedence, sub1, click_id
):
    brand, offer, clicker, coupon_partner = shop
    brand.attribution_precedence = precedence
    brand.save()
    params = {"txn_id": f"T{next(_txn)}"}
    expired = False
    if click_age_hours is not None:
        # One second more than the hours: a click of exactly the window is just outside it.
        seconds_ago = click_age_hours * 3600 + 1
        click = accepted_click(brand, offer, clicker, seconds_ago=seconds_ago, sub1=CLICK_SUB)
        params["click_id"], expired = click.id, seconds_ago > WINDOW_DAYS * DAY
    elif click_id is not None:
        params["click_id"] = click_id
    if coupon:
        params["coupon"] = coupon
    if sub1:
        params["sub1"] = sub1
    used_before = Coupon.objects.get(code="USEDUP").used_count
    response = _get(client, params)
    assert response.status_code < 500, (params, response.content[:300])
    recorded = Conversion.objects.filter(txn_id=params["txn_id"]).first()
    usable_coupon = coupon.upper() in ("VALID", "USEDUP")
    if response.status_code != 200:
        assert recorded is None
        code = response.json()["error"]["code"]
        attempt = PostbackAttempt.objects.filter(outcome=code).exists()
        assert attempt, (params, code)
        if code == "click_expired":
            assert expired and not usable_coupon
        return
    body = response.json()
    assert recorded is not None and body["conversion_id"] == recorded.pk
    outcomes = recorded.attribution
    assert outcomes["click_outcome"] in (None, WON, NOT_USED, EXPIRED, UNKNOWN)
    assert outcomes["coupon_outcome"] in (None, WON, NOT_USED, EXHAUSTED, UNKNOWN)
    assert body["attribution"]["coupon_outcome"] == outcomes["coupon_outcome"]
    if expired:
        assert outcomes["click_outcome"] == EXPIRED and recorded.click_id is None
        assert recorded.partner == coupon_partner
    if outcomes["coupon_outcome"] == EXHAUSTED:
        assert coupon.upper() == "USEDUP"
        if outcomes["winner"] == "coupon":
            assert (recorded.status, recorded.status_reason) == (
                "pending_review",
                "coupon_exhausted",
            )
    # A used-up coupon is never counted again.
    assert Coupon.objects.get(code="USEDUP").used_count == used_before == 1
    # The clicking partner's sub ids never follow a sale credited to someone else.
    if recorded.partner != clicker and sub1 != CLICK_SUB:
        assert recorded.sub1 != CLICK_SUB


@pytest.mark.django_db
@FUZZ
@given(
    event=st.one_of(st.sampled_from(["refund", "chargeback", "REFUND", " refund "]), hostile),
    names=st.sampled_from(["original", "txn_id", "unknown", "hostile"]),
    original_event=st.one_of(st.none(), st.sampled_from(["sale", "signup", "refund"]), hostile),
    hostile_value=hostile,
    amount=st.one_of(
        st.none(),
        hostile,
        st.sampled_from(["-5", "1e99", "NaN", "10.00", "0", "0.001", "99.99", "100", "250.50"]),
        st.decimals(min_value=-1, max_value=200, places=2).map(str),
    ),
    approve=st.booleans(),
)
def test_refund_postbacks_take_back_only_the_sale_they_name(
    client, shop, event, names, original_event, hostile_value, amount, approve
):
    brand, offer, clicker, _ = shop
    click = accepted_click(brand, offer, clicker, seconds_ago=60)
    sale_txn = f"S{next(_txn)}"
    sold = {"click_id": click.id, "txn_id": sale_txn, "amount": "100.00"}
    assert _get(client, sold).status_code == 200
    sale = Conversion.objects.get(txn_id=sale_txn)
    if approve:
        sale = conversion_approve(actor=make_actor(brand), conversion=sale)
    others = set(Conversion.objects.exclude(pk=sale.pk).values_list("pk", "status"))
    params = {"event": event, "txn_id": f"R{next(_txn)}"}
    if names == "original":
        params["original_txn_id"] = sale_txn
    elif names == "txn_id":
        params["txn_id"] = sale_txn
    elif names == "unknown":
        params["original_txn_id"] = "never-recorded"
    else:
        params["original_txn_id"] = hostile_value
    if original_event is not None:
        params["original_event"] = original_event
    if amount is not None:
        params["amount"] = amount
    response = _get(client, params)
    assert response.status_code < 500, (params, response.content[:300])
    # Nothing else ever moves.
    assert set(Conversion.objects.exclude(pk=sale.pk).values_list("pk", "status")) == others
    sale.refresh_from_db()
    is_refund = event.strip().lower() in ("refund", "chargeback")
    if not is_refund:
        return  # a sale postback with a hostile event: the sale tests cover it
    moved = "reversed" if approve else "rejected"
    try:
        partial = amount is not None and refund_amount(amount) < Decimal("100.00")
    except ValidationError:
        partial = False  # refused below
    if response.status_code == 200 and partial:
        # A part of the sale: the status stays, the flat commission too (docs/ledger.md).
        body = response.json()
        assert body["refund"]["outcome"] == "partially_refunded"
        assert sale.status == ("approved" if approve else "pending")
        again = _get(client, params).json()
        assert (again["duplicate"], again["refund"]["outcome"]) == (True, "already_recorded")
        assert not LedgerEntry.objects.filter(conversion=sale, kind="reversal").exists()
    elif response.status_code == 200:
        body = response.json()
        assert body["conversion_id"] == sale.pk
        assert (sale.status, sale.status_reason) == (moved, event.strip().lower())
        assert body["refund"]["outcome"] == moved
        assert names in ("original", "txn_id")
        assert (original_event or "sale").strip().lower() in ("", "sale")
        # Idempotent: the same refund again changes nothing and says so.
        again = _get(client, params).json()
        assert (again["duplicate"], again["refund"]["outcome"]) == (True, f"already_{moved}")
        reversals = LedgerEntry.objects.filter(conversion=sale, kind="reversal").count()
        assert reversals == (1 if approve else 0)
    else:
        assert sale.status == ("approved" if approve else "pending")
        code = response.json()["error"]["code"]
        assert code in {
            "unknown_original_txn",
            "invalid_txn_id",
            "invalid_event",
            "missing_txn_id",
            "invalid_amount",
        }, code
        assert PostbackAttempt.objects.filter(outcome=code).exists()
