"""Partner sign-in by an emailed one-time link (partners/sign_in.py, partner_portal/
sign_in_views.py): the link signs in once, only before it expires, only with its secret;
asking is throttled per address and per IP; the answer never tells whether an address
belongs to a partner; the session is per brand and re-checked at every request."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from mailer.models import EmailKind, EmailStatus, OutboundEmail
from mailer.sending import emails_send_due
from partners.models import PartnerSignInLink, PartnerStatus
from partners.sign_in import SELECTOR_LENGTH
from tests.factories import BrandFactory, PartnerFactory
from tests.partner_portal.helpers import ask_for_link, link_path, links_in_outbox, sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme():
    return BrandFactory(slug="acme", name="Acme")


@pytest.fixture
def ada(acme):
    return PartnerFactory(brand=acme, slug="ada", name="Ada Media", email="ada@example.com")


def home(brand) -> str:
    return reverse("portal-home", args=[brand.slug])


def test_the_emailed_link_signs_the_partner_in_once(client, acme, ada):
    response = ask_for_link(client, "acme", "  ADA@example.com ")
    assert response.status_code == 302
    assert response["Location"] == reverse("portal-login-sent", args=["acme"])
    assert client.get(home(acme))["Location"] == reverse("portal-login", args=["acme"])
    (message,) = mail.outbox
    assert message.to == ["ada@example.com"]
    (token,) = links_in_outbox()

    # Opening the link spends nothing (mail scanners open links): it shows a button.
    page = client.get(link_path("acme", token))
    assert page.status_code == 200 and b"Sign in as Ada Media" in page.content
    assert PartnerSignInLink.objects.get().used_at is None

    response = client.post(link_path("acme", token))
    assert response.status_code == 302 and response["Location"] == home(acme)
    assert client.get(home(acme)).status_code == 200
    sent = AuditEvent.objects.get(action="partner.sign_in_link_send")
    assert (sent.actor_label, sent.channel, sent.target_id) == (
        "system:partner_sign_in",
        "portal",
        "ada",
    )
    signed = AuditEvent.objects.get(action="partner.sign_in")
    assert (signed.actor_label, signed.channel, signed.actor_kind) == (
        f"partner:{ada.pk}",
        "portal",
        "partner",
    )
    assert token not in str(sent.changes) + str(signed.changes)

    # Replayed, in this session or another: refused, and nobody new is signed in.
    other = Client()
    replay = other.post(link_path("acme", token))
    assert replay.status_code == 400 and b"not valid" in replay.content
    assert other.get(home(acme)).status_code == 302


def test_only_a_hash_of_the_secret_is_stored(client, acme, ada):
    ask_for_link(client, "acme", ada.email)
    (token,) = links_in_outbox()
    row = PartnerSignInLink.objects.get()
    verifier = token[SELECTOR_LENGTH:]
    assert row.selector == token[:SELECTOR_LENGTH]
    assert len(row.verifier_sha256) == 64 and verifier not in row.verifier_sha256
    assert len(verifier) == 43  # ~256 bits


def test_the_request_queues_the_email_and_the_worker_sends_it(client, acme, ada):
    response = client.post(reverse("portal-login", args=["acme"]), {"email": ada.email})
    assert response.status_code == 302
    assert mail.outbox == []  # the request talks to no SMTP server
    queued = OutboundEmail.objects.get()
    link = PartnerSignInLink.objects.get()
    assert (queued.brand_id, queued.kind, queued.to, queued.status) == (
        acme.pk,
        EmailKind.PARTNER_SIGN_IN,
        "ada@example.com",
        EmailStatus.PENDING,
    )
    assert queued.expires_at == link.expires_at  # never sent after the link stops working
    stored_before = outbox_table()

    assert emails_send_due() == 1
    (token,) = links_in_outbox()
    # The secret was never in the outbox row in plaintext, and is not there at all now.
    verifier = token[SELECTOR_LENGTH:]
    assert verifier not in stored_before
    assert verifier not in outbox_table()
    queued.refresh_from_db()
    assert (queued.status, queued.sealed_body) == (EmailStatus.SENT, "")


def outbox_table() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM mailer_outboundemail")
        return str(cursor.fetchall())


def test_a_guessed_or_malformed_link_signs_nobody_in(client, acme, ada):
    ask_for_link(client, "acme", ada.email)
    (token,) = links_in_outbox()
    selector, verifier = token[:SELECTOR_LENGTH], token[SELECTOR_LENGTH:]
    flipped = verifier[:-1] + ("a" if verifier[-1] != "a" else "b")
    for guess in (selector + flipped, "A" * len(token), token[:-1], token + "x", "short"):
        assert client.post(link_path("acme", guess)).status_code == 400, guess
        assert client.get(home(acme)).status_code == 302
    assert PartnerSignInLink.objects.get().used_at is None  # the real one still works
    assert client.post(link_path("acme", token)).status_code == 302


def test_a_link_expires_after_the_configured_minutes(client, acme, ada, settings):
    assert settings.TRCKER_PORTAL_LINK_MINUTES == 15
    ask_for_link(client, "acme", ada.email)
    (token,) = links_in_outbox()
    later = timezone.now() + dt.timedelta(minutes=15, seconds=1)
    with time_machine.travel(later, tick=False):
        assert client.get(link_path("acme", token)).status_code == 400
        assert client.post(link_path("acme", token)).status_code == 400
    assert client.get(home(acme)).status_code == 302


def test_a_link_works_only_in_its_own_brands_portal(client, acme, ada):
    BrandFactory(slug="globex")
    ask_for_link(client, "acme", ada.email)
    (token,) = links_in_outbox()
    assert client.post(link_path("globex", token)).status_code == 400
    assert client.post(link_path("acme", token)).status_code == 302


def test_a_link_for_an_address_the_partner_no_longer_has_is_dead(client, acme, ada):
    ask_for_link(client, "acme", ada.email)
    (token,) = links_in_outbox()
    ada.email = "new@example.com"
    ada.save()
    assert client.post(link_path("acme", token)).status_code == 400


def _answer(client, email: str, ip: str) -> tuple[int, str, bytes]:
    response = ask_for_link(client, "acme", email, ip=ip)
    follow = client.get(response["Location"])
    return response.status_code, response["Location"], follow.content


def test_the_answer_is_the_same_whoever_asks(client, acme, ada):
    PartnerFactory(brand=acme, slug="applicant", email="new@example.com", status="pending")
    PartnerFactory(brand=acme, slug="gone", email="gone@example.com", status="rejected")
    PartnerFactory(brand=BrandFactory(slug="globex"), slug="elsewhere", email="x@example.com")
    answers = {
        email: _answer(client, email, ip=f"198.51.100.{n}")
        for n, email in enumerate(
            [
                "ada@example.com",
                "nobody@example.com",
                "new@example.com",
                "gone@example.com",
                "x@example.com",
            ],
            start=10,
        )
    }
    assert len(set(answers.values())) == 1, answers
    assert [message.to for message in mail.outbox] == [["ada@example.com"]]


def test_asking_is_throttled_per_address_without_saying_so(client, acme, ada, settings):
    settings.TRCKER_PORTAL_LINKS_PER_EMAIL = "2/h"
    answers = {_answer(client, ada.email, ip=f"198.51.100.{n}") for n in range(1, 5)}
    assert len(answers) == 1  # the same page every time
    assert len(mail.outbox) == 2
    # Another address, and the same address at another brand, have their own budgets.
    PartnerFactory(brand=acme, slug="bob", email="bob@example.com")
    ask_for_link(client, "acme", "bob@example.com", ip="198.51.100.99")
    assert len(mail.outbox) == 3


def test_asking_is_throttled_per_ip(client, acme, ada, settings):
    settings.TRCKER_PORTAL_LINKS_PER_IP = "3/h"
    for n in range(3):
        assert ask_for_link(client, "acme", f"someone{n}@example.com").status_code == 302
    refused = ask_for_link(client, "acme", ada.email)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert mail.outbox == []
    assert ask_for_link(client, "acme", ada.email, ip="203.0.113.50").status_code == 302
    assert len(mail.outbox) == 1


def test_wrong_links_count_as_failed_logins_of_the_ip(client, acme, ada, settings):
    settings.TRCKER_LOGIN_FAILURES_PER_IP = "3/15m"
    ask_for_link(client, "acme", ada.email)
    (token,) = links_in_outbox()
    for _ in range(3):
        assert client.post(link_path("acme", "B" * len(token))).status_code == 400
    locked = client.post(link_path("acme", token))
    assert locked.status_code == 429 and locked["Retry-After"]
    assert PartnerSignInLink.objects.get().used_at is None


def test_a_bad_address_is_a_form_error_and_sends_nothing(client, acme):
    for email in ("", "not-an-address", "a" * 300 + "@example.com"):
        response = ask_for_link(client, "acme", email)
        assert response.status_code == 400 and b"errorlist" in response.content
    assert mail.outbox == []


def test_the_login_form_needs_its_csrf_token(acme, ada):
    strict = Client(enforce_csrf_checks=True)
    assert ask_for_link(strict, "acme", ada.email).status_code == 403
    page = strict.get(reverse("portal-login", args=["acme"]))
    token = page.cookies["csrftoken"].value
    response = strict.post(
        reverse("portal-login", args=["acme"]),
        {"email": ada.email, "csrfmiddlewaretoken": token},
    )
    emails_send_due()
    assert response.status_code == 302 and len(mail.outbox) == 1


def test_an_unknown_brand_is_not_found(client):
    assert client.get(reverse("portal-login", args=["nope"])).status_code == 404
    assert ask_for_link(client, "nope", "a@example.com").status_code == 404
    assert client.get("/p/nope/").status_code == 404


def test_sign_out_ends_the_session_for_that_brand_only(client, acme, ada):
    globex = BrandFactory(slug="globex")
    ada_at_globex = PartnerFactory(brand=globex, slug="ada-g", email=ada.email)
    sign_in(client, ada)
    sign_in(client, ada_at_globex)
    assert b"Also signed in to" in client.get(home(acme)).content
    assert client.get(reverse("portal-logout", args=["acme"])).status_code == 405
    assert client.post(reverse("portal-logout", args=["acme"])).status_code == 302
    assert client.get(home(acme)).status_code == 302
    assert client.get(home(globex)).status_code == 200


def test_a_session_ends_when_the_partner_may_no_longer_sign_in(client, acme, ada):
    sign_in(client, ada)
    ada.status = PartnerStatus.PAUSED
    ada.save()
    assert client.get(home(acme)).status_code == 200  # paused partners still read their data
    ada.status = PartnerStatus.REJECTED
    ada.save()
    assert client.get(home(acme)).status_code == 302
    ada.status = PartnerStatus.ACTIVE
    ada.email = "elsewhere@example.com"
    ada.save()
    assert client.get(home(acme)).status_code == 302


def test_sign_in_changes_the_session_key(client, acme, ada):
    client.get(reverse("portal-login", args=["acme"]))
    client.session.save()
    before = client.session.session_key
    sign_in(client, ada)
    assert client.session.session_key != before


SIGN_IN_ROUTES = {
    "portal-login",
    "portal-login-sent",
    "portal-link",
    "portal-logout",
    # The brand's OpenID provider (tests/oauth/test_partner_oidc.py): signing in, not pages.
    "portal-oidc-start",
    "portal-oidc-callback",
    "portal-oidc-choose",
}


def _portal_routes() -> list[tuple[str, list[str]]]:
    from partner_portal.urls import urlpatterns

    routes = []
    for pattern in urlpatterns:
        if pattern.name in SIGN_IN_ROUTES:
            continue
        extra = [name for name in pattern.pattern.converters if name != "brand"]
        routes.append((pattern.name, ["x" * 8 for _ in extra]))
    return routes


def test_every_portal_page_needs_this_brands_sign_in(client, acme, ada):
    # A route added without portal_page would answer here: every one must send a visitor,
    # and a partner signed in to another brand only, to this brand's login page.
    routes = _portal_routes()
    assert len(routes) >= 8
    globex = BrandFactory(slug="globex")
    PartnerFactory(brand=globex, slug="ada-g", email=ada.email)
    for signed_in_elsewhere in (False, True):
        if signed_in_elsewhere:
            sign_in(client, globex.partners.get())
        for name, args in routes:
            response = client.get(reverse(name, args=["acme", *args]))
            assert response.status_code == 302, name
            assert response["Location"] == reverse("portal-login", args=["acme"]), name
