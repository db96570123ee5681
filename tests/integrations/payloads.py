"""Stripe and Shopify webhook bodies, shaped as their documentation shows them (Stripe API
reference: the Event, Checkout Session, Invoice, Charge and Dispute objects; Shopify Admin
REST: the orders/create and refunds/create webhook bodies). Shapes only: copied by hand,
trimmed to the fields a real event carries around the ones Trcker reads."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import stripe

STRIPE_SECRET = "whsec_test_0123456789abcdefABCDEF0123456789"
SHOPIFY_SECRET = "shpss_0123456789abcdef0123456789abcdef"


def stripe_event(kind: str, obj: dict[str, Any], *, event_id: str = "evt_1PQ") -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }


def checkout_session(
    *,
    session_id: str = "cs_test_a1",
    click_id: str | None = None,
    metadata: dict[str, str] | None = None,
    amount_total: int = 4900,
    currency: str = "usd",
    customer: str | None = "cus_NffrFeUfNV2Hib",
    mode: str = "subscription",
    invoice: str | None = "in_1MtHbELkdIwHu7ixl4OzzPMv",
    payment_intent: str | None = None,
    payment_status: str = "paid",
    discounts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "id": session_id,
        "object": "checkout.session",
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": "https://shop.example.com/cancel",
        "client_reference_id": click_id,
        "created": int(time.time()) - 60,
        "currency": currency,
        "customer": customer,
        "customer_creation": "always",
        "customer_details": {"email": "jenny@example.com", "name": "Jenny Rosen"},
        "customer_email": None,
        "discounts": discounts or [],
        "expires_at": int(time.time()) + 86000,
        "invoice": invoice,
        "livemode": False,
        "locale": None,
        "metadata": metadata or {},
        "mode": mode,
        "payment_intent": payment_intent,
        "payment_link": None,
        "payment_method_types": ["card"],
        "payment_status": payment_status,
        "status": "complete",
        "subscription": "sub_1MowQVLkdIwHu7ixeRlqHVzs" if mode == "subscription" else None,
        "success_url": "https://shop.example.com/success",
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "url": None,
    }


def invoice(
    *,
    invoice_id: str,
    amount_paid: int = 4900,
    currency: str = "usd",
    customer: str = "cus_NffrFeUfNV2Hib",
    billing_reason: str = "subscription_cycle",
    paid_at: int | None = None,
    subscription_metadata: dict[str, str] | None = None,
    charge: str | None = None,
) -> dict[str, Any]:
    paid = paid_at or int(time.time())
    return {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "US",
        "amount_due": amount_paid,
        "amount_paid": amount_paid,
        "amount_remaining": 0,
        "attempt_count": 1,
        "attempted": True,
        "billing_reason": billing_reason,
        "charge": charge,
        "collection_method": "charge_automatically",
        "created": paid - 3600,
        "currency": currency,
        "customer": customer,
        "customer_email": "jenny@example.com",
        "discount": None,
        "discounts": [],
        "hosted_invoice_url": None,
        "lines": {"object": "list", "data": [], "has_more": False, "url": "/v1/invoices/x/lines"},
        "livemode": False,
        "metadata": {},
        "paid": True,
        "payment_intent": None,
        "period_end": paid,
        "period_start": paid - 30 * 86400,
        "status": "paid",
        "status_transitions": {
            "finalized_at": paid - 3600,
            "marked_uncollectible_at": None,
            "paid_at": paid,
            "voided_at": None,
        },
        "subscription": "sub_1MowQVLkdIwHu7ixeRlqHVzs",
        "subscription_details": {"metadata": subscription_metadata or {}},
        "subtotal": amount_paid,
        "total": amount_paid,
    }


def charge(
    *,
    charge_id: str = "ch_3MmlLrLkdIwHu7ix0snN0B15",
    amount: int = 4900,
    amount_refunded: int = 4900,
    invoice: str | None = None,
    payment_intent: str | None = None,
    currency: str = "usd",
) -> dict[str, Any]:
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": amount_refunded,
        "balance_transaction": "txn_3MmlLrLkdIwHu7ix0uke3Ezy",
        "captured": True,
        "created": int(time.time()) - 86400,
        "currency": currency,
        "customer": "cus_NffrFeUfNV2Hib",
        "disputed": False,
        "invoice": invoice,
        "livemode": False,
        "metadata": {},
        "paid": True,
        "payment_intent": payment_intent,
        "refunded": amount_refunded >= amount,
        "status": "succeeded",
    }


def dispute(*, charge_id: str, payment_intent: str | None = None) -> dict[str, Any]:
    return {
        "id": "dp_1MtJUT2eZvKYlo2CNaw2HvEv",
        "object": "dispute",
        "amount": 4900,
        "balance_transactions": [],
        "charge": charge_id,
        "created": int(time.time()),
        "currency": "usd",
        "evidence_details": {"due_by": int(time.time()) + 7 * 86400, "has_evidence": False},
        "is_charge_refundable": True,
        "livemode": False,
        "metadata": {},
        "payment_intent": payment_intent,
        "reason": "fraudulent",
        "status": "warning_needs_response",
    }


def stripe_body(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"))


def stripe_headers(
    body: str, secret: str = STRIPE_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Signed by the stripe library's own helper (``t=…,v1=…`` as documented)."""
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)
    return {"HTTP_STRIPE_SIGNATURE": header}


