"""Stripe bodies in the API shapes of version 2025-03-31 ("basil") and later, as the API
reference shows them: an invoice names its subscription under ``parent.subscription_details``
and neither a payment intent nor a charge (those are ``invoice_payment`` objects, in
``invoice.payments`` when expanded and in the ``invoice_payment.paid`` event), a charge names
no invoice, and a discount's coupon is under ``source.coupon``. Shapes only, trimmed like
``tests.integrations.payloads``."""

from __future__ import annotations

import time
from typing import Any

from tests.integrations.payloads import charge, stripe_event

API_VERSION = "2025-03-31.basil"
SUBSCRIPTION = "sub_1RBasiLkdIwHu7ixeRlqHVzs"


def basil_event(kind: str, obj: dict[str, Any], *, event_id: str) -> dict[str, Any]:
    event = stripe_event(kind, obj, event_id=event_id)
    event["api_version"] = API_VERSION
    return event


def basil_invoice(
    *,
    invoice_id: str,
    amount_paid: int = 4900,
    customer: str = "cus_NffrFeUfNV2Hib",
    billing_reason: str = "subscription_cycle",
    paid_at: int | None = None,
    subscription_metadata: dict[str, str] | None = None,
    discounts: list[Any] | None = None,
    payments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    paid = paid_at or int(time.time())
    body: dict[str, Any] = {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "US",
        "amount_due": amount_paid,
        "amount_overpaid": 0,
        "amount_paid": amount_paid,
        "amount_remaining": 0,
        "attempt_count": 1,
        "attempted": True,
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "created": paid - 3600,
        "currency": "usd",
        "customer": customer,
        "customer_email": "jenny@example.com",
        "discounts": discounts or [],
        "lines": {"object": "list", "data": [], "has_more": False, "url": "/v1/invoices/x/lines"},
        "livemode": False,
        "metadata": {},
        "parent": {
            "quote_details": None,
            "subscription_details": {
                "metadata": subscription_metadata or {},
                "subscription": SUBSCRIPTION,
            },
            "type": "subscription_details",
        },
        "period_end": paid,
        "period_start": paid - 30 * 86400,
        "status": "paid",
        "status_transitions": {
            "finalized_at": paid - 3600,
            "marked_uncollectible_at": None,
            "paid_at": paid,
            "voided_at": None,
        },
        "subtotal": amount_paid,
        "total": amount_paid,
        "total_discount_amounts": [],
    }
    if payments is not None:  # only when the webhook endpoint expands it
        body["payments"] = {"object": "list", "data": payments, "has_more": False}
    return body


def invoice_payment(
    *, invoice_id: str, payment_intent: str, payment_id: str = "inpay_1RBasi"
) -> dict[str, Any]:
    now = int(time.time())
    return {
        "id": payment_id,
        "object": "invoice_payment",
        "amount_paid": 4900,
        "amount_requested": 4900,
        "created": now,
        "currency": "usd",
        "invoice": invoice_id,
        "is_default": True,
        "livemode": False,
        "payment": {"payment_intent": payment_intent, "type": "payment_intent"},
        "status": "paid",
        "status_transitions": {"canceled_at": None, "paid_at": now},
    }


def basil_charge(*, payment_intent: str, amount_refunded: int = 4900) -> dict[str, Any]:
    body = charge(payment_intent=payment_intent, amount_refunded=amount_refunded)
    del body["invoice"]
    return body


def basil_discount(coupon: dict[str, Any] | str) -> dict[str, Any]:
    return {
        "id": "di_1RBasiLkdIwHu7ix",
        "object": "discount",
        "checkout_session": None,
        "customer": "cus_NffrFeUfNV2Hib",
        "end": None,
        "invoice": None,
        "promotion_code": None,
        "source": {"coupon": coupon, "type": "coupon"},
        "start": int(time.time()),
        "subscription": SUBSCRIPTION,
    }
