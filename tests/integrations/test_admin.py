"""Connecting a provider in the admin: the secret goes through the service (encrypted,
audited without its value), never comes back in a page, and an analyst cannot set it."""

from __future__ import annotations

from django.test import Client

from audit.models import AuditEvent
from brands.models import StaffRole
from integrations.models import IntegrationConnection, IntegrationEvent
from tests.integrations.payloads import STRIPE_SECRET
from tests.test_admin import admin_url, logged_in, member


def _add(client: Client, brand, secret: str = STRIPE_SECRET):
    return client.post(
        admin_url(IntegrationConnection, "add"),
        {"brand": brand.pk, "provider": "stripe", "new_signing_secret": secret},
    )


def test_owner_connects_stripe_and_the_secret_is_never_shown(brand):
    owner = member(brand)
    client = logged_in(Client(), owner)
    response = _add(client, brand)
    assert response.status_code == 302, response.content.decode()[:2000]
    connection = IntegrationConnection.objects.get(brand=brand, provider="stripe")
    assert connection.signing_secret == STRIPE_SECRET
    event = AuditEvent.objects.get(action="integration.stripe.connect")
    assert (event.actor_label, event.channel) == (f"user:{owner.pk}", "admin")
    for url in (
        admin_url(IntegrationConnection, "changelist"),
        admin_url(IntegrationConnection, "change", connection.pk),
    ):
        page = client.get(url).content.decode()
        assert STRIPE_SECRET not in page
        assert "/api/integrations/stripe/acme" in page
    assert client.get(admin_url(IntegrationEvent, "changelist")).status_code == 200


def test_a_bad_secret_is_a_form_error_and_an_analyst_cannot_connect(brand):
    owner = logged_in(Client(), member(brand))
    response = _add(owner, brand, secret="not-a-stripe-secret")
    assert response.status_code == 200
    assert "whsec_" in response.content.decode()
    analyst = logged_in(Client(), member(brand, StaffRole.ANALYST))
    assert _add(analyst, brand).status_code == 403
    assert not IntegrationConnection.objects.filter(signing_secret__gt="").exists()
