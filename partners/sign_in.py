"""Partner portal sign-in by an emailed one-time link (docs/partners.md, "Signing in").

A link is ``/p/<brand>/login/link/<token>/`` where the token is a public ``selector`` (the row's
lookup key) followed by a secret ``verifier``. Only the verifier's SHA-256 is stored, and it is
compared in constant time even when no row matched, so neither the database nor the timing of
a guess tells an attacker anything. A link works once, until ``TRCKER_PORTAL_LINK_MINUTES``
after it was sent, for the address it was sent to, and only while that partner may sign in.

Who may sign in: a partner of the brand, active or paused (a paused partner still has payouts
and a history to read), whose email is the address typed, ignoring case. Pending and rejected
applicants may not. The request answer never says whether any of that held (the view answers
every address alike); this module only decides whom to email.

Services and selectors of one small area, kept together: ``partner_sign_in_links_send`` (the
write behind the login form), ``sign_in_link_partner`` (which partner a presented token names,
a read) and ``sign_in_link_use`` (spends the token under a row lock, re-checking everything).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import string
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from audit.actor import Actor
from audit.services import audit_record
from brands.models import Brand
from core.errors import AuthenticationError
from core.ids import random_base62
from core.links import public_url
from mailer.models import EmailKind
from mailer.services import email_enqueue
from partners.models import Partner, PartnerSignInLink, PartnerStatus

logger = logging.getLogger(__name__)

SELECTOR_LENGTH = 12  # ~71 bits: a lookup key, not the secret
VERIFIER_LENGTH = 43  # ~256 bits from ``secrets``
TOKEN_PATTERN = re.compile(rf"^[0-9A-Za-z]{{{SELECTOR_LENGTH + VERIFIER_LENGTH}}}$")
SIGN_IN_STATUSES = (PartnerStatus.ACTIVE, PartnerStatus.PAUSED)
# A partner row per brand normally; an address an admin gave to several partners of one brand
# gets one link per partner (each names its partner), never an unbounded fan-out.
MAX_LINKS_PER_REQUEST = 5
# Spent and expired links are kept this long (the audit log keeps the sign-ins for good), then
# removed when the same partner asks for a new one.
KEEP_OLD_LINKS = dt.timedelta(days=1)

INVALID_LINK = (
    "This sign-in link is not valid: it may have expired, been used already, or been "
    "replaced. Ask for a new one below."
)


def _digest(verifier: str) -> str:
    # A fast hash is right here: 256 random bits make preimage search hopeless.
    return hashlib.sha256(verifier.encode()).hexdigest()


def normalized_email(email: str) -> str:
    return email.strip().lower()


def sign_in_partner_list(*, brand: Brand, email: str) -> list[Partner]:
    """The brand's partners this address may sign in as (see the module docstring)."""
    address = normalized_email(email)
    if not address:
        return []
    # SQL UPPER() folds more than ASCII (U+0131 dotless i -> I, U+017F long s -> S): keep
    # only partners whose address is this one exactly, ignoring ASCII case only.
    return [
        partner
        for partner in Partner.objects.filter(
            brand_id=brand.pk, email__iexact=address, status__in=SIGN_IN_STATUSES
        ).order_by("pk")[:MAX_LINKS_PER_REQUEST]
        if same_address(partner.email, email)
    ]


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def same_address(stored: str, given: str) -> bool:
    """Equal ignoring the case of ASCII letters only. SQL ``UPPER`` (``__iexact``) and
    Python's ``lower()`` fold more (dotless ı to I, long ſ to S, the Kelvin sign to k), so an
    address at a look-alike domain someone else can register would match; every sign-in
    path narrows its ``__iexact`` query with this."""
    return stored.strip().translate(_ASCII_LOWER) == given.strip().translate(_ASCII_LOWER)


@dataclass(frozen=True, slots=True)
class SentLink:
    partner: Partner
    url: str


def _new_link(*, brand: Brand, partner: Partner, email: str, now: dt.datetime) -> str:
    selector = random_base62(SELECTOR_LENGTH)
    verifier = random_base62(VERIFIER_LENGTH)
    PartnerSignInLink.objects.filter(partner=partner, expires_at__lt=now - KEEP_OLD_LINKS).delete()
    PartnerSignInLink.objects.create(
        brand_id=brand.pk,
        partner=partner,
        selector=selector,
        verifier_sha256=_digest(verifier),
        email=email,
        created_at=now,
        expires_at=now + dt.timedelta(minutes=settings.TRCKER_PORTAL_LINK_MINUTES),
    )
    return public_url(f"/p/{brand.slug}/login/link/{selector}{verifier}/")


def partner_sign_in_links_send(*, actor: Actor, brand: Brand, email: str) -> list[SentLink]:
    """Create a sign-in link for each partner of ``brand`` this address may sign in as, and
    queue an email for each with it. An address that names nobody creates and sends nothing; the
    caller answers the same either way. ``actor`` is the anonymous visitor of the form
    (audited as ``partner.sign_in_link_send`` on each partner it emailed)."""
    address = normalized_email(email)
    sent: list[SentLink] = []
    with transaction.atomic():
        now = timezone.now()
        for partner in sign_in_partner_list(brand=brand, email=address):
            url = _new_link(brand=brand, partner=partner, email=address, now=now)
            sent.append(SentLink(partner=partner, url=url))
            # The link itself never enters the audit log: it is a credential.
            audit_record(actor=actor, action="partner.sign_in_link_send", target=partner)
            _queue_link(brand=brand, email=address, link=sent[-1], now=now)
    return sent