# --- Shopify --------------------------------------------------------------------------------


def shopify_order(
    *,
    order_id: int = 820982911946154508,
    click_id: str | None = None,
    discount_codes: list[str] | None = None,
    subtotal: str = "199.00",
    currency: str = "USD",
    landing_site: str | None = "/",
) -> dict[str, Any]:
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "browser_ip": None,
        "buyer_accepts_marketing": True,
        "cart_token": None,
        "checkout_id": None,
        "confirmed": False,
        "contact_email": "jon@example.com",
        "created_at": "2021-12-31T19:00:00-05:00",
        "currency": currency,
        "current_subtotal_price": subtotal,
        "current_total_discounts": "0.00",
        "current_total_price": subtotal,
        "current_total_tax": "0.00",
        "customer": {"id": 115310627314723954, "email": "john@example.com"},
        "discount_codes": [
            {"code": code, "amount": "10.00", "type": "fixed_amount"}
            for code in discount_codes or []
        ],
        "email": "jon@example.com",
        "financial_status": "paid",
        "landing_site": landing_site,
        "line_items": [
            {
                "id": 866550311766439020,
                "name": "IPod Nano - 8GB",
                "price": subtotal,
                "product_id": 632910392,
                "quantity": 1,
                "sku": "IPOD2008PINK",
            }
        ],
        "name": "#9999",
        "note": None,
        "note_attributes": [{"name": "trk_click_id", "value": click_id}] if click_id else [],
        "order_number": 1234,
        "presentment_currency": currency,
        "referring_site": None,
        "subtotal_price": subtotal,
        "tags": "",
        "total_price": subtotal,
        "total_tax": "0.00",
    }


def shopify_refund(
    *, order_id: int = 820982911946154508, amount: str = "199.00", refund_id: int = 929361462
) -> dict[str, Any]:
    return {
        "id": refund_id,
        "order_id": order_id,
        "created_at": "2021-12-31T19:00:00-05:00",
        "note": "Things were damaged",
        "user_id": 548380009,
        "processed_at": "2021-12-31T19:00:00-05:00",
        "restock": False,
        "admin_graphql_api_id": f"gid://shopify/Refund/{refund_id}",
        "refund_line_items": [],
        "transactions": [
            {
                "id": 1068278509,
                "order_id": order_id,
                "kind": "refund",
                "gateway": "bogus",
                "status": "success",
                "amount": amount,
                "currency": "USD",
            }
        ],
        "order_adjustments": [],
    }


def shopify_headers(
    body: bytes,
    *,
    topic: str,
    webhook_id: str = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    secret: str = SHOPIFY_SECRET,
) -> dict[str, str]:
    """X-Shopify-Hmac-Sha256 as Shopify documents it: base64 of HMAC-SHA256(raw body)."""
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return {
        "HTTP_X_SHOPIFY_TOPIC": topic,
        "HTTP_X_SHOPIFY_HMAC_SHA256": digest,
        "HTTP_X_SHOPIFY_SHOP_DOMAIN": "example.myshopify.com",
        "HTTP_X_SHOPIFY_API_VERSION": "2025-01",
        "HTTP_X_SHOPIFY_WEBHOOK_ID": webhook_id,
        "HTTP_X_SHOPIFY_TRIGGERED_AT": "2023-03-29T18:00:27.877041743Z",
    }
