"""The public partner application page /p/<brand>/apply: real requests through the test
client, the service underneath, the owner notification and the abuse controls."""

import logging

import pytest
from django.core import mail
from django.db import transaction
from django.test import Client

from audit.models import AuditEvent
from brands.models import StaffRole
from core.errors import ConflictError, ValidationError
from mailer.sending import emails_send_due
from partners.models import Partner, PartnerStatus
from partners.services import partner_apply
from tests.factories import BrandFactory, PartnerFactory, StaffMembershipFactory, UserFactory

GOOD = {
    "name": "ABC Media",
    "email": "hello@abc-media.example",
    "website": "https://abc-media.example",
    "note": "Newsletter with 40k readers\nand a YouTube channel.",
    "partner_id": "",
}


def apply_url(slug="acme"):
    return f"/p/{slug}/apply"


def post(client, data=None, *, slug="acme", ip="198.51.100.7", **extra):
    return client.post(apply_url(slug), {**GOOD, **(data or {})}, REMOTE_ADDR=ip, **extra)


@pytest.fixture
def owner(brand):
    user = UserFactory(email="owner@acme.example", first_name="Olga")
    StaffMembershipFactory(brand=brand, user=user, role=StaffRole.OWNER)
    return user


def test_get_renders_the_form_with_csrf_token_and_hidden_honeypot(client, brand):
    page = client.get(apply_url())
    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="csrfmiddlewaretoken"' in html
    for field in ("name", "email", "website", "note", "partner_id"):
        assert f'name="{field}"' in html
    # The trap is in the page, off-screen for people, out of the tab order.
    assert '<div class="hp" aria-hidden="true">' in html
    assert 'name="homepage" autocomplete="off" tabindex="-1"' in html
    assert "https://" not in html.split("<body>")[0]  # no external assets in the head
    assert 'name="viewport"' in html


def test_unknown_brands_get_the_same_404_page(client, brand):
    first = client.get(apply_url("nope"))
    second = client.get(apply_url("other-missing-brand"))
    assert first.status_code == second.status_code == 404
    assert first.content == second.content
    assert b"nope" not in first.content
    assert post(client, slug="nope").status_code == 404
    assert client.get("/p/nope/apply/thanks").status_code == 404
    assert not Partner.objects.exists()


def test_valid_application_creates_a_pending_partner_audited_as_apply(client, brand, owner):
    response = post(client, {"partner_id": "abc-media"}, HTTP_USER_AGENT="Firefox/130")
    assert response.status_code == 302
    assert response["Location"] == "/p/acme/apply/thanks"
    partner = Partner.objects.get()
    assert (partner.brand, partner.slug, partner.status) == (brand, "abc-media", "pending")
    assert (partner.email, partner.website) == (GOOD["email"], GOOD["website"])
    assert partner.applied_at is not None and partner.approved_at is None
    event = AuditEvent.objects.get(action="partner.apply")
    assert (event.actor_label, event.channel, event.actor_kind) == (
        "system:partner_application",
        "apply",
        "system",
    )
    assert (event.ip, event.user_agent, event.target_id) == (
        "198.51.100.7",
        "Firefox/130",
        "abc-media",
    )
    assert event.changes["note"] == [None, GOOD["note"]]
    assert event.changes["status"] == [None, "pending"]
    thanks = client.get(response["Location"])
    assert thanks.status_code == 200
    assert b"Thank you" in thanks.content
    assert emails_send_due() == 1  # the owner's notice, queued by the request
    assert len(mail.outbox) == 1


def test_partner_id_defaults_to_the_name(client, brand):
    assert post(client).status_code == 302
    assert Partner.objects.get().slug == "abc-media"


