"""Stripe's newer API shapes (2025-03-31 and later) next to the older ones: the subscription
under ``parent.subscription_details``, payments as ``invoice_payment`` objects, discounts'
coupons under ``source.coupon``, and promotion codes named by id. Signed by the stripe
library's own helper (tests.integrations.payloads.stripe_headers)."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from conversions.models import Conversion, ConversionStatus
from integrations.models import IntegrationEvent
from tests.factories import CouponFactory
from tests.integrations.payloads import (
    checkout_session,
    invoice,
    stripe_body,
    stripe_event,
    stripe_headers,
)
from tests.integrations.payloads_basil import (
    basil_charge,
    basil_discount,
    basil_event,
    basil_invoice,
    invoice_payment,
)

URL = "/api/integrations/stripe/acme"
FIRST_INVOICE = "in_1RBasiFirstInvoice"
pytestmark = pytest.mark.django_db(transaction=False)


def post(event: dict) -> dict:
    body = stripe_body(event)
    response = Client().post(URL, body, content_type="application/json", **stripe_headers(body))
    assert response.status_code == 200, response.content
    return response.json()


def _subscribe(click_id: str) -> Conversion:
    session = checkout_session(click_id=click_id, invoice=FIRST_INVOICE)
    answer = post(basil_event("checkout.session.completed", session, event_id="evt_b_cs"))
    assert answer["reason"] == "conversion_recorded"
    return Conversion.objects.get(pk=answer["conversion_id"])


@pytest.mark.parametrize("payment_first", [False, True])
def test_a_subscription_refund_finds_its_sale_through_the_invoice_payment(
    shop, new_click, payment_first
):
    """The charge names no invoice and the invoice no payment intent: the invoice_payment.paid
    event ties them, whichever of it and the sale arrives first."""
    link = basil_event(
        "invoice_payment.paid",
        invoice_payment(invoice_id=FIRST_INVOICE, payment_intent="pi_basil_1"),
        event_id="evt_b_ip",
    )
    if payment_first:
        assert post(link)["reason"] == "payment_linked"
    sale = _subscribe(new_click())
    first = basil_invoice(invoice_id=FIRST_INVOICE, billing_reason="subscription_create")
    assert post(basil_event("invoice.paid", first, event_id="evt_b_in"))["reason"] == (
        "already_recorded"
    )
    if not payment_first:
        assert post(link)["reason"] == "payment_linked"
    refund = basil_charge(payment_intent="pi_basil_1")
    answer = post(basil_event("charge.refunded", refund, event_id="evt_b_rf"))
    assert (answer["reason"], answer["conversion_id"]) == ("conversion_refunded", sale.pk)
    sale.refresh_from_db()
    assert (sale.status, sale.status_reason) == (ConversionStatus.REJECTED, "refunded")


def test_without_the_invoice_payment_a_new_shape_refund_is_unknown(shop, new_click):
    _subscribe(new_click())
    refund = basil_charge(payment_intent="pi_basil_unlinked")
    answer = post(basil_event("charge.refunded", refund, event_id="evt_b_rf2"))
    assert answer["reason"] == "unknown_payment"
    assert Conversion.objects.get().status == ConversionStatus.PENDING


def test_an_expanded_payments_list_links_the_invoice_at_once(shop, new_click):
    click_id = new_click()
    payments = [invoice_payment(invoice_id="in_b_exp", payment_intent="pi_b_exp")]
    body = basil_invoice(
        invoice_id="in_b_exp",
        customer="cus_b_exp",
        subscription_metadata={"trk_click_id": click_id},
        payments=payments,
    )
    assert post(basil_event("invoice.paid", body, event_id="evt_b_exp"))["reason"] == (
        "conversion_recorded"
    )
    refund = basil_charge(payment_intent="pi_b_exp")
    assert post(basil_event("charge.refunded", refund, event_id="evt_b_exp_rf"))["reason"] == (
        "conversion_refunded"
    )


@pytest.mark.parametrize("shape", ["old", "new"])
def test_subscription_metadata_and_renewals_in_both_shapes(shop, new_click, shape):
    offer = shop["offer"]
    offer.payout_type, offer.payout_amount = "percent", Decimal("30")
    offer.recurring_months, offer.recurring_rate_percent = 3, Decimal("50")
    offer.save()
    make, wrap = (basil_invoice, basil_event) if shape == "new" else (invoice, stripe_event)
    click_id = new_click()
    first = make(
        invoice_id="in_meta_1",
        billing_reason="subscription_create",
        subscription_metadata={"trk_click_id": click_id},
    )
    answer = post(wrap("invoice.paid", first, event_id="evt_meta_1"))
    sale = Conversion.objects.get(pk=answer["conversion_id"])
    assert (sale.event_type, sale.click_id, sale.payout) == ("sale", click_id, Decimal("14.70"))
    paid = int(time.time()) + 31 * 86400
    renewal = make(invoice_id="in_meta_2", paid_at=paid)
    with time_machine.travel(paid, tick=False):
        answer = post(wrap("invoice.paid", renewal, event_id="evt_meta_2"))
    renewed = Conversion.objects.get(pk=answer["conversion_id"])
    assert (renewed.event_type, renewed.payout) == ("renewal", Decimal("7.35"))
    assert renewed.attribution["renews"] == sale.pk


def test_a_promotion_code_named_by_id_only_is_ignored_with_its_reason(shop):
    CouponFactory(brand=shop["brand"], partner=shop["partner"], code="ADA10", offer=shop["offer"])
    session = checkout_session(
        customer="cus_promo", discounts=[{"coupon": "Zq3xUv8A", "promotion_code": "promo_1Qx"}]
    )
    answer = post(basil_event("checkout.session.completed", session, event_id="evt_promo"))
    assert (answer["outcome"], answer["reason"]) == ("ignored", "promotion_code_not_expanded")
    row = IntegrationEvent.objects.get(event_id="evt_promo")
    assert "promo_1Qx" in row.detail and "metadata.trk_coupon" in row.detail
    assert not Conversion.objects.exists()


def test_an_expanded_promotion_code_maps_to_the_coupon(shop):
    CouponFactory(brand=shop["brand"], partner=shop["partner"], code="ADA10", offer=shop["offer"])
    promotion = {"id": "promo_1Qx", "object": "promotion_code", "code": "ADA10", "active": True}
    session = checkout_session(
        customer="cus_promo2", discounts=[{"coupon": "Zq3xUv8A", "promotion_code": promotion}]
    )
    answer = post(basil_event("checkout.session.completed", session, event_id="evt_promo2"))
    conversion = Conversion.objects.get(pk=answer["conversion_id"])
    assert (conversion.coupon.code, conversion.partner) == ("ADA10", shop["partner"])


def test_a_promotion_code_next_to_a_click_does_not_stand_in_the_way(shop, new_click):
    session = checkout_session(
        click_id=new_click(), discounts=[{"coupon": "Zq3xUv8A", "promotion_code": "promo_1Qx"}]
    )
    answer = post(basil_event("checkout.session.completed", session, event_id="evt_promo3"))
    assert answer["reason"] == "conversion_recorded"


@pytest.mark.parametrize(
    "discount",
    [
        basil_discount({"id": "Zq3xUv8A", "object": "coupon", "name": "ADA10"}),
        basil_discount("ADA10"),
    ],
    ids=["expanded-coupon", "coupon-id"],
)
def test_a_new_shape_invoice_discount_maps_to_the_coupon(shop, discount):
    CouponFactory(brand=shop["brand"], partner=shop["partner"], code="ADA10", offer=shop["offer"])
    body = basil_invoice(
        invoice_id="in_b_disc",
        customer="cus_b_disc",
        billing_reason="subscription_create",
        discounts=[discount],
    )
    answer = post(basil_event("invoice.paid", body, event_id="evt_b_disc"))
    assert answer["reason"] == "conversion_recorded"
    assert Conversion.objects.get().coupon.code == "ADA10"
