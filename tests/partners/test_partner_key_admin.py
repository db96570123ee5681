"""The admin's "Partner API keys": brand staff issue a partner key (the plaintext shown once,
only its hash stored), see their brand's keys and no other brand's, and revoke by action."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEvent
from partners.api_keys import partner_api_key_authenticate, partner_api_key_create
from partners.keys import KEY_PATTERN
from partners.models import PartnerApiKey
from tests.factories import PartnerFactory
from tests.test_admin import admin_url, change_url, logged_in, member, run_action, system_actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(brand) -> Any:
    return member(brand)


def test_issuing_a_partner_key_shows_it_once_and_stores_only_the_hash(client: Client, brand, owner):
    partner = PartnerFactory(brand=brand, slug="abc-123")
    logged_in(client, owner)
    response = client.post(
        admin_url(PartnerApiKey, "add"),
        {"partner": partner.pk, "label": "Their dashboard", "scope": "read"},
        follow=True,
    )
    shown = [str(m) for m in response.context["messages"] if "Copy it now" in str(m)]
    assert len(shown) == 1
    plaintext = re.search(r"trkp_[A-Za-z0-9_]+", shown[0]).group(0)
    match = KEY_PATTERN.match(plaintext)
    assert match
    key = PartnerApiKey.objects.get()
    assert (key.prefix, key.partner, key.scope, key.created_by) == (
        match.group(1),
        partner,
        "read",
        f"user:{owner.pk}",
    )
    assert key.secret_sha256 == hashlib.sha256(match.group(2).encode()).hexdigest()
    assert partner_api_key_authenticate(plaintext).pk == key.pk
    event = AuditEvent.objects.get(action="partner_api_key.create")
    assert event.actor_label == f"user:{owner.pk}" and match.group(2) not in str(event.changes)
    for page in (client.get(admin_url(PartnerApiKey, "changelist")), client.get(change_url(key))):
        html = page.content.decode()
        assert match.group(2) not in html and key.secret_sha256 not in html
        assert f"trkp_{key.prefix}_" in html


def test_staff_see_and_revoke_their_brands_keys_only(client: Client, brand, other_brand, owner):
    mine, _ = partner_api_key_create(
        actor=system_actor(brand), partner=PartnerFactory(brand=brand, slug="mine")
    )
    theirs, _ = partner_api_key_create(
        actor=system_actor(other_brand), partner=PartnerFactory(brand=other_brand, slug="theirs")
    )
    logged_in(client, owner)
    listed = client.get(admin_url(PartnerApiKey, "changelist")).content.decode()
    assert mine.prefix in listed and theirs.prefix not in listed
    assert client.get(change_url(theirs)).status_code in (302, 404)
    run_action(client, PartnerApiKey, "revoke_partner_keys", mine, theirs)
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None and theirs.revoked_at is None
    refused = client.post(change_url(mine), {"label": "renamed"})
    assert refused.status_code == 403
