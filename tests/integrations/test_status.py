"""The integrations in diagnose_offer and on the dashboard: connected or not, silent,
refused (with the reason ×N), unattributed sales."""

from __future__ import annotations

import datetime as dt

import time_machine
from django.test import Client
from django.utils import timezone

from integrations.models import EventOutcome, IntegrationEvent, Provider
from tests.factories import StaffMembershipFactory, UserFactory
from tests.integrations.payloads import (
    checkout_session,
    stripe_body,
    stripe_event,
    stripe_headers,
)

URL = "/api/integrations/stripe/acme"


def _post_wrongly_signed(times: int) -> None:
    body = stripe_body(stripe_event("checkout.session.completed", checkout_session()))
    for _ in range(times):
        Client().post(
            URL,
            body,
            content_type="application/json",
            **stripe_headers(body, secret="whsec_not_the_right_one_0123456789"),
        )


def _codes(api) -> dict[str, dict]:
    answer = api.get("/api/v1/offers/pro-plan/diagnosis/").json()
    return {finding["code"]: finding for finding in answer["findings"]}


def test_diagnosis_names_refusals_and_a_silent_provider(shop, api):
    with time_machine.travel(timezone.now() - dt.timedelta(days=10)):
        IntegrationEvent.objects.create(
            brand=shop["brand"],
            provider=Provider.STRIPE,
            event_id="evt_old",
            outcome=EventOutcome.ACCEPTED,
            http_status=200,
        )
    findings = _codes(api)
    assert "stripe_silent" in findings
    assert "no event in 7 days" in findings["stripe_silent"]["message"]
    _post_wrongly_signed(3)
    findings = _codes(api)
    assert "stripe_silent" not in findings
    assert findings["stripe_events_refused"]["message"] == (
        "Stripe events refused: bad_signature ×3 in 7 days."
    )
    assert "shopify_silent" in findings  # connected, never an event


def test_diagnosis_names_unattributed_sales(shop, api):
    Client().post(
        URL,
        stripe_body(stripe_event("checkout.session.completed", checkout_session())),
        content_type="application/json",
        **stripe_headers(
            stripe_body(stripe_event("checkout.session.completed", checkout_session()))
        ),
    )
    findings = _codes(api)
    assert findings["stripe_sales_unattributed"]["evidence"]["reasons"] == {"no_attribution": 1}


def test_the_dashboard_shows_each_integration(shop):
    user = UserFactory(is_staff=True)
    StaffMembershipFactory(user=user, brand=shop["brand"], role="owner")
    _post_wrongly_signed(2)
    client = Client()
    client.force_login(user)
    page = client.get("/admin/").content.decode()
    assert 'id="trk-integrations"' in page
    assert page.count('class="trk-integration"') == 2
    assert "<code>bad_signature</code> ×2" in page
    assert "Connected" in page
