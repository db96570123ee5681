"""Emails of the partner lifecycle, through Django's in-memory backend (mail.outbox): the
welcome and tracking-setup emails on approval (text + HTML, links for every offer the partner
may promote, their coupons), queued with the approval and sent by the worker's step
(mailer.sending), so a failing SMTP server never blocks the approval."""

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.db import transaction

from audit.models import AuditEvent
from mailer.models import EmailKind, EmailStatus, OutboundEmail
from mailer.sending import emails_send_due
from offers.models import OfferStatus
from partners.models import CouponStatus, Partner, PartnerStatus
from partners.services import partner_approve
from tests.factories import CouponFactory, OfferFactory, PartnerFactory

PUBLIC_URL = "https://track.acme.example"


@pytest.fixture
def applicant(brand, settings):
    settings.TRCKER_PUBLIC_URL = PUBLIC_URL
    return PartnerFactory(
        brand=brand,
        slug="newbie",
        name="Newbie Media",
        email="hi@newbie.example",
        status=PartnerStatus.PENDING,
        approved_at=None,
    )


@pytest.fixture
def catalogue(brand, other_brand, applicant):
    """Offers and coupons around the applicant: what they may see and what they may not."""
    someone_else = PartnerFactory(brand=brand, slug="someone-else")
    public = OfferFactory(brand=brand, slug="spring-sale", name="Spring Sale")
    allowed = OfferFactory(brand=brand, slug="vip", name="VIP Club", is_private=True)
    allowed.allowed_partners.add(applicant, someone_else)
    not_allowed = OfferFactory(brand=brand, slug="secret", name="Secret Deal", is_private=True)
    not_allowed.allowed_partners.add(someone_else)
    paused = OfferFactory(brand=brand, slug="paused", name="Paused Offer")
    paused.status = OfferStatus.PAUSED
    paused.save()
    archived = OfferFactory(brand=brand, slug="old", name="Old Offer", status=OfferStatus.ARCHIVED)
    foreign = OfferFactory(brand=other_brand, slug="globex-offer", name="Globex Offer")
    CouponFactory(brand=brand, partner=applicant, code="NEWBIE10", offer=public, max_uses=50)
    CouponFactory(brand=brand, partner=applicant, code="NEWBIEALL")
    CouponFactory(brand=brand, partner=applicant, code="NEWBIEOFF", status=CouponStatus.DISABLED)
    CouponFactory(brand=brand, partner=applicant, code="NEWBIEOLD", offer=archived)
    CouponFactory(brand=brand, partner=someone_else, code="OTHER5")
    return {
        "public": public,
        "allowed": allowed,
        "not_allowed": not_allowed,
        "paused": paused,
        "archived": archived,
        "foreign": foreign,
    }


def approve(actor, partner):
    """The approval, then the worker's step that sends what it queued."""
    approved = partner_approve(actor=actor, partner=partner)
    emails_send_due()
    return approved


class RollbackError(Exception):
    pass


def approve_then_fail(actor, partner):
    """An approval inside a larger write that fails after it: everything rolls back."""
    with transaction.atomic():
        partner_approve(actor=actor, partner=partner)
        raise RollbackError


def link(offer_slug, partner_slug="newbie", brand_slug="acme"):
    return f"{PUBLIC_URL}/c/{brand_slug}/{offer_slug}/{partner_slug}"


def html_of(message):
    assert isinstance(message, EmailMultiAlternatives)
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return html


def test_approval_sends_welcome_and_tracking_setup_with_html_parts(actor, applicant, catalogue):
    approve(actor, applicant)
    welcome, setup = mail.outbox
    assert [m.to for m in mail.outbox] == [["hi@newbie.example"]] * 2
    assert welcome.subject == "Welcome to Brand acme's partner program"
    assert setup.subject == "Your Brand acme tracking links"
    assert "Your partner id is: newbie" in welcome.body
    assert "<code" in html_of(welcome) and "newbie</code>" in html_of(welcome)
    assert "Newbie Media" in html_of(welcome)


def test_tracking_setup_lists_links_for_public_and_allowed_private_offers_only(
    actor, applicant, catalogue
):
    approve(actor, applicant)
    setup = mail.outbox[1]
    html = html_of(setup)
    for offer in ("spring-sale", "vip"):
        assert f"- {catalogue['public' if offer == 'spring-sale' else 'allowed'].name}: " in (
            setup.body
        )
        assert link(offer) in setup.body
        assert f'href="{link(offer)}"' in html
    for hidden in ("secret", "paused", "old", "globex-offer"):
        assert f"/{hidden}/" not in setup.body
        assert f"/{hidden}/" not in html
    assert "Secret Deal" not in setup.body and "Globex Offer" not in setup.body


