"""The email outbox against a real SMTP server on loopback: a queued email is sent by the
worker step, retried after the server refuses it for now, given up after MAX_ATTEMPTS or at
once on a permanent refusal, never sent past its expiry; its body is stored encrypted and
erased once it is finished with."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from mailer.models import EmailKind, EmailStatus, OutboundEmail
from mailer.sending import MAX_ATTEMPTS, RETRY_DELAYS, emails_prune, emails_send_due
from mailer.services import email_enqueue
from tests.mailer.smtp import body_of


class RollbackError(Exception):
    pass


SECRET_URL = "https://track.example/p/acme/login/link/SeCrEtToKeN123/"


def queue(brand, *, subject="Hello", to="ada@example.com", expires_at=None, **kwargs):
    return email_enqueue(
        brand_id=brand.pk,
        kind=kwargs.pop("kind", EmailKind.PARTNER_SIGN_IN),
        to=to,
        subject=subject,
        text=f"Sign in: {SECRET_URL}",
        html=f'<a href="{SECRET_URL}">Sign in</a>',
        expires_at=expires_at,
        **kwargs,
    )


def raw_body(email: OutboundEmail) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT sealed_body FROM mailer_outboundemail WHERE id = %s", [email.pk])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_a_queued_email_is_sent_by_the_worker_step_and_its_body_erased(brand, smtp):
    email = queue(brand, subject="Your sign-in link", reply_to="owner@acme.example")
    assert smtp.messages == []  # queuing sends nothing
    # At rest the body is ciphertext: the link (a credential) is nowhere in the row.
    assert raw_body(email)
    assert "SeCrEtToKeN" not in raw_body(email)
    assert "SeCrEtToKeN" not in str(OutboundEmail.objects.filter(pk=email.pk).values().get())

    assert emails_send_due() == 1

    (message,) = smtp.messages
    assert message["Subject"] == "Your sign-in link"
    assert message["To"] == "ada@example.com"
    assert message["Reply-To"] == "owner@acme.example"
    assert SECRET_URL in body_of(message, "plain")
    assert f'href="{SECRET_URL}"' in body_of(message, "html")
    email.refresh_from_db()
    assert email.status == EmailStatus.SENT
    assert email.attempts == 1
    assert email.sent_at is not None
    assert email.next_attempt_at is None
    assert email.sealed_body == ""  # sent: what it carried is gone from the database
    assert message["Message-ID"].endswith(f".{email.pk}@localhost>")
    assert emails_send_due() == 0  # nothing due any more: never sent twice


@pytest.mark.django_db
def test_refused_for_now_then_accepted_is_retried_on_the_schedule(brand, smtp, caplog):
    email = queue(brand)
    smtp.rcpt_replies = ["451 4.3.0 Mailbox busy, try again later"]

    with caplog.at_level(logging.WARNING, logger="mailer.sending"):
        assert emails_send_due() == 1
    assert smtp.messages == []
    email.refresh_from_db()
    assert email.status == EmailStatus.FAILED
    assert email.attempts == 1
    assert email.last_error.startswith("recipient refused: 451 4.3.0 Mailbox busy")
    delay = email.next_attempt_at - timezone.now()
    assert RETRY_DELAYS[0] * 0.85 < delay <= RETRY_DELAYS[0] * 1.1
    assert email.sealed_body  # kept for the next attempt
    assert f"email {email.pk} (partner_sign_in) attempt 1 failed" in caplog.text
    assert emails_send_due() == 0  # not due before its time

    with time_machine.travel(email.next_attempt_at + dt.timedelta(seconds=1)):
        assert emails_send_due() == 1
    assert smtp.subjects() == ["Hello"]  # exactly once
    email.refresh_from_db()
    assert (email.status, email.attempts, email.last_error) == (EmailStatus.SENT, 2, "")


@pytest.mark.django_db
def test_every_attempt_refused_gives_up_after_max_attempts(brand, smtp, caplog):
    email = queue(brand, kind=EmailKind.PARTNER_INVITATION)
    smtp.rcpt_replies = ["451 4.7.1 Greylisted"] * (MAX_ATTEMPTS + 5)
    moment = timezone.now()
    with caplog.at_level(logging.WARNING, logger="mailer.sending"):
        for attempt in range(1, MAX_ATTEMPTS + 1):
            with time_machine.travel(moment, tick=False):
                assert emails_send_due() == 1
            email.refresh_from_db()
            assert email.attempts == attempt
            if attempt < MAX_ATTEMPTS:
                assert email.status == EmailStatus.FAILED
                moment = email.next_attempt_at + dt.timedelta(seconds=1)
    assert email.status == EmailStatus.DEAD
    assert email.next_attempt_at is None
    assert email.sealed_body == ""
    assert email.last_error == "recipient refused: 451 4.7.1 Greylisted"
    assert f"email {email.pk} (partner_invitation) given up after {MAX_ATTEMPTS}" in caplog.text
    assert smtp.messages == []
    with time_machine.travel(moment + dt.timedelta(days=2)):
        assert emails_send_due() == 0  # dead stays dead


@pytest.mark.django_db
def test_a_permanent_refusal_gives_up_at_once(brand, smtp):
    email = queue(brand)
    smtp.rcpt_replies = ["550 5.1.1 No such user"]
    assert emails_send_due() == 1
    email.refresh_from_db()
    assert (email.status, email.attempts) == (EmailStatus.DEAD, 1)
    assert email.last_error == "recipient refused: 550 5.1.1 No such user"


@pytest.mark.django_db
def test_an_smtp_server_that_is_down_is_retried(brand, smtp, settings):
    email = queue(brand)
    settings.EMAIL_PORT = 1  # nothing listens there
    assert emails_send_due() == 1
    email.refresh_from_db()
    assert email.status == EmailStatus.FAILED
    assert email.last_error.startswith("ConnectionRefusedError")
    settings.EMAIL_PORT = smtp.port
    with time_machine.travel(email.next_attempt_at + dt.timedelta(seconds=1)):
        assert emails_send_due() == 1
    assert smtp.subjects() == ["Hello"]


@pytest.mark.django_db
def test_an_email_is_never_sent_after_it_expires(brand, smtp):
    email = queue(brand, expires_at=timezone.now() + dt.timedelta(minutes=15))
    smtp.rcpt_replies = ["451 4.3.0 later"]
    assert emails_send_due() == 1  # refused for now
    email.refresh_from_db()
    # The next attempt would come after the link expired: it is not sent, ever.
    with time_machine.travel(email.expires_at + dt.timedelta(seconds=1)):
        assert emails_send_due() == 1
    email.refresh_from_db()
    assert email.status == EmailStatus.EXPIRED
    assert email.attempts == 1  # expiring is no attempt
    assert email.sealed_body == ""
    assert smtp.messages == []
    with time_machine.travel(email.expires_at + dt.timedelta(days=1)):
        assert emails_send_due() == 0


@pytest.mark.django_db
def test_one_failure_in_a_pass_does_not_stop_the_others(brand, smtp):
    for n in range(3):
        queue(brand, subject=f"email {n}", to=f"p{n}@example.com")
    smtp.rcpt_replies = ["250 OK", "451 4.3.0 later"]  # the second is refused for now
    assert emails_send_due() == 3
    assert smtp.subjects() == ["email 0", "email 2"]
    statuses = dict(OutboundEmail.objects.values_list("subject", "status"))
    assert statuses == {
        "email 0": EmailStatus.SENT,
        "email 1": EmailStatus.FAILED,
        "email 2": EmailStatus.SENT,
    }


@pytest.mark.django_db(transaction=True)
def test_nothing_is_queued_or_sent_when_the_write_rolls_back(smtp):
    from tests.factories import BrandFactory

    brand = BrandFactory()

    def queue_then_fail() -> None:
        with transaction.atomic():
            queue(brand, subject="rolled back")
            raise RollbackError

    with pytest.raises(RollbackError):
        queue_then_fail()
    assert not OutboundEmail.objects.exists()
    assert emails_send_due() == 0
    with transaction.atomic():
        queue(brand, subject="committed")
    assert emails_send_due() == 1
    assert smtp.subjects() == ["committed"]


@pytest.mark.django_db(transaction=True)
def test_queuing_outside_a_transaction_is_refused(brand):
    with pytest.raises(RuntimeError, match="inside the transaction"):
        queue(brand)


@pytest.mark.django_db
def test_finished_emails_are_pruned_after_the_keep_period(brand, smtp):
    old, unfinished = queue(brand, subject="old"), queue(brand, subject="waiting")
    OutboundEmail.objects.filter(pk=old.pk).update(status=EmailStatus.SENT, sealed_body="")
    OutboundEmail.objects.filter(pk=unfinished.pk).update(next_attempt_at=None)  # not due
    later = timezone.now() + dt.timedelta(days=31)
    assert emails_prune(before=later) == 1
    assert list(OutboundEmail.objects.values_list("subject", flat=True)) == ["waiting"]


@pytest.mark.django_db
def test_the_console_backend_of_make_run_prints_the_email(brand, settings, capsys):
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    email = queue(brand, subject="Your sign-in link")
    assert emails_send_due() == 1
    printed = capsys.readouterr().out
    assert "Subject: Your sign-in link" in printed and SECRET_URL in printed
    email.refresh_from_db()
    assert email.status == EmailStatus.SENT
