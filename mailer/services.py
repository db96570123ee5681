"""Queue an email: ``email_enqueue`` writes the outbox row in the caller's transaction, so the
email exists exactly when the change that causes it commits, and a request never talks to an
SMTP server (docs/operations.md, "Emails"). The worker sends it (``mailer/sending.py``)."""

from __future__ import annotations

import datetime as dt
import json

from django.db import transaction
from django.utils import timezone

from core.secrets_crypto import decrypt, encrypt
from mailer.models import EmailKind, OutboundEmail

SUBJECT_MAX = 200


def one_line(text: str, limit: int = SUBJECT_MAX) -> str:
    # Subjects carry brand- and applicant-typed names: a newline would be a header injection
    # (Django refuses it, and the mail would be lost), an essay would be unreadable.
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def seal(*, text: str, html: str) -> str:
    return encrypt(json.dumps({"text": text, "html": html}))


def unseal(sealed: str) -> tuple[str, str]:
    body = json.loads(decrypt(sealed))
    return body["text"], body["html"]


def email_enqueue(
    *,
    brand_id: int,
    kind: EmailKind,
    to: str,
    subject: str,
    text: str,
    html: str,
    reply_to: str = "",
    expires_at: dt.datetime | None = None,
) -> OutboundEmail:
    """One email to ``to`` (plain text with an HTML alternative), due now, in the caller's
    transaction: rolled back with it, committed with it. ``expires_at``: never sent from then
    on (what the email carries stops working). The body is stored encrypted."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("email_enqueue runs inside the transaction of the write it tells of")
    return OutboundEmail.objects.create(
        brand_id=brand_id,
        kind=kind,
        to=to,
        reply_to=reply_to,
        subject=one_line(subject),
        sealed_body=seal(text=text, html=html),
        next_attempt_at=timezone.now(),
        expires_at=expires_at,
    )
