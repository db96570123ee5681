"""What the brand controls on the partner side (docs/partners.md): whether reasons are shown,
the closed list of payout methods, and invitations by email (invite → email → apply through
the link → approved at once; once, for the invited address, throttled, audited)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.test import Client, TestCase
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEvent
from brands.models import Brand
from brands.services import brand_program_settings_update, payout_method_check
from core.errors import ConflictError, RateLimitedError, ValidationError
from mailer.sending import emails_send_due
from partners.invitations import partner_invite
from partners.models import Partner, PartnerInvitation, PartnerStatus
from tests.conftest import client_with_key, issue_key, make_actor
from tests.factories import BrandFactory, PartnerFactory
from tests.partner_portal.helpers import sign_in
from tests.partners.partner_world import World, build_partner_world

pytestmark = pytest.mark.django_db
INVITE = re.compile(r"https?://[^\s\"<>]+/p/([^/\s]+)/apply\?invite=([0-9A-Za-z]+)")


# --- reasons ----------------------------------------------------------------------------------


@pytest.fixture
def world() -> World:
    return build_partner_world()


def partner_api(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_hidden_reasons_show_only_the_status_on_api_and_portal(world, client):
    _, held, rejected, _ = world.ann_conversions
    brand_program_settings_update(actor=make_actor(world.brand), partner_reasons_visible=False)
    rows = partner_api(world.keys["ann"]).get("/api/partner/v1/conversions/").json()["results"]
    reasons = {row["conversion_id"]: row["reason"] for row in rows}
    assert reasons[held.id] == "Held for review by the brand."
    assert reasons[rejected.id] == "Rejected by the brand."
    one = partner_api(world.keys["ann"]).get(f"/api/partner/v1/conversions/{rejected.id}/")
    assert one.json()["reason"] == "Rejected by the brand."
    sign_in(client, world.ann)
    html = client.get(reverse("portal-conversions", args=["acme"])).content.decode()
    assert "duplicate order" not in html and "risk signals" not in html
    detail = client.get(reverse("portal-conversion", args=["acme", rejected.id]))
    assert "duplicate order" not in detail.content.decode()
    # Shown again when the brand turns them back on (the planted-red check: the default).
    brand_program_settings_update(actor=make_actor(world.brand), partner_reasons_visible=True)
    one = partner_api(world.keys["ann"]).get(f"/api/partner/v1/conversions/{rejected.id}/")
    assert one.json()["reason"] == "Rejected by the brand: duplicate order"


# --- payout methods ---------------------------------------------------------------------------


def test_payout_methods_are_a_closed_normalised_list(brand):
    actor = make_actor(brand)
    updated = brand_program_settings_update(
        actor=actor, payout_methods=[" PayPal", "wire", "paypal", "sepa"]
    )
    assert updated.payout_methods == ["paypal", "wire", "sepa"]
    assert payout_method_check(updated, "PAYPAL") == "paypal"
    with pytest.raises(ValidationError) as refused:
        payout_method_check(updated, "bitcoin")
    assert refused.value.code == "unknown_payout_method"
    for bad in (["pay pal"], ["x" * 40], ["\x00"], "paypal", [""], ["a"] * 21):
        with pytest.raises(ValidationError):
            brand_program_settings_update(actor=actor, payout_methods=bad)
    event = AuditEvent.objects.filter(action="brand.program_settings").latest("pk")
    assert event.changes["payout_methods"] == [[], ["paypal", "wire", "sepa"]]


def test_no_list_means_any_method(brand):
    assert payout_method_check(Brand.objects.get(pk=brand.pk), " Wire ") == "Wire"


# --- invitations ------------------------------------------------------------------------------


def invite(brand, email="new@creator.example", name="Nia"):
    with TestCase.captureOnCommitCallbacks(execute=True):
        invitation = partner_invite(actor=make_actor(brand), email=email, name=name)
    emails_send_due()  # the worker's step: the invitation only queued its email
    return invitation


def invite_link() -> tuple[str, str]:
    (message,) = mail.outbox
    found = INVITE.search(message.body)
    assert found, message.body
    html = "".join(content for content, _ in message.alternatives)
    assert found.group(0) in html
    mail.outbox.clear()
    return found.group(0), found.group(2)


def apply_through(client: Client, url: str, **data: str):
    parts = urlsplit(url)
    page = client.get(f"{parts.path}?{parts.query}")
    form = page.context["form"]
    token = page.context["invite"]
    payload = {
        "name": form.initial.get("name") or "Nia",
        "email": form.initial.get("email", ""),
        "website": "",
        "note": "",
        "partner_id": "",
        "invite": token,
        **data,
    }
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(parts.path, payload, REMOTE_ADDR="198.51.100.9")
    emails_send_due()  # the worker's step (welcome emails of an approval)
    return response


def test_an_invited_address_applying_through_the_link_is_approved_at_once(brand, client):
    invitation = invite(brand)
    url, token = invite_link()
    assert url.startswith("http") and "/p/acme/apply?invite=" in url
    assert invitation.verifier_sha256 and token[12:] not in invitation.verifier_sha256
    response = apply_through(client, url)
    assert response.status_code == 302 and response["Location"].endswith("?invited=1")
    partner = Partner.objects.get(brand=brand, email="new@creator.example")
    assert partner.status == PartnerStatus.ACTIVE
    invitation.refresh_from_db()
    assert invitation.accepted_at is not None and invitation.partner == partner
    subjects = sorted(message.subject for message in mail.outbox)
    assert any("Welcome" in subject for subject in subjects)
    approve = AuditEvent.objects.get(action="partner.approve")
    assert approve.actor_label == "system:invitation"
    sent = AuditEvent.objects.get(action="partner.invite")
    assert sent.changes["email"] == [None, "new@creator.example"]
    assert token not in str(sent.changes)
    thanks = client.get(response["Location"])
    assert reverse("portal-login", args=["acme"]) in thanks.content.decode()


def test_another_address_or_a_spent_link_makes_a_pending_application(brand, client):
    invite(brand)
    url, _ = invite_link()
    apply_through(client, url, email="someone.else@example.com", name="Other")
    assert Partner.objects.get(email="someone.else@example.com").status == PartnerStatus.PENDING
    assert PartnerInvitation.objects.get().accepted_at is None
    apply_through(client, url)  # the invited address: approved, and the link is spent
    apply_through(client, url, email="third@example.com", name="Third")
    assert Partner.objects.get(email="third@example.com").status == PartnerStatus.PENDING


@pytest.mark.parametrize(
    "token",
    ["", "x", "A" * 55, "A" * 54 + "\x00", "\u00e9" * 55, "1" * 5000],
)
def test_forged_tokens_approve_nothing(brand, client, token):
    invite(brand)
    mail.outbox.clear()
    response = client.post(
        "/p/acme/apply",
        {"name": "Nia", "email": "new@creator.example", "invite": token},
        REMOTE_ADDR="198.51.100.9",
    )
    assert response.status_code in (302, 400)
    assert not Partner.objects.filter(status=PartnerStatus.ACTIVE).exists()


def test_an_expired_invitation_is_dead(brand, client):
    invite(brand)
    url, _ = invite_link()
    PartnerInvitation.objects.update(expires_at="2001-01-01T00:00:00Z")
    page = client.get(urlsplit(url).path + "?" + urlsplit(url).query)
    assert page.context["invite"] == "" and page.context["form"].initial == {}
    apply_through(client, url, email="new@creator.example")
    assert Partner.objects.get().status == PartnerStatus.PENDING


def test_existing_partners_are_not_invited_and_invitations_are_throttled(brand, settings):
    PartnerFactory(brand=brand, email="Known@Example.com")
    with pytest.raises(ConflictError) as taken:
        partner_invite(actor=make_actor(brand), email="known@example.com")
    assert taken.value.code == "partner_email_taken"
    for _ in range(3):
        invite(brand, email="twice@example.com")
    with pytest.raises(RateLimitedError):
        invite(brand, email="twice@example.com")
    # The brand's budget counted all four (the refused one too): a@ is its fifth.
    settings.TRCKER_PARTNER_INVITES_RATE = "5/d"
    invite(brand, email="a@example.com")
    with pytest.raises(RateLimitedError):
        invite(brand, email="b@example.com")


def test_invite_over_rest_and_its_hostile_inputs(brand, other_brand):
    client = client_with_key(issue_key(brand))
    with TestCase.captureOnCommitCallbacks(execute=True):
        made = client.post(
            "/api/v1/partners/invitations/", {"email": "Hi@Creator.example"}, format="json"
        )
    assert made.status_code == 201, made.content
    assert made.json()["email"] == "hi@creator.example" and "selector" not in made.json()
    dry = client.post(
        "/api/v1/partners/invitations/",
        {"email": "dry@creator.example", "dry_run": True},
        format="json",
    )
    assert dry.status_code in (200, 201) and dry.json()["dry_run"] is True
    assert not PartnerInvitation.objects.filter(email="dry@creator.example").exists()
    for bad in (
        {"email": "not-an-address"},
        {"email": "a\x00b@example.com"},
        {"email": "x" * 300 + "@example.com"},
        {"email": ["a@example.com"]},
        {"email": "ok@example.com", "name": "n" * 500},
        {"email": "ok@example.com", "brand": other_brand.slug},
    ):
        response = client.post("/api/v1/partners/invitations/", bad, format="json")
        assert response.status_code == 422, (bad, response.content)
    assert PartnerInvitation.objects.filter(brand=other_brand).count() == 0
    assert PartnerInvitation.objects.count() == 1


def test_a_brand_cannot_reach_another_brands_invitation(brand, client):
    BrandFactory(slug="globex")
    invite(brand)
    _, token = invite_link()
    page = client.get(f"/p/globex/apply?invite={token}")
    assert page.context["invite"] == "" and page.context["form"].initial == {}


def test_marking_a_payout_paid_takes_only_a_listed_method(world):
    from conversions.models import Payout
    from conversions.payouts import payout_mark_paid

    actor = make_actor(world.brand)
    brand_program_settings_update(actor=actor, payout_methods=["paypal", "sepa"])
    payout = Payout.objects.get(pk=world.ann_payout.pk)
    with pytest.raises(ValidationError) as refused:
        payout_mark_paid(actor=actor, payout=payout, method="bitcoin")
    assert refused.value.code == "unknown_payout_method"
    assert Payout.objects.get(pk=payout.pk).status == "pending"
    paid = payout_mark_paid(actor=actor, payout=payout, method="SEPA", reference="R-1")
    assert (paid.status, paid.method) == ("paid", "sepa")
    client = client_with_key(issue_key(world.brand))
    answer = client.post(
        f"/api/v1/payouts/{world.bob_payout.id}/mark-paid/", {"method": "cash"}, format="json"
    )
    assert answer.status_code == 422, answer.content
    assert answer.json()["error"]["code"] == "unknown_payout_method"
