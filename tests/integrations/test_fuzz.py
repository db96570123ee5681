"""Hostile input on the public Stripe and Shopify webhooks: any bytes in the body, headers and
brand slug, and signed-but-malformed payloads (hostile JSON signed with the brand's real
secret, so it passes the signature and reaches the parsing of every handled event type).
Whatever arrives: never a 5xx, a stable error code, and a refused request writes nothing but
its own refused log line (no conversion, payment, customer, link or audit row)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from urllib.parse import quote

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.models import AuditEvent
from conversions.models import Conversion
from integrations.models import (
    EventOutcome,
    IntegrationCustomer,
    IntegrationEvent,
    IntegrationPayment,
    IntegrationPaymentLink,
)
from integrations.shopify_events import HANDLED_TOPICS
from integrations.stripe_events import HANDLED_EVENTS
from tests.integrations.payloads import (
    STRIPE_SECRET,
    charge,
    checkout_session,
    dispute,
    invoice,
    shopify_headers,
    shopify_order,
    shopify_refund,
    stripe_event,
    stripe_headers,
)
from tests.integrations.payloads_basil import basil_invoice, invoice_payment

# What a refusal may answer: the edge's (trcker_site/edge_middleware.py: control characters
# in a header or the path), then the checks of integrations/views.py in their order.
REFUSALS = {
    "invalid_characters": 400,
    "body_too_large": 413,
    "malformed_body": 400,
    "bad_signature": 400,
    "signature_expired": 400,
    "malformed_event": 400,
}
OUTCOMES = {"accepted", "duplicate", "ignored"}
SNAKE = set("abcdefghijklmnopqrstuvwxyz_")

CONTROL = "".join(chr(c) for c in [*range(0x20), 0x7F])
hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from(CONTROL + "a/:.é東😀{}%\u202e\ud800"), max_size=40),
    st.sampled_from(
        [
            "",
            "\x00",
            "clk_AAAAAAAAAAAAAAAA",
            "clk_\x00AAAAAAAAAAA",
            "in_1",
            "pi_1",
            "promo_1",
            "cus_1",
            "usd",
            "JPY",
            "xx",
            "x" * 5000,
            "820982911946154508",
            "-1",
            "1e400",
            "NaN",
        ]
    ),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, -(2**63), 10**40, 0, 4900]),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(hostile_text, inner, max_size=4)
    ),
    max_leaves=12,
)
# Every field a handler reads, with anything in it.
FIELDS = [
    "id",
    "amount_total",
    "amount_paid",
    "amount_refunded",
    "amount",
    "refunded",
    "currency",
    "customer",
    "invoice",
    "payment_intent",
    "charge",
    "client_reference_id",
    "metadata",
    "discounts",
    "discount",
    "parent",
    "payments",
    "payment",
    "payment_status",
    "billing_reason",
    "status_transitions",
    "subscription_details",
    "refunds",
    # Shopify
    "order_id",
    "note_attributes",
    "landing_site",
    "discount_codes",
    "current_subtotal_price",
    "subtotal_price",
    "transactions",
    "refund_line_items",
]
objects = st.one_of(
    json_values,
    st.fixed_dictionaries({}, optional=dict.fromkeys(FIELDS, json_values)),
)
# Real-shaped objects of every handled type with a few fields made hostile: deep enough to
# reach each handler's parsing past the checks a random object fails first.
REAL_STRIPE = [
    ("checkout.session.completed", checkout_session(click_id=None)),
    ("checkout.session.completed", checkout_session(mode="payment", invoice=None)),
    ("invoice.paid", invoice(invoice_id="in_f1", billing_reason="subscription_create")),
    ("invoice.paid", basil_invoice(invoice_id="in_f2", payments=[])),
    ("invoice_payment.paid", invoice_payment(invoice_id="in_f1", payment_intent="pi_f1")),
    ("charge.refunded", charge(payment_intent="pi_f1", amount_refunded=100)),
    ("charge.dispute.created", dispute(charge_id="ch_f1", payment_intent="pi_f1")),
]
REAL_SHOPIFY = [
    ("orders/create", shopify_order()),
    ("orders/paid", shopify_order(discount_codes=["X1"])),
    ("orders/cancelled", shopify_order()),
    ("refunds/create", shopify_refund()),
]
overrides = st.dictionaries(st.sampled_from(FIELDS), json_values, min_size=1, max_size=8)


@st.composite
def real_stripe_events(draw: st.DrawFn) -> dict:
    kind, obj = draw(st.sampled_from(REAL_STRIPE))
    kind = draw(st.one_of(st.just(kind), st.sampled_from(HANDLED_EVENTS)))
    event = stripe_event(kind, {**obj, **draw(overrides)}, event_id=draw(event_ids))
    return event


# Mostly fresh ids (the database is shared by a test's examples: a repeated id is only a
# duplicate), now and then one seen before.
FRESH = "evt_FRESH"  # replaced by a new id in the test
FRESH_IDS = itertools.count(1)
event_ids = st.sampled_from(["evt_fuzz_1", FRESH, FRESH, FRESH])
stripe_events = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(hostile_text, event_ids, json_values),
        "type": st.one_of(st.sampled_from(HANDLED_EVENTS), hostile_text),
        "created": scalars,
        "api_version": st.sampled_from(["2024-06-20", "2025-03-31.basil", ""]),
        "data": st.one_of(json_values, st.fixed_dictionaries({"object": objects})),
    },
)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(autouse=True)
def _no_budgets(settings):
    # Hundreds of refusals from one address in seconds: the budgets are not under test here
    # (tests/integrations/test_stripe.py and test_shopify.py cover them).
    settings.TRCKER_AUTH_FAILURES_PER_IP = "1000000/m"
    settings.TRCKER_INTEGRATION_RATE = "1000000/m"


def effects() -> tuple[int, ...]:
    return (
        Conversion.objects.count(),
        IntegrationPayment.objects.count(),
        IntegrationCustomer.objects.count(),
        IntegrationPaymentLink.objects.count(),
        AuditEvent.objects.count(),
        IntegrationEvent.objects.exclude(outcome=EventOutcome.REFUSED).count(),
    )


def check(response, before: tuple[int, ...]) -> None:
    """Never a 5xx; a refusal answers a known code, changes nothing and logs at most its own
    refused line; an answered event says what became of it in snake_case."""
    assert response.status_code < 500, response.content[:300]
    if response.status_code == 404:  # a slug the URL pattern cannot match (a '/' in it)
        assert effects() == before
        return
    answer = response.json()
    if response.status_code == 200:
        assert answer["received"] is True
        assert answer["outcome"] in OUTCOMES
        assert set(answer["reason"]) <= SNAKE and answer["reason"]
        return
    code = answer["error"]["code"]
    assert REFUSALS.get(code) == response.status_code, answer
    assert answer["error"]["message"]
    assert effects() == before
    if code != "invalid_characters":  # answered by the webhook view itself
        assert response["Cache-Control"] == "no-store"


def _encoded(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


@FUZZ
@given(event=st.one_of(stripe_events, real_stripe_events()))
def test_signed_hostile_stripe_events(shop, event):
    if event.get("id") == FRESH:
        event["id"] = f"evt_fuzz_{next(FRESH_IDS)}"
    body = _encoded(event)
    before = effects()
    try:
        headers = stripe_headers(body.decode("utf-8"))
    except UnicodeDecodeError:  # a lone surrogate: signed as Stripe documents, over the bytes
        stamp = int(time.time())
        mac = hmac.new(STRIPE_SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
        headers = {"HTTP_STRIPE_SIGNATURE": f"t={stamp},v1={mac.hexdigest()}"}
    response = Client().post(
        "/api/integrations/stripe/acme", body, content_type="application/json", **headers
    )
    check(response, before)
    # No valid click and no coupon of the brand: nothing a hostile event says records a sale.
    assert Conversion.objects.count() == before[0]


@FUZZ
@given(
    body=st.one_of(st.binary(max_size=300), json_values.map(_encoded)),
    slug=st.one_of(st.just("acme"), hostile_text),
    signature=st.one_of(hostile_text, st.just("t=1,v1=00"), st.none()),
    provider=st.sampled_from(["stripe", "shopify"]),
)
def test_unsigned_hostile_requests(shop, body, slug, signature, provider):
    headers = {}
    if signature is not None:
        header = "HTTP_STRIPE_SIGNATURE" if provider == "stripe" else "HTTP_X_SHOPIFY_HMAC_SHA256"
        headers[header] = signature.encode("utf-8", "surrogatepass").decode("latin-1")
    before = effects()
    path = f"/api/integrations/{provider}/{quote(slug.encode('utf-8', 'surrogatepass'), safe='')}"
    response = Client().post(path, body, content_type="application/json", **headers)
    check(response, before)
    if response.status_code != 404:
        assert response.status_code != 200


@st.composite
def real_shopify_webhooks(draw: st.DrawFn) -> tuple[str, dict]:
    topic, body = draw(st.sampled_from(REAL_SHOPIFY))
    topic = draw(st.one_of(st.just(topic), st.sampled_from(HANDLED_TOPICS)))
    return topic, {**body, **draw(overrides)}


@FUZZ
@given(
    webhook=st.one_of(
        real_shopify_webhooks(),
        st.tuples(st.one_of(st.sampled_from(HANDLED_TOPICS), hostile_text), objects),
    ),
    event_id=st.one_of(st.none(), st.none(), hostile_text),
)
def test_signed_hostile_shopify_webhooks(shop, webhook, event_id):
    topic, payload = webhook
    body = _encoded(payload)
    headers = shopify_headers(body, topic="x", webhook_id=f"delivery-{next(FRESH_IDS)}")
    headers["HTTP_X_SHOPIFY_TOPIC"] = topic.encode("utf-8", "surrogatepass").decode("latin-1")
    if event_id is not None:
        headers["HTTP_X_SHOPIFY_EVENT_ID"] = event_id.encode("utf-8", "surrogatepass").decode(
            "latin-1"
        )
    before = effects()
    response = Client().post(
        "/api/integrations/shopify/acme", body, content_type="application/json", **headers
    )
    check(response, before)
    assert Conversion.objects.count() == before[0]