def test_tracking_setup_lists_active_coupons_with_offer_and_max_uses(actor, applicant, catalogue):
    approve(actor, applicant)
    setup = mail.outbox[1]
    html = html_of(setup)
    assert "- NEWBIE10: Spring Sale, max 50 uses" in setup.body
    assert "- NEWBIEALL: any offer, unlimited uses" in setup.body
    for absent in ("NEWBIEOFF", "NEWBIEOLD", "OTHER5"):  # disabled, archived offer, not theirs
        assert absent not in setup.body
        assert absent not in html
    assert "<code>NEWBIE10</code>" in html
    assert ">50<" in html and ">Unlimited<" in html and ">Any offer<" in html
    assert "YOUR COUPON CODES" in setup.body
    assert "and coupon codes" in mail.outbox[0].body  # the welcome says what is coming


def test_without_offers_or_coupons_the_setup_email_says_so(actor, applicant):
    approve(actor, applicant)
    setup = mail.outbox[1]
    assert "No offers are live for you yet" in setup.body
    assert "No offers are live for you yet" in html_of(setup)
    assert "COUPON" not in setup.body


def test_partner_supplied_text_is_escaped_in_html_and_kept_in_text(actor, brand):
    OfferFactory(brand=brand, slug="spring-sale", name="Spring <Sale> & more")
    evil = PartnerFactory(
        brand=brand,
        slug="evil",
        name='<script>alert("x")</script>',
        status=PartnerStatus.PENDING,
        approved_at=None,
    )
    approve(actor, evil)
    for message in mail.outbox:
        html = html_of(message)
        assert "<script>" not in html
        assert "&lt;script&gt;" in html
        assert '<script>alert("x")</script>' in message.body  # plain text is not HTML
    assert "Spring &lt;Sale&gt; &amp; more" in html_of(mail.outbox[1])


def test_nothing_is_queued_or_sent_when_the_transaction_rolls_back(actor, applicant, catalogue):
    with pytest.raises(RollbackError):
        approve_then_fail(actor, applicant)
    assert not OutboundEmail.objects.exists()
    assert emails_send_due() == 0
    assert mail.outbox == []
    assert Partner.objects.get(pk=applicant.pk).status == PartnerStatus.PENDING
    assert not AuditEvent.objects.filter(action="partner.approve").exists()


def test_the_approval_queues_the_emails_and_the_worker_sends_them(actor, applicant):
    partner_approve(actor=actor, partner=applicant)
    assert mail.outbox == []  # the approval talks to no SMTP server
    queued = OutboundEmail.objects.order_by("pk")
    assert [(e.kind, e.to, e.status) for e in queued] == [
        (EmailKind.PARTNER_WELCOME, "hi@newbie.example", EmailStatus.PENDING),
        (EmailKind.PARTNER_TRACKING_SETUP, "hi@newbie.example", EmailStatus.PENDING),
    ]
    assert emails_send_due() == 2
    assert len(mail.outbox) == 2


@pytest.mark.django_db(transaction=True)
def test_real_commit_sends_and_real_rollback_does_not(settings):
    # Real transactions (no test wrapper): on_commit fires only when the approval commits.
    from tests.conftest import make_actor
    from tests.factories import BrandFactory

    settings.TRCKER_PUBLIC_URL = PUBLIC_URL
    brand = BrandFactory(slug="acme")
    actor = make_actor(brand)
    OfferFactory(brand=brand, slug="spring-sale")
    first = PartnerFactory(brand=brand, slug="one", status=PartnerStatus.PENDING)
    second = PartnerFactory(brand=brand, slug="two", status=PartnerStatus.PENDING)
    with pytest.raises(RollbackError):
        approve_then_fail(actor, first)
    assert emails_send_due() == 0
    assert mail.outbox == []
    partner_approve(actor=actor, partner=second)
    assert emails_send_due() == 2
    assert [m.to for m in mail.outbox] == [[second.email]] * 2
    assert link("spring-sale", "two") in mail.outbox[1].body


def test_a_refused_email_is_retried_and_the_approval_stands(actor, applicant, catalogue, smtp):
    smtp.rcpt_replies = ["451 4.3.0 try again later"]  # the welcome, the first one sent
    partner_approve(actor=actor, partner=applicant)
    assert Partner.objects.get(pk=applicant.pk).status == PartnerStatus.ACTIVE
    assert AuditEvent.objects.filter(action="partner.approve").count() == 1

    assert emails_send_due() == 2
    assert smtp.subjects() == ["Your Brand acme tracking links"]  # one failure stops no other
    welcome = OutboundEmail.objects.get(kind=EmailKind.PARTNER_WELCOME)
    assert (welcome.status, welcome.attempts) == (EmailStatus.FAILED, 1)
    with time_machine.travel(welcome.next_attempt_at + dt.timedelta(seconds=1)):
        assert emails_send_due() == 1
    assert smtp.subjects() == [
        "Your Brand acme tracking links",
        "Welcome to Brand acme's partner program",
    ]


def test_subject_is_one_line_even_with_a_hostile_brand_name(actor, brand, applicant):
    brand.name = "Acme\r\nBcc: victim@example.com"
    brand.save()
    approve(actor, applicant)
    assert len(mail.outbox) == 2
    assert all("\n" not in m.subject and "\r" not in m.subject for m in mail.outbox)
    assert mail.outbox[0].message()["Bcc"] is None
