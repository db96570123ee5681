"""The worker's side of the email outbox (docs/operations.md, "Emails"): send due emails, retry
on a schedule, give up after ``MAX_ATTEMPTS``, never send one past its ``expires_at``.

Rows are claimed one at a time (``core/outbox.py``: ``SELECT … FOR UPDATE SKIP LOCKED``, one
transaction per email, the lock held through the SMTP exchange), so two workers never send the
same email and a worker killed mid-batch leaves the emails it finished marked sent and the one
it was sending due again. The one window in which an email can go out twice is between the
SMTP server's final ``250`` and our COMMIT (microseconds; no SMTP extension closes it); every
attempt of a row carries the same ``Message-ID``, which receiving systems use to fold
duplicates. One SMTP connection serves a pass, reopened after any error.

Sent, dead and expired rows lose their (encrypted) body at once; the row itself, with its
recipient, subject and status, stays for the admin list until ``TRCKER_EMAIL_KEEP_DAYS``."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import smtplib
from typing import Any

from django.conf import settings
from django.core.mail import BadHeaderError, EmailMultiAlternatives, get_connection
from django.db.models import QuerySet
from django.utils import timezone

from core.outbox import backoff, claim_each
from mailer.models import UNFINISHED, EmailStatus, OutboundEmail
from mailer.services import unseal

logger = logging.getLogger(__name__)

# Delay before attempt n+1 after n failures: 30 s, 2 min, 10 min, 30 min, 1 h, 3 h, 6 h (±10 %).
# A sign-in link (15 minutes) sees the first four; an invitation (days) all of them.
RETRY_DELAYS = [
    dt.timedelta(seconds=30),
    dt.timedelta(minutes=2),
    dt.timedelta(minutes=10),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=1),
    dt.timedelta(hours=3),
    dt.timedelta(hours=6),
]
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
PRUNE_BATCH = 1000


def message_id(email: OutboundEmail) -> str:
    """The same on every attempt of a row, unique per row (and per database: the creation
    time is in it)."""
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip(" >") or "localhost"
    return f"<trcker.{email.created_at:%Y%m%d%H%M%S%f}.{email.pk}@{domain}>"


def _message(email: OutboundEmail) -> EmailMultiAlternatives:
    text, html = unseal(email.sealed_body)
    message = EmailMultiAlternatives(
        email.subject,
        text,
        settings.DEFAULT_FROM_EMAIL,
        [email.to],
        reply_to=[email.reply_to] if email.reply_to else None,
        headers={"Message-ID": message_id(email)},
    )
    message.attach_alternative(html, "text/html")
    return message


def _describe(exc: BaseException) -> tuple[str, bool]:
    """What ``last_error`` says, and whether no retry can help: a recipient the server refuses
    for good (5xx), or a message that cannot be built. Every other failure (4xx, a refused
    sender or login, a dead connection) is retried: it may be the relay's configuration,
    which an operator can fix."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        reasons = "; ".join(
            f"{code} {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"
            for code, reply in exc.recipients.values()
        )
        return f"recipient refused: {reasons}", bool(codes) and all(c >= 500 for c in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        return f"{exc.smtp_code} {text}", False
    if isinstance(exc, BadHeaderError):
        return f"unsendable: {exc}", True
    return f"{type(exc).__name__}: {exc}", False


class _Sender:
    """One pass: one connection to the configured backend, opened at the first email."""

    def __init__(self) -> None:
        self.connection: Any = None

    def close(self) -> None:
        if self.connection is not None:
            # A connection already broken closes as it can.
            with contextlib.suppress(Exception):
                self.connection.close()
            self.connection = None

    def send(self, message: EmailMultiAlternatives) -> None:
        if self.connection is None:
            connection = get_connection()
            connection.open()
            self.connection = connection
        message.connection = self.connection
        if message.send() != 1:
            raise smtplib.SMTPException("the email backend sent nothing")

    def attempt(self, email: OutboundEmail) -> None:
        now = timezone.now()
        if email.expires_at is not None and email.expires_at <= now:
            _finish(email, EmailStatus.EXPIRED, error="expired before it could be sent")
            logger.warning("email %s (%s) expired unsent", email.pk, email.kind)
            return
        email.attempts += 1
        try:
            self.send(_message(email))
        except Exception as exc:
            self.close()
            error, permanent = _describe(exc)
            delay = None if permanent else backoff(RETRY_DELAYS, email.attempts)
            if delay is None:
                _finish(email, EmailStatus.DEAD, error=error)
                logger.error(
                    "email %s (%s) given up after %d attempt(s): %s",
                    email.pk,
                    email.kind,
                    email.attempts,
                    error,
                )
                return
            email.status = EmailStatus.FAILED
            email.last_error = error[:200]
            email.next_attempt_at = now + delay
            email.save(
                update_fields=["attempts", "status", "last_error", "next_attempt_at", "updated_at"]
            )
            logger.warning(
                "email %s (%s) attempt %d failed, next in %ds: %s",
                email.pk,
                email.kind,
                email.attempts,
                delay.total_seconds(),
                error,
            )
            return
        email.sent_at = timezone.now()
        _finish(email, EmailStatus.SENT, error="")
        logger.info("email %s (%s) sent", email.pk, email.kind)


def _finish(email: OutboundEmail, status: EmailStatus, *, error: str) -> None:
    email.status = status
    email.last_error = error[:200]
    email.next_attempt_at = None
    email.sealed_body = ""  # what it carried is not needed any more: gone from the database
    email.save(
        update_fields=[
            "attempts",
            "status",
            "last_error",
            "next_attempt_at",
            "sealed_body",
            "sent_at",
            "updated_at",
        ]
    )


def _due_rows() -> QuerySet[OutboundEmail]:
    return OutboundEmail.objects.filter(
        status__in=UNFINISHED, next_attempt_at__lte=timezone.now()
    ).order_by("next_attempt_at", "pk")


def emails_send_due(*, limit: int | None = None) -> int:
    """Attempt due emails until none is due (or ``limit``); how many were handled (sent,
    failed, given up or expired)."""
    sender = _Sender()
    try:
        return claim_each(_due_rows, sender.attempt, limit=limit)
    finally:
        sender.close()


def emails_prune(*, before: dt.datetime) -> int:
    """Delete finished emails created before ``before`` (a bounded batch); how many."""
    finished = OutboundEmail.objects.exclude(status__in=UNFINISHED).filter(created_at__lt=before)
    ids = list(finished.order_by("pk").values_list("pk", flat=True)[:PRUNE_BATCH])
    return OutboundEmail.objects.filter(pk__in=ids).delete()[0] if ids else 0
