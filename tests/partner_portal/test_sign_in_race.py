"""Two requests spending the same sign-in link at once sign in once: the link's row is locked
and every condition re-checked under the lock (PostgreSQL row locks)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction
from django.test import RequestFactory

from audit.actor import Actor
from audit.models import AuditEvent
from core.errors import AuthenticationError
from partners.models import PartnerSignInLink
from partners.sign_in import SELECTOR_LENGTH, partner_sign_in_links_send, sign_in_link_use
from tests.factories import BrandFactory, PartnerFactory
from tests.pg_locks import sessions_waiting_on_locks


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_link_spent_twice_at_once_signs_in_once():
    brand = BrandFactory(slug="acme")
    ada = PartnerFactory(brand=brand, slug="ada", email="ada@example.com")
    visitor = Actor.system(brand_id=brand.pk, brand_slug=brand.slug, name="test")
    (sent,) = partner_sign_in_links_send(actor=visitor, brand=brand, email=ada.email)
    token = sent.url.rstrip("/").rsplit("/", 1)[1]
    request = RequestFactory().post("/", REMOTE_ADDR="198.51.100.1")
    actor = Actor.for_partner_session(
        brand_id=brand.pk,
        brand_slug=brand.slug,
        partner_id=ada.pk,
        email=ada.email,
        request=request,
    )

    def spend():
        try:
            sign_in_link_use(actor=actor, brand=brand, token=token)
            return "signed in"
        except AuthenticationError:
            return "refused"
        finally:
            connection.close()

    selector = token[:SELECTOR_LENGTH]
    with ThreadPoolExecutor(max_workers=2) as pool:
        with transaction.atomic():
            PartnerSignInLink.objects.select_for_update().get(selector=selector)  # the gate
            futures = [pool.submit(spend), pool.submit(spend)]
            deadline = time.monotonic() + 10
            while sessions_waiting_on_locks() < 2:
                assert time.monotonic() < deadline, "the two requests never waited on the link"
                time.sleep(0.02)
        outcomes = sorted(future.result(timeout=20) for future in futures)

    assert outcomes == ["refused", "signed in"]
    assert AuditEvent.objects.filter(action="partner.sign_in").count() == 1