def test_owners_with_an_email_are_notified_by_the_worker(client, brand, owner, other_brand):
    second_owner = UserFactory(email="second@acme.example")
    StaffMembershipFactory(brand=brand, user=second_owner, role=StaffRole.OWNER)
    StaffMembershipFactory(brand=brand, user=UserFactory(email=""), role=StaffRole.OWNER)
    StaffMembershipFactory(
        brand=brand, user=UserFactory(email="gone@acme.example", is_active=False)
    )
    StaffMembershipFactory(
        brand=brand, user=UserFactory(email="admin@acme.example"), role=StaffRole.ADMIN
    )
    StaffMembershipFactory(
        brand=brand, user=UserFactory(email="analyst@acme.example"), role=StaffRole.ANALYST
    )
    StaffMembershipFactory(
        brand=other_brand, user=UserFactory(email="owner@globex.example"), role=StaffRole.OWNER
    )
    post(client)
    assert mail.outbox == []  # the request only queued them
    assert emails_send_due() == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["owner@acme.example", "second@acme.example"]
    message = next(m for m in mail.outbox if m.to == ["owner@acme.example"])
    partner = Partner.objects.get()
    assert message.subject == f"New partner application for {brand.name}: ABC Media"
    assert message.reply_to == [GOOD["email"]]
    assert "Hello Olga," in message.body
    for text in (GOOD["email"], GOOD["website"], "abc-media", "40k readers"):
        assert text in message.body
    review = f"http://127.0.0.1:8000/admin/partners/partner/{partner.pk}/change/"
    assert review in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert f'href="{review}"' in html
    assert "Newsletter with 40k readers<br>and a YouTube channel." in html


def test_duplicate_email_is_refused_on_the_form_ignoring_case(
    client, brand, django_capture_on_commit_callbacks
):
    PartnerFactory(brand=brand, email="Hello@ABC-media.example", status=PartnerStatus.REJECTED)
    with django_capture_on_commit_callbacks(execute=True):
        page = post(client)
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="id_email_error"' in html
    assert "An application with this email address has already been received." in html
    assert Partner.objects.count() == 1
    assert not AuditEvent.objects.exists()
    assert emails_send_due() == 0
    assert mail.outbox == []


def test_same_email_in_another_brand_is_fine(client, brand, other_brand):
    PartnerFactory(brand=other_brand, email=GOOD["email"])
    assert post(client).status_code == 302
    assert Partner.objects.filter(brand=brand).count() == 1


def test_taken_partner_id_is_shown_on_its_field(client, brand):
    PartnerFactory(brand=brand, slug="abc-media", email="someone@else.example")
    page = post(client, {"partner_id": "abc-media"})
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="id_partner_id_error"' in html
    assert "This partner id is taken." in html
    assert Partner.objects.count() == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "   "),
        ("email", ""),
        ("email", "not-an-email"),
        ("website", "ftp://files.example.com"),
        ("website", "javascript:alert(1)"),
        ("note", "x" * 1001),
        ("partner_id", "Not A Slug"),
        ("partner_id", "-abc"),
    ],
)
def test_invalid_input_is_shown_on_the_form(client, brand, field, value):
    page = post(client, {field: value})
    assert page.status_code == 200
    assert f'id="id_{field}_error"' in page.content.decode()
    assert not Partner.objects.exists()


def test_note_of_1000_characters_with_line_breaks_is_accepted(client, brand):
    note = ("a" * 99 + "\r\n") * 9 + "b" * 100  # 1000 characters as the browser counts them
    assert post(client, {"note": note}).status_code == 302
    event = AuditEvent.objects.get(action="partner.apply")
    assert len(event.changes["note"][1]) == 1000


def test_website_without_scheme_is_taken_as_https(client, brand):
    assert post(client, {"website": "abc-media.example"}).status_code == 302
    assert Partner.objects.get().website == "https://abc-media.example"


def test_everything_typed_is_escaped_when_the_form_is_shown_again(client, brand):
    evil = '"><script>alert(1)</script>'
    page = post(client, {"name": evil, "note": evil, "email": "nope"})
    html = page.content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_brand_name_is_escaped(db, client):
    BrandFactory(slug="acme", name="<img src=x onerror=alert(1)>")
    html = client.get(apply_url()).content.decode()
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_honeypot_pretends_success_and_creates_nothing(
    client, brand, owner, django_capture_on_commit_callbacks, caplog
):
    with django_capture_on_commit_callbacks(execute=True), caplog.at_level(logging.INFO):
        response = post(client, {"homepage": "http://spam.example"})
    assert response.status_code == 302
    assert response["Location"] == "/p/acme/apply/thanks"
    assert not Partner.objects.exists()
    assert not AuditEvent.objects.exists()
    assert emails_send_due() == 0
    assert mail.outbox == []
    assert "honeypot" in caplog.text