def _queue_link(*, brand: Brand, email: str, link: SentLink, now: dt.datetime) -> None:
    """The link's email, queued in its transaction: the worker sends it, never after the link
    expires; its body (the link is a credential) is stored encrypted."""
    minutes = settings.TRCKER_PORTAL_LINK_MINUTES
    context = {"brand": brand, "partner": link.partner, "url": link.url, "minutes": minutes}
    email_enqueue(
        brand_id=brand.pk,
        kind=EmailKind.PARTNER_SIGN_IN,
        to=email,
        subject=f"Your sign-in link for the {' '.join(brand.name.split())[:100]} partner portal",
        text=render_to_string("emails/partner_sign_in.txt", context),
        html=render_to_string("emails/partner_sign_in.html", context),
        expires_at=now + dt.timedelta(minutes=minutes),
    )


def _split(token: str) -> tuple[str, str] | None:
    if not TOKEN_PATTERN.match(token):
        return None
    return token[:SELECTOR_LENGTH], token[SELECTOR_LENGTH:]


def _check(link: PartnerSignInLink | None, verifier: str, now: dt.datetime) -> PartnerSignInLink:
    # Compared even when no row matched, so timing does not tell which selectors exist.
    matches = hmac.compare_digest(link.verifier_sha256 if link else "0" * 64, _digest(verifier))
    if (
        link is None
        or not matches
        or link.used_at is not None
        or link.expires_at <= now
        or link.partner.status not in SIGN_IN_STATUSES
        or normalized_email(link.partner.email) != link.email
    ):
        raise AuthenticationError(INVALID_LINK, code="invalid_sign_in_link")
    return link


def sign_in_link_partner(*, brand: Brand, token: str) -> Partner:
    """The partner a presented token would sign in, or ``invalid_sign_in_link``. Reads only:
    showing the confirmation page spends nothing (mail scanners open links too)."""
    parts = _split(token)
    if parts is None:
        raise AuthenticationError(INVALID_LINK, code="invalid_sign_in_link")
    selector, verifier = parts
    link = (
        PartnerSignInLink.objects.select_related("partner")
        .filter(brand_id=brand.pk, selector=selector)
        .first()
    )
    return _check(link, verifier, timezone.now()).partner


@transaction.atomic
def sign_in_link_use(*, actor: Actor, brand: Brand, token: str) -> Partner:
    """Spend the token: the link row locked, every condition checked again under the lock (a
    second request with the same token waits, then finds it used), marked used and the
    sign-in audited as ``partner.sign_in`` by the partner actor the caller built from
    ``sign_in_link_partner``. Other unused links of the partner stay valid until they
    expire: each was sent on request of that address."""
    parts = _split(token)
    if parts is None:
        raise AuthenticationError(INVALID_LINK, code="invalid_sign_in_link")
    selector, verifier = parts
    link = (
        PartnerSignInLink.objects.select_for_update(of=("self",))
        .select_related("partner")
        .filter(brand_id=brand.pk, selector=selector)
        .first()
    )
    now = timezone.now()
    link = _check(link, verifier, now)
    if link.partner_id != actor.partner_id or actor.brand_id != brand.pk:
        raise AuthenticationError(INVALID_LINK, code="invalid_sign_in_link")
    link.used_at = now
    link.save(update_fields=["used_at"])
    audit_record(
        actor=actor,
        action="partner.sign_in",
        target=link.partner,
        changes={"method": [None, "email_link"]},
    )
    return link.partner


def portal_session_partner(*, brand: Brand, partner_pk: int, email: str) -> Partner | None:
    """The partner a portal session names, while it may still sign in with that address:
    paused, rejected or a changed email ends every session at its next request."""
    partner = (
        Partner.objects.filter(
            pk=partner_pk, brand_id=brand.pk, status__in=SIGN_IN_STATUSES, email__iexact=email
        )
        .select_related("brand")
        .first()
    )
    return partner if partner is not None and same_address(partner.email, email) else None


@transaction.atomic
def sign_in_oidc_record(*, actor: Actor, brand: Brand, partner_pk: int, email: str) -> Partner:
    """A sign-in through the brand's OpenID provider (``partners.oidc_client`` verified
    ``email``): the partner re-read under a lock and checked against the rule of the emailed
    link (``sign_in_partner_list``: this brand, active or paused, this address), then
    audited as ``partner.sign_in`` with ``method`` ``oidc`` by the partner actor."""
    partner = (
        Partner.objects.select_for_update()
        .filter(
            pk=partner_pk,
            brand_id=brand.pk,
            email__iexact=normalized_email(email),
            status__in=SIGN_IN_STATUSES,
        )
        .first()
    )
    if (
        partner is None
        or not same_address(partner.email, email)
        or actor.partner_id != partner.pk
        or actor.brand_id != brand.pk
    ):
        raise AuthenticationError(
            "This sign-in is no longer valid; sign in again.", code="invalid_sign_in"
        )
    audit_record(
        actor=actor, action="partner.sign_in", target=partner, changes={"method": [None, "oidc"]}
    )
    return partner
