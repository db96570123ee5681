"""Refused and duplicate webhook deliveries are logged through the worker (the
``integration-events`` stream, core.row_queue, as the inbound postback log is); accepted and
ignored ones commit with their effects in the request, since their row is the idempotency
key."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from audit.models import AuditEvent
from conversions.models import Conversion
from core.queue_redis import queue_client
from integrations.event_log import INTEGRATION_EVENTS, event_record
from integrations.models import EventOutcome, IntegrationEvent, Provider
from integrations.services import connection_set_secret
from tests.conftest import make_actor
from tests.conversions.helpers import click, click_id_from
from tests.factories import BrandFactory, OfferFactory, PartnerFactory
from tests.integrations.payloads import (
    SHOPIFY_SECRET,
    STRIPE_SECRET,
    checkout_session,
    shopify_headers,
    stripe_body,
    stripe_event,
    stripe_headers,
)
from workers.loop import Worker

pytestmark = pytest.mark.django_db(transaction=True)
STRIPE_URL = "/api/integrations/stripe/acme"


@pytest.fixture
def acme():
    brand = BrandFactory(slug="acme")
    OfferFactory(brand=brand, slug="pro-plan", currency="USD", min_conversion_seconds=0)
    PartnerFactory(brand=brand, slug="ada")
    actor = make_actor(brand)
    connection_set_secret(actor=actor, provider=Provider.STRIPE, signing_secret=STRIPE_SECRET)
    connection_set_secret(actor=actor, provider=Provider.SHOPIFY, signing_secret=SHOPIFY_SECRET)
    return brand


def _post_stripe(event: dict, **sign) -> dict:
    body = stripe_body(event)
    return Client().post(
        STRIPE_URL, body, content_type="application/json", **stripe_headers(body, **sign)
    )


@pytest.mark.redis
def test_refusals_and_duplicates_are_written_by_the_worker(acme):
    clicked = click_id_from(click(Client(), "acme", "pro-plan", "ada"))
    Worker(name="w").run_until_idle(queues_only=True)  # the click is queued too
    event = stripe_event("checkout.session.completed", checkout_session(click_id=clicked))
    assert _post_stripe(event).json()["reason"] == "conversion_recorded"
    # The accepted row committed with its conversion, in the request.
    assert IntegrationEvent.objects.get().outcome == EventOutcome.ACCEPTED
    assert _post_stripe(event).json()["outcome"] == "duplicate"
    refused = _post_stripe(event, secret="whsec_not_the_brands_secret_0000")
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "bad_signature")
    body = b'{"id": 1}'
    shopify = Client().post(
        "/api/integrations/shopify/acme",
        body,
        content_type="application/json",
        **shopify_headers(body, topic="orders/create", secret="wrong"),
    )
    assert shopify.status_code == 400
    # Queued by the requests, not written by them.
    assert IntegrationEvent.objects.count() == 1
    assert INTEGRATION_EVENTS.depth(queue_client()) == 3

    Worker(name="w").run_until_idle(queues_only=True)

    rows = IntegrationEvent.objects.order_by("received_at", "pk")
    assert [(r.provider, r.outcome, r.reason, r.http_status) for r in rows] == [
        ("stripe", "accepted", "conversion_recorded", 200),
        ("stripe", "duplicate", "already_processed", 200),
        ("stripe", "refused", "bad_signature", 400),
        ("shopify", "refused", "bad_signature", 400),
    ]
    assert rows[1].event_id == event["id"]
    assert all(row.brand_id == acme.pk for row in rows)
    assert INTEGRATION_EVENTS.depth(queue_client()) == 0
    assert Conversion.objects.count() == 1


def test_without_a_queue_redis_the_request_writes_the_row(acme, settings):
    settings.TRCKER_QUEUE_REDIS_URL = ""
    response = _post_stripe(stripe_event("invoice.paid", {}), secret="whsec_wrong_0000000000")
    assert response.status_code == 400
    assert IntegrationEvent.objects.get().reason == "bad_signature"


@pytest.mark.redis
def test_the_worker_dead_letters_bad_records_alone(acme):
    gone = BrandFactory()
    for brand in (acme, gone, acme):
        event_record(
            IntegrationEvent(
                brand_id=brand.pk,
                provider=Provider.STRIPE,
                outcome=EventOutcome.REFUSED,
                reason="bad_signature",
                http_status=400,
            )
        )
    client = queue_client()
    client.xadd(INTEGRATION_EVENTS.key, {"r": "not json"})
    client.xadd(INTEGRATION_EVENTS.key, {"r": json.dumps({"brand_id": acme.pk})})
    AuditEvent.objects.filter(brand=gone).delete()
    gone.delete()  # its queued row now names a brand that does not exist

    Worker(name="w").run_until_idle(queues_only=True)

    assert IntegrationEvent.objects.filter(brand=acme).count() == 2
    reasons = sorted(dead.fields["reason"] for dead in INTEGRATION_EVENTS.dead_letters(client))
    assert len(reasons) == 3
    assert reasons[0].startswith("not a webhook-log record: JSONDecodeError")
    assert reasons[1].startswith("not a webhook-log record: ValueError")
    assert reasons[2].startswith("refused by the database")
    assert INTEGRATION_EVENTS.depth(client) == 0