def test_csrf_is_enforced(brand):
    browser = Client(enforce_csrf_checks=True)
    assert browser.post(apply_url(), GOOD, REMOTE_ADDR="198.51.100.7").status_code == 403
    assert not Partner.objects.exists()
    page = browser.get(apply_url())
    token = page.cookies["csrftoken"].value
    accepted = browser.post(
        apply_url(), {**GOOD, "csrfmiddlewaretoken": token}, REMOTE_ADDR="198.51.100.7"
    )
    assert accepted.status_code == 302
    assert Partner.objects.count() == 1


def test_rate_limit_per_ip_and_brand(client, brand, other_brand, settings):
    settings.TRCKER_APPLY_RATE = "3/h"
    for n in range(3):
        assert post(client, {"email": f"p{n}@x.example", "name": f"P {n}"}).status_code == 302
    limited = post(client, {"email": "p3@x.example", "name": "P 3"})
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 3600
    assert b"Too many attempts" in limited.content
    assert Partner.objects.filter(brand=brand).count() == 3
    # Another visitor, and the same visitor on another brand's page, are not limited.
    assert post(client, {"email": "q@x.example"}, ip="203.0.113.50").status_code == 302
    assert post(client, {"email": "r@x.example"}, slug="globex").status_code == 302
    # Only submissions count: the page still shows.
    assert client.get(apply_url(), REMOTE_ADDR="198.51.100.7").status_code == 200


def test_default_rate_is_five_an_hour(client, brand):
    statuses = [
        post(client, {"email": f"p{n}@x.example", "name": f"P {n}"}).status_code for n in range(6)
    ]
    assert statuses == [302] * 5 + [429]


def test_rate_limit_fails_open_when_the_cache_is_down(client, brand, settings, caplog):
    # A real Redis client against a closed port: the store is down, applications still work.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    with caplog.at_level(logging.WARNING, logger="partners.views"):
        response = post(client)
    assert response.status_code == 302
    assert Partner.objects.count() == 1
    assert "rate-limit store unavailable" in caplog.text


def test_only_get_head_and_post(client, brand):
    assert client.put(apply_url()).status_code == 405
    assert client.post("/p/acme/apply/thanks").status_code == 405


# --- the service ----------------------------------------------------------------------------


def system_actor(brand):
    from audit.actor import Actor, Channel

    return Actor.system(
        brand_id=brand.pk, brand_slug=brand.slug, name="partner_application", channel=Channel.APPLY
    )


def test_partner_apply_refuses_duplicates_and_bad_input(brand):
    actor = system_actor(brand)
    partner_apply(actor=actor, name="  ABC \n Media ", email="a@abc.example", website="")
    assert Partner.objects.get().name == "ABC Media"  # one line: it goes into email subjects
    with pytest.raises(ConflictError) as err:
        partner_apply(actor=actor, name="Again", email=" A@ABC.example ")
    assert err.value.code == "partner_email_taken"
    assert err.value.fields == {
        "email": ["An application with this email address has already been received."]
    }
    with pytest.raises(ValidationError):
        partner_apply(actor=actor, name="x", email="")
    with pytest.raises(ValidationError):
        partner_apply(actor=actor, name="x", email="b@abc.example", note="n" * 1001)
    with pytest.raises(ValidationError):
        partner_apply(actor=actor, name="x", email="c@abc.example", website="ftp://a.example")
    assert Partner.objects.count() == 1
    assert AuditEvent.objects.filter(action="partner.apply").count() == 1


class RollbackError(Exception):
    pass


def apply_then_fail(brand):
    with transaction.atomic():
        partner_apply(actor=system_actor(brand), name="ABC", email="a@abc.example")
        raise RollbackError


def test_partner_apply_sends_nothing_when_the_transaction_rolls_back(
    brand, owner, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RollbackError),
    ):
        apply_then_fail(brand)
    assert callbacks == []
    assert emails_send_due() == 0
    assert mail.outbox == []
    assert not Partner.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_applications_with_one_email_create_one_partner():
    # Real threads and connections: the brand-row lock makes the duplicate check exact.
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    BrandFactory(slug="race")

    def submit(n):
        try:
            return (
                Client()
                .post(
                    "/p/race/apply",
                    {**GOOD, "name": f"Racer {n}", "email": "same@race.example"},
                    REMOTE_ADDR=f"198.51.100.{n + 1}",
                )
                .status_code
            )
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(submit, range(8)))
    assert sorted(statuses) == [200] * 7 + [302]
    assert Partner.objects.filter(email="same@race.example").count() == 1
    assert AuditEvent.objects.filter(action="partner.apply").count() == 1
