"""Partner-scoped keys (trkp_…): issued by the brand (POST /api/v1/partners/<id>/api-keys/),
shown once, stored hashed, read-only by default, revocable; authentication with one message
for unknown and wrong keys, and a revoked key saying so."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from rest_framework.test import APIClient

from audit.actor import Actor
from audit.models import AuditEvent
from core.errors import AuthenticationError, NotFoundError
from partners.api_keys import partner_api_key_authenticate, partner_api_key_create
from partners.keys import checksum, parse_partner_key
from partners.models import PartnerApiKey
from tests.conftest import client_with_key, issue_key
from tests.factories import BrandFactory, PartnerFactory

pytestmark = pytest.mark.django_db


def test_brand_issues_a_read_key_shown_once_and_stored_hashed(api, partner):
    response = api.post("/api/v1/partners/abc-123/api-keys/", {"name": "reporting"}, format="json")
    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    key = body["key"]
    assert key.startswith("trkp_") and parse_partner_key(key) is not None
    assert (body["scope"], body["partner_id"], body["name"]) == ("read", "abc-123", "reporting")
    row = PartnerApiKey.objects.get(prefix=body["key_id"])
    assert key.split("_")[2][:43] not in row.secret_sha256  # only the digest is kept
    assert partner_api_key_authenticate(key).pk == row.pk
    event = AuditEvent.objects.get(action="partner_api_key.create")
    assert key not in str(event.changes) and event.target_id == row.prefix
    listed = api.get("/api/v1/partners/abc-123/api-keys/").json()["results"]
    assert [item["key_id"] for item in listed] == [row.prefix]
    assert "key" not in listed[0]


def test_write_key_only_when_asked_and_read_only_brand_key_cannot_issue(api, read_api, partner):
    body = api.post("/api/v1/partners/abc-123/api-keys/", {"write": True}, format="json").json()
    assert body["scope"] == "read_write"
    refused = read_api.post("/api/v1/partners/abc-123/api-keys/", {}, format="json")
    assert refused.status_code == 403


def test_revoked_key_is_refused_and_says_so(api, partner):
    body = api.post("/api/v1/partners/abc-123/api-keys/", {}, format="json").json()
    revoked = api.post(f"/api/v1/partners/abc-123/api-keys/{body['key_id']}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    again = api.post(f"/api/v1/partners/abc-123/api-keys/{body['key_id']}/revoke/")
    assert again.status_code == 200 and again.json()["changes"] == []
    response = client_with_key(body["key"]).get("/api/partner/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "revoked_api_key"


def test_unknown_and_wrong_keys_get_one_message(partner):
    actor = Actor.system(brand_id=partner.brand_id, brand_slug="acme", name="tests")
    _, real = partner_api_key_create(actor=actor, partner=partner)
    prefix = real.split("_")[1]
    wrong_body = f"trkp_{prefix}_{'A' * 43}"
    unknown_body = f"trkp_zzzzzzzzzz_{'A' * 43}"
    messages = set()
    for candidate in (wrong_body + checksum(wrong_body), unknown_body + checksum(unknown_body)):
        with pytest.raises(AuthenticationError) as caught:
            partner_api_key_authenticate(candidate)
        messages.add((caught.value.code, caught.value.message))
    assert messages == {("invalid_api_key", "Invalid API key.")}
    with pytest.raises(AuthenticationError):  # a typo breaks the checksum: no query needed
        partner_api_key_authenticate(real[:-1] + ("a" if real[-1] != "a" else "b"))


def test_a_rejected_partners_key_reaches_nothing(api, partner):
    body = api.post("/api/v1/partners/abc-123/api-keys/", {}, format="json").json()
    partner.status = "rejected"
    partner.save()
    response = client_with_key(body["key"]).get("/api/partner/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "partner_inactive"


def test_another_brands_partner_is_not_found(api, partner):
    other = BrandFactory(slug="globex")
    PartnerFactory(brand=other, slug="their-partner")
    response = api.post("/api/v1/partners/their-partner/api-keys/", {}, format="json")
    assert response.status_code == 404
    other_key = client_with_key(issue_key(other)).post(
        "/api/v1/partners/their-partner/api-keys/", {}, format="json"
    )
    assert other_key.status_code == 201
    mine = api.get("/api/v1/partners/abc-123/api-keys/").json()["results"]
    assert mine == []
    foreign = other_key.json()["key_id"]
    revoke = api.post(f"/api/v1/partners/abc-123/api-keys/{foreign}/revoke/")
    assert revoke.status_code == 404
    assert PartnerApiKey.objects.get(prefix=foreign).revoked_at is None


def test_a_partner_actor_manages_only_their_own_keys(partner):
    other = PartnerFactory(brand=partner.brand, slug="other")
    session = Actor.for_partner_session(
        brand_id=partner.brand_id,
        brand_slug="acme",
        partner_id=partner.pk,
        email=partner.email,
        request=RequestFactory().get("/"),
    )
    key, _ = partner_api_key_create(actor=session, partner=partner)
    assert key.created_by == f"partner:{partner.pk}"
    with pytest.raises(NotFoundError):
        partner_api_key_create(actor=session, partner=other)


def test_no_key_on_the_partner_api_says_which_key_it_takes(db):
    response = APIClient().get("/api/partner/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert "trkp_" in response.json()["error"]["message"]
    assert response["WWW-Authenticate"].startswith("Bearer")
