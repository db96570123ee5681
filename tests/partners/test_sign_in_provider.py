"""The brand's OpenID provider for partner sign-in, configured over REST and in the admin: the
client secret stored encrypted, never shown, audited without its value; the issuer held to
the SSRF guard's rules; one brand's provider invisible to another."""

from __future__ import annotations

import json

import pytest
from django.db import connection as db
from django.test import Client

from audit.models import AuditEvent
from brands.models import StaffRole
from partners.models import PartnerSignInProvider
from tests.conftest import client_with_key, issue_key
from tests.test_admin import admin_url, logged_in, member

URL = "/api/v1/partner-sign-in/oidc/"
SECRET = "s3cret-of-the-client-0123456789"
GOOD = {
    "display_name": "Acme Login",
    "issuer": "https://login.acme-idp.example/",
    "client_id": "trcker-partners",
    "client_secret": SECRET,
}


def stored_secret() -> str:
    with db.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM partners_partnersigninprovider")
        (stored,) = cursor.fetchone()
    return stored


def test_put_stores_the_secret_encrypted_and_never_shows_it(api, brand, settings):
    settings.TRCKER_PUBLIC_URL = "https://track.example"
    assert api.get(URL).json()["configured"] is False
    response = api.put(URL, GOOD, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert SECRET not in response.content.decode()
    assert body["configured"] is True and body["has_client_secret"] is True
    assert body["redirect_uri"] == "https://track.example/p/acme/login/oidc/callback/"
    assert body["login_url"] == "https://track.example/p/acme/login/"
    assert SECRET not in stored_secret() and stored_secret()
    assert PartnerSignInProvider.objects.get().client_secret == SECRET
    event = AuditEvent.objects.get(action="partner_sign_in_provider.set")
    assert SECRET not in json.dumps(event.changes)
    assert event.changes["has_client_secret"] == [False, True]
    assert SECRET not in api.get(URL).content.decode()

    # A change without the secret keeps it.
    renamed = api.put(URL, {"display_name": "Acme SSO"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["display_name"] == "Acme SSO"
    assert PartnerSignInProvider.objects.get().client_secret == SECRET

    removed = api.delete(URL)
    assert removed.status_code == 200 and removed.json()["configured"] is False
    assert not PartnerSignInProvider.objects.exists()
    assert api.delete(URL).status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({**GOOD, "issuer": "http://login.acme-idp.example"}, "issuer"),
        ({**GOOD, "issuer": "https://127.0.0.1/"}, "issuer"),
        ({**GOOD, "issuer": "https://idp.internal/"}, "issuer"),
        ({**GOOD, "issuer": "https://user:pw@login.acme-idp.example/"}, "issuer"),
        ({**GOOD, "issuer": "https://login.acme-idp.example/?x=1"}, "issuer"),
        ({**GOOD, "issuer": "https://login.acme-idp.example:8443/"}, "issuer"),
        ({**GOOD, "client_id": "has space"}, "client_id"),
        ({**GOOD, "client_secret": "short"}, "client_secret"),
        ({**GOOD, "display_name": "<script>"}, "display_name"),
        ({"display_name": "Only a name"}, "issuer"),
    ],
)
def test_bad_settings_are_refused_with_the_field_named(api, brand, payload, field, settings):
    settings.TRCKER_OUTBOUND_ALLOW_PRIVATE = False
    response = api.put(URL, payload, format="json")
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_sign_in_provider"
    assert field in error["fields"]
    assert not PartnerSignInProvider.objects.exists()


def test_unknown_fields_and_empty_bodies_are_refused(api, brand):
    assert api.put(URL, {}, format="json").status_code == 422
    assert api.put(URL, {**GOOD, "brand": "globex"}, format="json").status_code == 422
    assert not PartnerSignInProvider.objects.exists()


def test_a_read_key_cannot_set_it_and_each_brand_sees_its_own(api, read_api, brand, other_brand):
    assert read_api.put(URL, GOOD, format="json").status_code == 403
    assert api.put(URL, GOOD, format="json").status_code == 200
    theirs = client_with_key(issue_key(other_brand))
    assert theirs.get(URL).json()["configured"] is False
    assert theirs.delete(URL).status_code == 404
    assert PartnerSignInProvider.objects.get().brand_id == brand.pk


def _add(client: Client, brand, secret: str = SECRET):
    return client.post(
        admin_url(PartnerSignInProvider, "add"),
        {
            "brand": brand.pk,
            "display_name": "Acme Login",
            "issuer": "https://login.acme-idp.example/",
            "client_id": "trcker-partners",
            "new_client_secret": secret,
        },
    )


@pytest.mark.parametrize(
    "change", [{"issuer": "https://attacker.example/"}, {"client_id": "someone-else"}]
)
def test_a_new_issuer_or_client_id_needs_the_secret_again(api, brand, change):
    """Kept across such a change, the stored secret would go to the token endpoint of
    whichever issuer a write key names (security review)."""
    assert api.put(URL, GOOD, format="json").status_code == 200
    refused = api.put(URL, change, format="json")
    assert refused.status_code == 422, refused.content
    error = refused.json()["error"]
    assert error["code"] == "invalid_sign_in_provider" and "client_secret" in error["fields"]
    row = PartnerSignInProvider.objects.get()
    assert (row.issuer, row.client_id) == (GOOD["issuer"], GOOD["client_id"])
    assert AuditEvent.objects.filter(action="partner_sign_in_provider.set").count() == 1

    given = api.put(URL, {**change, "client_secret": "a-new-secret-0123456789"}, format="json")
    assert given.status_code == 200, given.content
    # The same values again change nothing, so need no secret.
    assert api.put(URL, change, format="json").status_code == 200


def test_the_admin_sets_the_provider_and_never_shows_the_secret(brand):
    owner = member(brand)
    client = logged_in(Client(), owner)
    response = _add(client, brand)
    assert response.status_code == 302, response.content.decode()[:2000]
    row = PartnerSignInProvider.objects.get(brand=brand)
    assert row.client_secret == SECRET
    event = AuditEvent.objects.get(action="partner_sign_in_provider.set")
    assert (event.actor_label, event.channel) == (f"user:{owner.pk}", "admin")
    for url in (
        admin_url(PartnerSignInProvider, "changelist"),
        admin_url(PartnerSignInProvider, "change", row.pk),
    ):
        page = client.get(url).content.decode()
        assert SECRET not in page
    assert "/p/acme/login/oidc/callback/" in page
    changed = client.post(
        admin_url(PartnerSignInProvider, "change", row.pk),
        {"display_name": "Acme SSO", "issuer": row.issuer, "client_id": row.client_id},
    )
    assert changed.status_code == 302
    row.refresh_from_db()
    assert (row.display_name, row.client_secret) == ("Acme SSO", SECRET)
    moved = client.post(
        admin_url(PartnerSignInProvider, "change", row.pk),
        {"display_name": "Acme SSO", "issuer": "https://other.example/", "client_id": "x"},
    )
    assert moved.status_code == 200  # the form again, the secret asked for
    assert "Required when issuer or client_id changes." in moved.content.decode()
    row.refresh_from_db()
    assert row.issuer != "https://other.example/"


def test_a_bad_secret_is_a_form_error_and_an_analyst_cannot_set_it(brand):
    owner = logged_in(Client(), member(brand))
    response = _add(owner, brand, secret="short")
    assert response.status_code == 200
    assert "8-512 printable characters" in response.content.decode()
    analyst = logged_in(Client(), member(brand, StaffRole.ANALYST))
    assert _add(analyst, brand).status_code == 403
    assert not PartnerSignInProvider.objects.exists()
