"""Shopify's order lifecycle: the brand chooses whether orders/create or orders/paid records
the sale (recorded once by order id either way), and orders/cancelled refunds it whole
through the ledger, once, net of what refunds already took back."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import Client

from audit.models import AuditEvent
from conversions.ledger_models import LedgerEntry
from conversions.models import Conversion, ConversionStatus
from conversions.services import conversion_approve
from integrations.models import IntegrationConnection, Provider
from tests.integrations.payloads import shopify_headers, shopify_order, shopify_refund

URL = "/api/integrations/shopify/acme"
pytestmark = pytest.mark.django_db(transaction=False)


def post(payload: dict, *, topic: str, delivery: str) -> dict:
    body = json.dumps(payload).encode()
    response = Client().post(
        URL,
        body,
        content_type="application/json",
        **shopify_headers(body, topic=topic, webhook_id=delivery),
    )
    assert response.status_code == 200, response.content
    return response.json()


def _record_on_paid(shop) -> None:
    IntegrationConnection.objects.filter(provider=Provider.SHOPIFY).update(
        record_sales_on="orders/paid"
    )


def test_by_default_the_creation_records_and_the_payment_repeats_it(shop, new_click):
    order = shopify_order(click_id=new_click())
    assert post(order, topic="orders/create", delivery="d1")["reason"] == "conversion_recorded"
    assert post(order, topic="orders/paid", delivery="d2")["reason"] == "already_recorded"
    assert Conversion.objects.count() == 1


def test_a_missed_creation_is_recorded_on_payment(shop, new_click):
    answer = post(shopify_order(click_id=new_click()), topic="orders/paid", delivery="d1")
    assert answer["reason"] == "conversion_recorded"


def test_recorded_on_payment_an_unpaid_order_earns_nothing(shop, new_click):
    _record_on_paid(shop)
    order = shopify_order(click_id=new_click())
    created = post(order, topic="orders/create", delivery="d1")
    assert (created["outcome"], created["reason"]) == ("ignored", "awaiting_payment")
    assert not Conversion.objects.exists()
    paid = post(order, topic="orders/paid", delivery="d2")
    assert paid["reason"] == "conversion_recorded"
    # Shopify delivers again under a new id: still one sale.
    assert post(order, topic="orders/paid", delivery="d3")["reason"] == "already_recorded"
    assert Conversion.objects.get().txn_id == str(order["id"])


def test_cancelling_a_pending_order_rejects_it_once(shop, new_click):
    order = shopify_order(click_id=new_click())
    post(order, topic="orders/create", delivery="d1")
    cancelled = {**order, "cancelled_at": "2022-01-01T10:00:00-05:00", "cancel_reason": "customer"}
    first = post(cancelled, topic="orders/cancelled", delivery="c1")
    again = post(cancelled, topic="orders/cancelled", delivery="c2")
    assert first["reason"] == again["reason"] == "conversion_cancelled"
    conversion = Conversion.objects.get()
    assert (conversion.status, conversion.status_reason) == (ConversionStatus.REJECTED, "cancelled")
    assert AuditEvent.objects.filter(action="conversion.reject").count() == 1


def test_cancelling_an_approved_order_reverses_what_refunds_left(shop, new_click):
    offer = shop["offer"]
    offer.payout_type, offer.payout_amount = "percent", Decimal("10")
    offer.save()
    order = shopify_order(click_id=new_click())
    post(order, topic="orders/create", delivery="d1")
    conversion = conversion_approve(actor=shop["actor"], conversion=Conversion.objects.get())
    assert conversion.payout == Decimal("19.90")
    post(shopify_refund(amount="99.50", refund_id=11), topic="refunds/create", delivery="r1")
    post(order, topic="orders/cancelled", delivery="c1")
    # The refund arriving again after the cancellation takes nothing more.
    post(shopify_refund(amount="99.50", refund_id=12), topic="refunds/create", delivery="r2")
    conversion.refresh_from_db()
    assert (conversion.status, conversion.status_reason) == ("reversed", "refund")
    reversals = LedgerEntry.objects.filter(conversion=conversion, kind="reversal")
    assert sorted(entry.amount for entry in reversals) == [Decimal("-9.95"), Decimal("-9.95")]


def test_cancelling_an_order_trcker_never_recorded_is_ignored(shop):
    answer = post(shopify_order(order_id=77), topic="orders/cancelled", delivery="c1")
    assert (answer["outcome"], answer["reason"]) == ("ignored", "unknown_payment")


def test_the_brand_chooses_over_rest_and_only_for_shopify(api, shop):
    response = api.put(
        "/api/v1/integrations/shopify/", {"record_sales_on": "orders/paid"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["record_sales_on"] == "orders/paid"
    listed = {row["provider"]: row for row in api.get("/api/v1/integrations/").json()["results"]}
    assert listed["shopify"]["record_sales_on"] == "orders/paid"
    assert listed["stripe"]["record_sales_on"] is None
    event = AuditEvent.objects.filter(action="integration.shopify.connect").latest("pk")
    assert event.changes["record_sales_on"] == ["orders/create", "orders/paid"]
    stripe = api.put(
        "/api/v1/integrations/stripe/", {"record_sales_on": "orders/paid"}, format="json"
    )
    assert stripe.status_code == 422
    assert stripe.json()["error"]["code"] == "invalid_record_sales_on"
    hostile = api.put("/api/v1/integrations/shopify/", {"record_sales_on": "x\x00"}, format="json")
    assert hostile.status_code == 422, hostile.content
    assert hostile.json()["error"]["code"] == "invalid_input"
