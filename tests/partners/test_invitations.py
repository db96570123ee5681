"""Partner invitations after they are sent (issue 16): the brand lists them with their status
(pending, accepted, expired, revoked), resends one (a new link; the old one dies; throttled)
and revokes one — over REST, MCP and the admin, audited, tenant-scoped. A dry run of
invite_partner or a resend checks the throttle without spending it."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail
from django.test import TestCase
from django.urls import reverse

from audit.models import AuditEvent
from brands.models import StaffRole
from mailer.sending import emails_send_due
from partners.invitations import invitation_resend, invitation_revoke, partner_invite
from partners.models import Partner, PartnerInvitation, PartnerStatus
from tests.conftest import client_with_key, issue_key, make_actor
from tests.factories import PartnerFactory, StaffMembershipFactory
from tests.mcp_gateway.helpers import Mcp, structured
from tests.partners.test_brand_controls import apply_through, invite, invite_link
from tests.test_admin_service_actions import post_action

LIST = "/api/v1/partners/invitations/"


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_resend_kills_the_old_link_and_the_new_one_approves(brand, client):
    invitation = invite(brand)
    old_url, old_token = invite_link()
    with TestCase.captureOnCommitCallbacks(execute=True):
        resent = invitation_resend(actor=make_actor(brand), invitation=invitation)
    emails_send_due()
    new_url, new_token = invite_link()
    assert new_token != old_token and resent.sent_count == 2
    assert resent.invitation_id == invitation.invitation_id  # the same invitation
    assert resent.expires_at >= invitation.expires_at
    dead = client.get(_path(old_url))
    assert dead.context["invite"] == ""  # the old link opens a plain application
    event = AuditEvent.objects.get(action="partner.invite_resend")
    assert event.target_id == invitation.invitation_id
    assert event.changes["sent_count"] == [1, 2] and new_token not in str(event.changes)
    # Through the dead link: pending, not approved.
    apply_through(client, old_url, email="new@creator.example")
    assert Partner.objects.get().status == PartnerStatus.PENDING
    Partner.objects.all().delete()
    apply_through(client, new_url)
    assert Partner.objects.get().status == PartnerStatus.ACTIVE


def test_a_revoked_link_approves_nothing_and_cannot_be_resent(brand, client):
    invitation = invite(brand)
    url, _ = invite_link()
    invitation_revoke(actor=make_actor(brand), invitation=invitation)
    again = invitation_revoke(actor=make_actor(brand), invitation=invitation)  # no-op
    assert again.revoked_at is not None
    assert AuditEvent.objects.filter(action="partner.invite_revoke").count() == 1
    apply_through(client, url, email="new@creator.example")
    assert Partner.objects.get().status == PartnerStatus.PENDING
    api = client_with_key(issue_key(brand))
    refused = api.post(f"{LIST}{invitation.invitation_id}/resend/", {}, format="json")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "invitation_revoked"


def test_an_accepted_invitation_is_neither_resent_nor_revoked(brand, client):
    invitation = invite(brand)
    url, _ = invite_link()
    apply_through(client, url)
    api = client_with_key(issue_key(brand))
    for verb in ("resend", "revoke"):
        answer = api.post(f"{LIST}{invitation.invitation_id}/{verb}/", {}, format="json")
        assert answer.status_code == 409, answer.content
        assert answer.json()["error"]["code"] == "invitation_accepted"


def test_the_list_says_each_status_and_filters_by_it(brand, client):
    pending = invite(brand, email="pending@example.com")
    expired = invite(brand, email="expired@example.com")
    revoked = invite(brand, email="revoked@example.com")
    accepted = invite(brand, email="accepted@example.com")
    mail.outbox.clear()
    PartnerInvitation.objects.filter(pk=expired.pk).update(expires_at="2001-01-01T00:00:00Z")
    invitation_revoke(actor=make_actor(brand), invitation=revoked)
    partner = PartnerFactory(brand=brand, email="accepted@example.com")
    PartnerInvitation.objects.filter(pk=accepted.pk).update(
        accepted_at="2026-01-01T00:00:00Z", partner=partner
    )
    api = client_with_key(issue_key(brand))
    rows = api.get(LIST).json()["results"]
    assert [(row["email"], row["status"]) for row in rows] == [
        ("accepted@example.com", "accepted"),
        ("revoked@example.com", "revoked"),
        ("expired@example.com", "expired"),
        ("pending@example.com", "pending"),
    ]
    assert rows[0]["partner_id"] == partner.slug and rows[3]["partner_id"] is None
    assert all("selector" not in row and "token" not in str(row) for row in rows)
    for status, invitation in (
        ("pending", pending),
        ("expired", expired),
        ("revoked", revoked),
        ("accepted", accepted),
    ):
        only = api.get(LIST, {"status": status}).json()["results"]
        assert [row["invitation_id"] for row in only] == [invitation.invitation_id], status
    by_email = api.get(LIST, {"email": "Expired@Example.com"}).json()["results"]
    assert [row["status"] for row in by_email] == ["expired"]
    assert api.get(LIST, {"status": "sent"}).status_code == 422
    # Keyset pages: two, then the rest, nothing twice.
    first = api.get(LIST, {"limit": 2}).json()
    cursor = parse_qs(urlsplit(first["next"]).query)["cursor"][0]
    second = api.get(LIST, {"limit": 2, "cursor": cursor}).json()
    ids = [row["invitation_id"] for row in first["results"] + second["results"]]
    assert ids == [row["invitation_id"] for row in rows]
    # An expired invitation can be resent: pending again, with a new link.
    resent = api.post(f"{LIST}{expired.invitation_id}/resend/", {}, format="json")
    assert resent.status_code == 200 and resent.json()["status"] == "pending"


def test_another_brands_invitations_are_not_found(brand, other_brand):
    theirs = partner_invite(actor=make_actor(other_brand), email="theirs@example.com")
    api = client_with_key(issue_key(brand))
    assert api.get(LIST).json()["results"] == []
    for verb in ("resend", "revoke"):
        answer = api.post(f"{LIST}{theirs.invitation_id}/{verb}/", {}, format="json")
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
    mcp = Mcp(issue_key(brand))
    result = mcp.call("revoke_partner_invitation", {"invitation_id": theirs.invitation_id})
    assert result["isError"] is True
    theirs.refresh_from_db()
    assert theirs.revoked_at is None and theirs.sent_count == 1


def test_a_read_key_lists_but_cannot_resend_or_revoke(brand):
    invitation = partner_invite(actor=make_actor(brand), email="r@example.com")
    read = client_with_key(issue_key(brand, read_only=True))
    assert read.get(LIST).status_code == 200
    for verb in ("resend", "revoke"):
        answer = read.post(f"{LIST}{invitation.invitation_id}/{verb}/", {}, format="json")
        assert answer.status_code == 403


def test_a_dry_run_of_invite_partner_does_not_spend_the_throttle(brand):
    """Rehearsals are free: four dry runs for one address (its budget is 3 a day), then three
    real invitations all go through; the fourth real one is refused."""
    mcp = Mcp(issue_key(brand))
    for _ in range(4):
        rehearsal = mcp.call("invite_partner", {"email": "dry@example.com", "dry_run": True})
        assert rehearsal["isError"] is False, rehearsal
        assert structured(rehearsal)["dry_run"] is True
    assert not PartnerInvitation.objects.exists()
    for _ in range(3):
        assert mcp.call("invite_partner", {"email": "dry@example.com"})["isError"] is False
    refused = mcp.call("invite_partner", {"email": "dry@example.com"})
    assert refused["isError"] is True and "Too many invitations" in str(refused)
    # A dry run still says what the real call would meet: refused, and spending nothing.
    api = client_with_key(issue_key(brand))
    dry = api.post(LIST, {"email": "dry@example.com", "dry_run": True}, format="json")
    assert dry.status_code == 429 and dry.json()["error"]["code"] == "rate_limited"


def test_a_dry_run_resend_does_not_spend_the_throttle_either(brand, settings):
    settings.TRCKER_PARTNER_INVITES_RATE = "2/d"
    invitation = partner_invite(actor=make_actor(brand), email="again@example.com")
    api = client_with_key(issue_key(brand))
    for _ in range(3):
        dry = api.post(
            f"{LIST}{invitation.invitation_id}/resend/", {"dry_run": True}, format="json"
        )
        assert dry.status_code == 200 and dry.json()["dry_run"] is True
    invitation.refresh_from_db()
    assert invitation.sent_count == 1
    done = api.post(f"{LIST}{invitation.invitation_id}/resend/", {}, format="json")
    assert done.status_code == 200 and done.json()["sent_count"] == 2
    throttled = api.post(f"{LIST}{invitation.invitation_id}/resend/", {}, format="json")
    assert throttled.status_code == 429  # the brand's budget of 2: the invite and the resend


def test_resend_is_refused_once_the_address_became_a_partner(brand):
    invitation = partner_invite(actor=make_actor(brand), email="joined@example.com")
    PartnerFactory(brand=brand, email="Joined@Example.com")
    api = client_with_key(issue_key(brand))
    answer = api.post(f"{LIST}{invitation.invitation_id}/resend/", {}, format="json")
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "partner_email_taken"


@pytest.mark.parametrize(
    "invitation_id", ["inv_", "inv_" + "a" * 40, "conv_abc", "inv_a\x00b", "inv_%2e%2e", "1"]
)
def test_malformed_invitation_ids_are_refused(brand, invitation_id):
    api = client_with_key(issue_key(brand))
    answer = api.post(f"{LIST}{invitation_id}/revoke/", {}, format="json")
    assert answer.status_code in (400, 404, 422)
    assert answer.json()["error"]["code"]


def test_the_admin_lists_resends_and_revokes_through_the_services(client, brand):
    owner = StaffMembershipFactory(brand=brand, role=StaffRole.OWNER).user
    kept = partner_invite(actor=make_actor(brand), email="kept@example.com")
    dropped = partner_invite(actor=make_actor(brand), email="dropped@example.com")
    client.force_login(owner)
    page = client.get(reverse("admin:partners_partnerinvitation_changelist"))
    assert page.status_code == 200 and "kept@example.com" in page.content.decode()
    # Messages pile up until a page shows them: each action's is the last.
    shown = post_action(client, PartnerInvitation, "resend_invitations", [kept])
    assert shown[-1] == "Resent 1 invitation(s)."
    shown = post_action(client, PartnerInvitation, "revoke_invitations", [dropped])
    assert shown[-1] == "Revoked 1 invitation(s)."
    kept.refresh_from_db()
    dropped.refresh_from_db()
    assert (kept.sent_count, kept.status, dropped.status) == (2, "pending", "revoked")
    event = AuditEvent.objects.get(action="partner.invite_revoke")
    assert (event.actor_label, event.channel) == (f"user:{owner.pk}", "admin")
    # A revoked one cannot be resent: the admin names it and says why.
    shown = post_action(client, PartnerInvitation, "resend_invitations", [dropped])
    assert "revoked" in shown[-1] and "dropped@example.com" in shown[-1]
