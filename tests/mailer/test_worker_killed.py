"""The email worker SIGKILLed in the middle of a batch, with a real SMTP server on loopback and
the real ``run_workers`` command: every email arrives exactly once. The server holds the RCPT
of one email and the worker is killed there, mid-exchange: the emails it finished are recorded
as sent and not sent again, the one it was sending is due again (its row lock died with the
connection) and the next worker sends it and the rest."""

from __future__ import annotations

import signal
from collections import Counter

import pytest
from django.db import transaction

from mailer.models import EmailKind, EmailStatus, OutboundEmail
from mailer.services import email_enqueue
from tests.factories import BrandFactory
from tests.live_server import app_env, run_command, start_command, stop, wait_for

EMAILS = 12
KILLED_AT = 6  # the worker dies while the server holds this email's RCPT


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_sends_every_email_exactly_once(smtp):
    brand = BrandFactory(slug="killed")
    with transaction.atomic():
        for n in range(EMAILS):
            email_enqueue(
                brand_id=brand.pk,
                kind=EmailKind.PARTNER_SIGN_IN,
                to=f"partner{n}@example.com",
                subject=f"email {n}",
                text="a link",
                html="<p>a link</p>",
            )
    expected = {f"email {n}" for n in range(EMAILS)}
    smtp.hold_rcpt = KILLED_AT
    env = app_env(REDIS_URL="", **smtp.env())

    first = start_command(env, "run_workers", "--interval", "0.1")
    try:
        wait_for(smtp.holding.is_set, timeout=30, what="the worker reaching the held email")
    finally:
        stop(first, signal.SIGKILL)  # no handler, no cleanup, mid-exchange
    smtp.release.set()

    finished = [f"email {n}" for n in range(KILLED_AT - 1)]
    assert smtp.subjects() == finished
    sent_rows = OutboundEmail.objects.filter(status=EmailStatus.SENT)
    assert sorted(sent_rows.values_list("subject", flat=True)) == sorted(finished)

    out = run_command(env, "run_workers", "--once", timeout=60)

    counts = Counter(smtp.subjects())
    assert set(counts) == expected  # nothing lost
    assert set(counts.values()) == {1}, counts  # nothing doubled
    assert f"emails attempted: {EMAILS - KILLED_AT + 1}" in out
    rows = list(OutboundEmail.objects.values_list("status", "attempts", "sealed_body"))
    # The killed attempt was rolled back with its row lock: no row counts it.
    assert rows == [(EmailStatus.SENT, 1, "")] * EMAILS
