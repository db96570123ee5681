"""The same webhook delivered many times at once (a provider retrying while the first
delivery is still being handled) records one conversion: real threads and connections on
PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client

from conversions.models import Conversion, PostbackDelivery
from integrations.models import IntegrationEvent, IntegrationPayment
from tests.conversions.factories_flow import accepted_click
from tests.integrations.payloads import (
    checkout_session,
    stripe_body,
    stripe_event,
    stripe_headers,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
THREADS = 8


def test_eight_concurrent_deliveries_of_one_event_record_once(shop):
    shop["offer"].postback_url_template = "https://adv.example/pb?c={CONVERSION_ID}"
    shop["offer"].save()
    click = accepted_click(shop["brand"], shop["offer"], shop["partner"])
    body = stripe_body(
        stripe_event("checkout.session.completed", checkout_session(click_id=click.id))
    )
    headers = stripe_headers(body)

    def deliver(_: int) -> tuple[int, str]:
        try:
            response = Client().post(
                "/api/integrations/stripe/acme", body, content_type="application/json", **headers
            )
            return response.status_code, response.json()["outcome"]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        answers = list(pool.map(deliver, range(THREADS)))
    assert sorted(answers) == [(200, "accepted")] + [(200, "duplicate")] * (THREADS - 1)
    assert Conversion.objects.count() == 1
    assert PostbackDelivery.objects.count() == 1
    assert IntegrationEvent.objects.filter(outcome="accepted").count() == 1
    assert IntegrationPayment.objects.count() == 2  # the invoice and the session
