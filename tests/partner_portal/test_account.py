"""The partner's own account in the portal: profile and postback URL, payout details from the
brand's closed list, and their API keys (made read-only or write, shown once, revoked), each
audited as partner:<id> on the portal channel; hostile input answers with the form's error."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from partners.models import Partner, PartnerApiKey
from tests.partner_portal.helpers import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada_client(world):
    client = Client()
    sign_in(client, world["ada"])
    return client


def url(name, *args):
    return reverse(name, args=["acme", *args])


def test_profile_edit_changes_name_website_and_postback(ada_client, world):
    response = ada_client.post(
        url("portal-profile"),
        {
            "form": "profile",
            "name": "Ada Media Ltd",
            "website": "https://ada.example",
            "postback_url_template": "https://track.ada.example/pb?c={CLICK_ID}&p={PAYOUT}",
        },
    )
    assert response.status_code == 302 and response["Location"].endswith("?saved=profile")
    ada = Partner.objects.get(pk=world["ada"].pk)
    assert (ada.name, ada.website) == ("Ada Media Ltd", "https://ada.example")
    assert ada.postback_url_template.startswith("https://track.ada.example/pb")
    event = AuditEvent.objects.filter(action="partner.update").latest("pk")
    assert event.actor_label == f"partner:{ada.pk}" and event.channel == "portal"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"postback_url_template": "http://127.0.0.1/pb"}, "postback_url_template"),
        ({"postback_url_template": "javascript:alert(1)"}, "postback_url_template"),
        ({"name": ""}, "name"),
        ({"name": "x" * 300}, "name"),
        ({"website": "ftp://ada.example"}, "website"),
    ],
)
def test_profile_edit_refuses_bad_input_beside_the_field(ada_client, world, data, field):
    before = Partner.objects.get(pk=world["ada"].pk)
    payload = {"form": "profile", "name": "Ada", "website": "", "postback_url_template": ""}
    response = ada_client.post(url("portal-profile"), {**payload, **data})
    assert response.status_code == 200
    assert field in response.context["profile_form"].errors
    after = Partner.objects.get(pk=world["ada"].pk)
    assert (after.name, after.postback_url_template) == (before.name, before.postback_url_template)


def test_payout_details_from_the_brands_list_encrypted_and_masked(ada_client, world):
    page = ada_client.get(url("portal-profile"))
    assert "has not listed its payout methods" in page.content.decode()
    acme = world["acme"]
    acme.payout_methods = ["paypal", "wire"]
    acme.save()
    refused = ada_client.post(url("portal-profile"), {"form": "payout", "payout_method": "bitcoin"})
    assert "payout_method" in refused.context["payout_form"].errors
    saved = ada_client.post(
        url("portal-profile"),
        {
            "form": "payout",
            "payout_method": "wire",
            "payout_details": "DE89 3704 0044 0532 0130 00",
        },
    )
    assert saved.status_code == 302
    ada = Partner.objects.get(pk=world["ada"].pk)
    assert (ada.payout_method, ada.payout_details) == ("wire", "DE89 3704 0044 0532 0130 00")
    stored = Partner.objects.filter(pk=ada.pk).values_list("payout_details", flat=True)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT payout_details FROM partners_partner WHERE id = %s", [ada.pk])
        (raw,) = cursor.fetchone()
    assert "DE89" not in raw and list(stored) == ["DE89 3704 0044 0532 0130 00"]
    html = ada_client.get(url("portal-profile")).content.decode()
    assert "…3000" not in html and "…0 00" in html and "3704" not in html
    event = AuditEvent.objects.get(action="partner.payout_details_update")
    assert event.changes == {"payout_method": ["", "wire"], "payout_details": ["", "set"]}
    # An empty details field keeps what is saved (the form never shows it back).
    ada_client.post(url("portal-profile"), {"form": "payout", "payout_method": "paypal"})
    ada = Partner.objects.get(pk=ada.pk)
    assert (ada.payout_method, ada.payout_details) == ("paypal", "DE89 3704 0044 0532 0130 00")


def test_keys_page_creates_a_read_only_key_shown_once_and_revokes_it(ada_client, world):
    response = ada_client.post(url("portal-keys"), {"name": "My sheet"})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    plaintext = response.context["created"]["plaintext"]
    assert plaintext.startswith("trkp_") and plaintext in response.content.decode()
    key = PartnerApiKey.objects.get(partner=world["ada"])
    assert key.scope == "read" and key.created_by == f"partner:{world['ada'].pk}"
    assert plaintext not in ada_client.get(url("portal-keys")).content.decode()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert api.get("/api/partner/v1/me/").json()["partner_id"] == "ada"
    assert api.patch("/api/partner/v1/me/", {"name": "x"}, format="json").status_code == 403
    revoked = ada_client.post(url("portal-key-revoke", key.prefix))
    assert revoked.status_code == 302
    assert api.get("/api/partner/v1/me/").json()["error"]["code"] == "revoked_api_key"


def test_write_key_from_the_portal_can_update_the_profile(ada_client, world):
    response = ada_client.post(url("portal-keys"), {"name": "Agent", "write": "on"})
    plaintext = response.context["created"]["plaintext"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    answer = api.patch(
        "/api/partner/v1/me/",
        {"postback_url_template": "https://track.ada.example/pb?c={CLICK_ID}"},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["postback_url_template"] == "https://track.ada.example/pb?c={CLICK_ID}"


def test_another_partners_key_cannot_be_revoked_from_here(ada_client, world):
    from partners.api_keys import partner_api_key_create
    from tests.conftest import make_actor

    bobs, _ = partner_api_key_create(actor=make_actor(world["acme"]), partner=world["bob"])
    response = ada_client.post(url("portal-key-revoke", bobs.prefix))
    missing = ada_client.post(url("portal-key-revoke", "zzzzzzzzzz"))
    assert response.status_code == missing.status_code == 404
    assert response.content == missing.content.replace(b"zzzzzzzzzz", bobs.prefix.encode())
    bobs.refresh_from_db()
    assert bobs.revoked_at is None


def test_account_pages_need_the_sign_in_and_csrf(world):
    anonymous = Client()
    for name in ("portal-profile", "portal-keys"):
        assert anonymous.get(url(name))["Location"].endswith("/p/acme/login/")
    strict = Client()
    sign_in(strict, world["ada"])
    strict.handler.enforce_csrf_checks = True
    assert strict.post(url("portal-keys"), {"name": "x"}).status_code == 403
    assert not PartnerApiKey.objects.exists()


def test_payout_method_outside_the_brands_list_is_refused_on_the_api(ada_client, world):
    acme = world["acme"]
    acme.payout_methods = ["paypal"]
    acme.save()
    plaintext = ada_client.post(url("portal-keys"), {"write": "on"}).context["created"]["plaintext"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    path = "/api/partner/v1/me/payout-details/"
    refused = api.patch(path, {"payout_method": "wire"}, format="json")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "unknown_payout_method"
    for bad in ({"payout_details": "x" * 501}, {"payout_details": "a\x00b"}, {}, {"x": 1}):
        assert api.patch(path, bad, format="json").status_code == 422, bad
    done = api.patch(
        path, {"payout_method": "PayPal", "payout_details": "ada@pay.example"}, format="json"
    )
    assert done.status_code == 200
    assert (done.json()["payout_method"], done.json()["payout_details_hint"]) == (
        "paypal",
        "…mple",
    )
    assert "ada@pay" not in done.content.decode()


def _rates(world):
    """Acme (USD) has its own GBP rate and a current reference feed quoting JPY."""
    from decimal import Decimal

    from brands.fx_services import fx_rate_set
    from brands.models import FxReferenceRate
    from tests.conftest import make_actor

    fx_rate_set(
        actor=make_actor(world["acme"]),
        base="GBP",
        quote="USD",
        day=dt.date(2026, 1, 1),
        rate=Decimal("1.27"),
    )
    # The brand's today (America/New_York), as the lookup rule counts days.
    today = timezone.localdate(timezone.now(), zoneinfo.ZoneInfo("America/New_York"))
    FxReferenceRate.objects.create(currency="JPY", day=today, rate=Decimal("161.2"))
    # Too old to be used (REFERENCE_MAX_AGE_DAYS): not offered.
    FxReferenceRate.objects.create(
        currency="CHF", day=today - dt.timedelta(days=30), rate=Decimal("0.94")
    )


def test_payout_currency_is_chosen_from_what_the_brand_can_pay_in(ada_client, world):
    _rates(world)
    page = ada_client.get(url("portal-profile"))
    field = page.context["payout_form"].fields["payout_currency"]
    assert [code for code, _ in field.choices] == ["", "EUR", "GBP", "JPY", "USD"]
    # The form shows without payout methods too: the currency is the partner's to choose.
    assert "has not listed its payout methods" in page.content.decode()
    saved = ada_client.post(url("portal-profile"), {"form": "payout", "payout_currency": "GBP"})
    assert saved.status_code == 302
    ada = Partner.objects.get(pk=world["ada"].pk)
    assert ada.payout_currency == "GBP"
    event = AuditEvent.objects.get(action="partner.payout_details_update")
    assert event.changes == {"payout_currency": ["", "GBP"]}
    assert event.actor_label == f"partner:{ada.pk}"
    assert "paid in gbp" in ada_client.get(url("portal-profile")).content.decode().lower()
    for bad in ("CHF", "XXX", "gbp\x00", "EURO"):
        refused = ada_client.post(url("portal-profile"), {"form": "payout", "payout_currency": bad})
        assert "payout_currency" in refused.context["payout_form"].errors, bad
    assert Partner.objects.get(pk=ada.pk).payout_currency == "GBP"
    # Empty: back to each payout's own currency.
    ada_client.post(url("portal-profile"), {"form": "payout", "payout_currency": ""})
    assert Partner.objects.get(pk=ada.pk).payout_currency == ""


def test_the_service_refuses_a_currency_outside_the_list_whatever_the_form(ada_client, world):
    from django.test import RequestFactory

    from audit.actor import Actor
    from core.errors import ValidationError
    from partners.self_service import partner_payout_details_update

    _rates(world)
    ada = world["ada"]
    actor = Actor.for_partner_session(
        brand_id=ada.brand_id,
        brand_slug="acme",
        partner_id=ada.pk,
        email=ada.email,
        request=RequestFactory().get("/"),
    )
    with pytest.raises(ValidationError) as refused:
        partner_payout_details_update(actor=actor, payout_currency="CHF")
    assert refused.value.code == "unknown_payout_currency"
    done = partner_payout_details_update(actor=actor, payout_currency="jpy")
    assert done.payout_currency == "JPY"


def test_payout_currency_over_the_partner_api(ada_client, world):
    _rates(world)
    plaintext = ada_client.post(url("portal-keys"), {"write": "on"}).context["created"]["plaintext"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    me = api.get("/api/partner/v1/me/").json()
    assert (me["payout_currency"], me["payout_currencies"]) == ("", ["EUR", "GBP", "JPY", "USD"])
    path = "/api/partner/v1/me/payout-details/"
    refused = api.patch(path, {"payout_currency": "CHF"}, format="json")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "unknown_payout_currency"
    for bad in ({"payout_currency": 5}, {"payout_currency": "EURO"}, {"payout_currency": None}):
        assert api.patch(path, bad, format="json").status_code == 422, bad
    done = api.patch(path, {"payout_currency": "EUR"}, format="json")
    assert done.status_code == 200 and done.json()["payout_currency"] == "EUR"
