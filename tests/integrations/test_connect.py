"""Connecting a provider over REST: the secret is stored encrypted, never shown, audited
without its value, rotated with a grace period; the status and event log read back."""

from __future__ import annotations

import json

import pytest
from django.db import connection as db
from django.test import Client

from audit.models import AuditEvent
from integrations.models import IntegrationConnection
from tests.factories import OfferFactory
from tests.integrations.payloads import (
    STRIPE_SECRET,
    checkout_session,
    stripe_body,
    stripe_event,
    stripe_headers,
)

NEW_SECRET = "whsec_rotated_0123456789abcdefghij"


def test_put_stores_the_secret_encrypted_and_never_shows_it(api, brand):
    response = api.put(
        "/api/v1/integrations/stripe/", {"signing_secret": STRIPE_SECRET}, format="json"
    )
    assert response.status_code == 200, response.content
    assert STRIPE_SECRET not in response.content.decode()
    assert response.json()["connected"] is True
    assert response.json()["webhook_url_path"] == "/api/integrations/stripe/acme"
    with db.cursor() as cursor:
        cursor.execute("SELECT signing_secret FROM integrations_integrationconnection")
        (stored,) = cursor.fetchone()
    assert stored and STRIPE_SECRET not in stored
    event = AuditEvent.objects.get(action="integration.stripe.connect")
    assert STRIPE_SECRET not in json.dumps(event.changes)
    listed = api.get("/api/v1/integrations/").json()["results"]
    assert STRIPE_SECRET not in json.dumps(listed)
    assert [row["provider"] for row in listed] == ["stripe", "shopify"]


def test_rotation_keeps_the_old_secret_for_the_grace_period(api, brand):
    api.put("/api/v1/integrations/stripe/", {"signing_secret": STRIPE_SECRET}, format="json")
    api.put(
        "/api/v1/integrations/stripe/",
        {"signing_secret": NEW_SECRET, "grace_seconds": 3600},
        format="json",
    )
    body = stripe_body(stripe_event("customer.created", {"id": "cus_1"}))
    for secret in (STRIPE_SECRET, NEW_SECRET):
        response = Client().post(
            "/api/integrations/stripe/acme",
            body.replace("evt_1PQ", f"evt_{secret[-4:]}"),
            content_type="application/json",
            **stripe_headers(body.replace("evt_1PQ", f"evt_{secret[-4:]}"), secret=secret),
        )
        assert response.status_code == 200, response.content
    api.put(
        "/api/v1/integrations/stripe/",
        {"signing_secret": "whsec_third_0123456789abcdefghijk", "grace_seconds": 0},
        format="json",
    )
    response = Client().post(
        "/api/integrations/stripe/acme",
        body,
        content_type="application/json",
        **stripe_headers(body, secret=NEW_SECRET),
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    "payload",
    [
        {"signing_secret": "not-a-stripe-secret"},
        {"signing_secret": "whsec_\x00abcdefghijklmnopqrstu"},
        {"signing_secret": "whsec_" + "a" * 500},
        {"signing_secret": 12345},
        {"grace_seconds": 10},
        {"signing_secret": STRIPE_SECRET, "grace_seconds": -1},
        {"default_offer_id": "no-such-offer"},
        {},
    ],
)
def test_bad_input_changes_nothing(api, brand, payload):
    response = api.put("/api/v1/integrations/stripe/", payload, format="json")
    assert response.status_code in (404, 422), response.content
    assert not IntegrationConnection.objects.filter(signing_secret__gt="").exists()


def test_unknown_provider_and_other_brands_offer(api, brand, other_brand):
    OfferFactory(brand=other_brand, slug="theirs")
    assert api.put(
        "/api/v1/integrations/paypal/", {"signing_secret": "x"}, format="json"
    ).status_code in (400, 404)
    response = api.put(
        "/api/v1/integrations/shopify/", {"default_offer_id": "theirs"}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_read_key_cannot_connect(read_api):
    response = read_api.put(
        "/api/v1/integrations/stripe/", {"signing_secret": STRIPE_SECRET}, format="json"
    )
    assert response.status_code == 403


def test_event_log_and_status_show_refusals(api, brand):
    api.put("/api/v1/integrations/stripe/", {"signing_secret": STRIPE_SECRET}, format="json")
    body = stripe_body(stripe_event("checkout.session.completed", checkout_session()))
    for _ in range(3):
        Client().post(
            "/api/integrations/stripe/acme",
            body,
            content_type="application/json",
            **stripe_headers(body, secret="whsec_wrong_0123456789abcdefghijk"),
        )
    status = api.get("/api/v1/integrations/").json()["results"][0]
    assert status["refused"] == 3
    assert status["refused_reasons"] == {"bad_signature": 3}
    events = api.get("/api/v1/integrations/events/", {"outcome": "refused"}).json()
    assert [row["reason"] for row in events["results"]] == ["bad_signature"] * 3


def test_disconnect_refuses_webhooks(api, brand):
    api.put("/api/v1/integrations/stripe/", {"signing_secret": STRIPE_SECRET}, format="json")
    assert api.delete("/api/v1/integrations/stripe/").json()["connected"] is False
    body = stripe_body(stripe_event("customer.created", {"id": "cus_1"}))
    response = Client().post(
        "/api/integrations/stripe/acme",
        body,
        content_type="application/json",
        **stripe_headers(body),
    )
    assert response.json()["error"]["code"] == "bad_signature"
