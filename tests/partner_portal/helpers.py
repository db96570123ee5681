"""Shared steps of the partner portal tests: ask for a link through the login form, let the
worker send the email the request queued, read it from the captured email (Django's locmem
backend, as pytest-django configures it), sign in."""

from __future__ import annotations

import re

from django.core import mail
from django.test import Client
from django.urls import reverse

from mailer.sending import emails_send_due

LINK = re.compile(r"https?://[^\s\"<>]+/p/[^/\s]+/login/link/([0-9A-Za-z]+)/")


def ask_for_link(client: Client, brand_slug: str, email: str, *, ip: str = "198.51.100.7"):
    response = client.post(
        reverse("portal-login", args=[brand_slug]), {"email": email}, REMOTE_ADDR=ip
    )
    # The request only queued the email (mailer/); the worker's step sends it.
    emails_send_due()
    return response


def links_in_outbox() -> list[str]:
    """Every sign-in token in the captured emails, oldest first (text and HTML parts agree)."""
    tokens = []
    for message in mail.outbox:
        found = LINK.findall(message.body)
        html = "".join(content for content, _ in getattr(message, "alternatives", []))
        assert set(found) == set(LINK.findall(html))  # both parts carry the same link
        tokens.extend(found)
    return tokens


def link_path(brand_slug: str, token: str) -> str:
    return reverse("portal-link", args=[brand_slug, token])


def sign_in(client: Client, partner) -> None:
    """Through the real flow: the form, the email, the link's page, its button."""
    mail.outbox.clear()
    assert ask_for_link(client, partner.brand.slug, partner.email).status_code == 302
    (token,) = links_in_outbox()
    assert client.post(link_path(partner.brand.slug, token)).status_code == 302
    mail.outbox.clear()
