"""The email outbox: one row per email, written in the transaction of the change that causes
it and sent by the worker (``mailer/sending.py``). The body is stored encrypted (it may carry a
credential: a sign-in link, an invitation) and erased once the email is finished with."""

from __future__ import annotations

from typing import ClassVar

from django.db import models


class EmailKind(models.TextChoices):
    PARTNER_WELCOME = "partner_welcome", "partner welcome"
    PARTNER_TRACKING_SETUP = "partner_tracking_setup", "partner tracking setup"
    PARTNER_APPLICATION = "partner_application", "partner application (to owners)"
    PARTNER_INVITATION = "partner_invitation", "partner invitation"
    PARTNER_SIGN_IN = "partner_sign_in", "partner sign-in link"


class EmailStatus(models.TextChoices):
    PENDING = "pending"  # not tried yet
    FAILED = "failed"  # tried, will be tried again at next_attempt_at
    SENT = "sent"  # the SMTP server accepted it
    DEAD = "dead"  # refused for good, or every attempt failed
    EXPIRED = "expired"  # what it carries expired before it could be sent: never sent


UNFINISHED = (EmailStatus.PENDING, EmailStatus.FAILED)


class OutboundEmail(models.Model):
    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32, choices=EmailKind.choices)
    to = models.EmailField(max_length=254)
    reply_to = models.EmailField(max_length=254, blank=True)
    subject = models.CharField(max_length=200)
    # Fernet token (core/secrets_crypto.py) of the JSON {"text": …, "html": …}; "" once the
    # email is sent, dead or expired. Never shown anywhere.
    sealed_body = models.TextField(blank=True)
    SEALED_COLUMNS: ClassVar[tuple[str, ...]] = ("sealed_body",)  # core.secret_rotation
    status = models.CharField(
        max_length=16, choices=EmailStatus.choices, default=EmailStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Not sent from this moment on (a sign-in link's or an invitation's own expiry).
    expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "outbound email"
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="email_due_idx"),
            models.Index(fields=["brand", "created_at"], name="email_brand_created_idx"),
        ]

    def __str__(self) -> str:
        return f"email {self.pk} ({self.kind}, {self.status})"
