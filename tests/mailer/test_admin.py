"""The outbound-email admin: a read-only list per brand, with recipients and status, never a
body (it may carry a sign-in link)."""

from __future__ import annotations

import pytest
from django.test import Client

from mailer.models import EmailKind, OutboundEmail
from mailer.services import email_enqueue
from tests.test_admin import admin_url, change_url, logged_in, member

pytestmark = pytest.mark.django_db

LINK = "https://track.example/p/acme/login/link/TopSecretToken42/"


def queue(brand, to):
    return email_enqueue(
        brand_id=brand.pk,
        kind=EmailKind.PARTNER_SIGN_IN,
        to=to,
        subject="Your sign-in link",
        text=f"Sign in: {LINK}",
        html=f'<a href="{LINK}">Sign in</a>',
    )


def test_staff_see_their_brands_emails_with_recipients_and_never_a_body(
    client: Client, brand, other_brand
):
    mine = queue(brand, "ada@example.com")
    theirs = queue(other_brand, "bob@globex.example")
    staff = logged_in(client, member(brand))

    listing = staff.get(admin_url(OutboundEmail, "changelist"))
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "ada@example.com" in page and "pending" in page
    assert "bob@globex.example" not in page  # another brand's email is not there

    detail = staff.get(change_url(mine))
    assert detail.status_code == 200
    page = detail.content.decode()
    assert "ada@example.com" in page
    for secret in ("TopSecretToken42", mine.sealed_body[:40], "sealed_body"):
        assert secret not in page
    # Another brand's row is the same "not found" as a missing one: a redirect to the index.
    assert (
        staff.get(change_url(theirs)).status_code
        == staff.get(admin_url(OutboundEmail, "change", 999999)).status_code
    )


def test_nobody_adds_changes_or_deletes_an_email_in_the_admin(client: Client, brand):
    email = queue(brand, "ada@example.com")
    staff = logged_in(client, member(brand))
    assert staff.get(admin_url(OutboundEmail, "add")).status_code == 403
    assert staff.get(admin_url(OutboundEmail, "delete", email.pk)).status_code == 403
    staff.post(change_url(email), {"to": "eve@example.com", "subject": "changed"})
    email.refresh_from_db()
    assert (email.to, email.subject) == ("ada@example.com", "Your sign-in link")
