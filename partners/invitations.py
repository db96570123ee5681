"""Partner invitations by email (docs/partners.md, "What the brand controls").

The brand invites an address (``partner_invite``: REST, MCP ``invite_partner``, the admin); the
email links to the brand's application page, ``/p/<brand>/apply?invite=<token>``, with the
address filled in. Applying through the link with the invited address approves the
application at once (the brand asked for this person): ``invitation_accept``, called by the
application page after ``partner_apply``. An address that already belongs to a partner of the
brand is refused (``partner_email_taken``): an existing partner signs in at ``/p/<brand>/login/``.

The token is a public selector and a secret verifier, like the sign-in link's; only the
verifier's SHA-256 is kept, compared in constant time. An invitation works once, until
``TRCKER_PARTNER_INVITE_DAYS`` after it was sent. Invitations are throttled per brand
(``TRCKER_PARTNER_INVITES_RATE``) and per address and brand (3 a day), so a leaked brand key
cannot turn Trcker into a mailer. Every invitation is audited (``partner.invite``) with the
address; the token never enters the audit log.

The brand lists its invitations (``partners.selectors.partner_invitation_list``: pending,
accepted, expired, revoked), resends one (``invitation_resend``: a new token, so the old link
dies, and a new expiry; throttled like an invitation) and revokes one (``invitation_revoke``:
the link dies for good). A dry run (``dry_run=True``, the operations' rehearsal) checks the
throttle without spending it: rehearsing must not use up the invitations it rehearses.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from audit.actor import Actor
from audit.services import audit_record
from brands.models import Brand
from core.errors import ConflictError, RateLimitedError
from core.ids import new_invitation_id, random_base62
from core.links import public_url
from core.locking import lock_one
from core.rate_limits import count_request
from mailer.models import EmailKind
from mailer.services import email_enqueue
from partners.models import Partner, PartnerInvitation
from partners.sign_in import normalized_email

logger = logging.getLogger(__name__)

SELECTOR_LENGTH = 12
VERIFIER_LENGTH = 43
TOKEN_PATTERN = re.compile(rf"^[0-9A-Za-z]{{{SELECTOR_LENGTH + VERIFIER_LENGTH}}}$")
PER_ADDRESS_RATE = "3/d"


def _digest(verifier: str) -> str:
    return hashlib.sha256(verifier.encode()).hexdigest()


def _throttle(brand_id: int, address: str, *, dry_run: bool = False) -> None:
    """Count one invitation of the brand and of the address; refuse past either budget. The
    address is counted by its hash (the cache holds no addresses). Fails open like the other
    limiters when the cache is down. ``dry_run`` checks both budgets without charging them."""
    hashed = hashlib.sha256(address.encode()).hexdigest()[:32]
    for group, key, rate in (
        ("partner_invite", str(brand_id), settings.TRCKER_PARTNER_INVITES_RATE),
        ("partner_invite_address", f"{brand_id}:{hashed}", PER_ADDRESS_RATE),
    ):
        usage = count_request(None, group=group, key=key, rate=rate, charge=not dry_run)
        if usage is not None and usage.limited:
            raise RateLimitedError(
                f"Too many invitations ({rate} allowed); try again in "
                f"{max(1, -(-usage.reset_seconds // 60))} minutes.",
                retry_after=usage.reset_seconds,
            )


def _refuse_a_partner(brand_id: int, address: str) -> None:
    if Partner.objects.filter(brand_id=brand_id, email__iexact=address).exists():
        raise ConflictError(
            "This address already belongs to a partner of this brand; they sign in at the "
            "partner portal instead.",
            code="partner_email_taken",
        )


def _new_token(invitation: PartnerInvitation, now: dt.datetime) -> str:
    """Give the invitation a fresh selector and secret and a full validity from ``now``;
    answers the token (selector + secret) for the email. Any earlier token stops working."""
    verifier = random_base62(VERIFIER_LENGTH)
    invitation.selector = random_base62(SELECTOR_LENGTH)
    invitation.verifier_sha256 = _digest(verifier)
    invitation.expires_at = now + dt.timedelta(days=settings.TRCKER_PARTNER_INVITE_DAYS)
    invitation.last_sent_at = now
    return invitation.selector + verifier


@transaction.atomic
def partner_invite(
    *, actor: Actor, email: str, name: str = "", dry_run: bool = False
) -> PartnerInvitation:
    """Invite ``email`` to apply as a partner of the actor's brand; the email is queued with it.
    ``dry_run``: the caller rolls the transaction back; the throttle is checked, not spent."""
    actor.require_write()
    address = normalized_email(email)
    _refuse_a_partner(actor.brand_id, address)
    now = timezone.now()
    invitation = PartnerInvitation(
        brand_id=actor.brand_id,
        invitation_id=new_invitation_id(),
        email=address,
        name=" ".join(name.split())[:200],
        invited_by=actor.label,
        created_at=now,
    )
    _throttle(actor.brand_id, address, dry_run=dry_run)
    token = _new_token(invitation, now)
    invitation.save()
    audit_record(
        actor=actor,
        action="partner.invite",
        target=invitation,
        # Its public id, as its resend and revocation name it; ``changes`` holds the address
        # whole (an address of up to 254 characters is longer than the target column).
        target_id=invitation.invitation_id,
        changes={"email": [None, address], "expires_at": [None, invitation.expires_at.isoformat()]},
    )
    _queue_invitation(invitation, public_url(f"/p/{actor.brand_slug}/apply?invite={token}"))
    return invitation


def _locked(actor: Actor, invitation: PartnerInvitation) -> PartnerInvitation:
    return lock_one(
        PartnerInvitation.objects.filter(pk=invitation.pk, brand_id=actor.brand_id),
        not_found=("invitation", invitation.invitation_id),
    )


def _refuse_closed(invitation: PartnerInvitation, doing: str) -> None:
    if invitation.accepted_at is not None:
        raise ConflictError(
            f"This invitation was accepted ({invitation.email} is a partner now); there is "
            f"nothing to {doing}.",
            code="invitation_accepted",
        )
    if invitation.revoked_at is not None:
        raise ConflictError(
            f"This invitation was revoked; to {doing} it, invite {invitation.email} again "
            "(invite_partner).",
            code="invitation_revoked",
        )


@transaction.atomic
def invitation_resend(
    *, actor: Actor, invitation: PartnerInvitation, dry_run: bool = False
) -> PartnerInvitation:
    """Send a pending or expired invitation again: a new link (the old one stops working) valid
    for ``TRCKER_PARTNER_INVITE_DAYS`` from now, throttled like a new invitation (per brand
    and per address). Refused for an accepted or revoked invitation, and for an address that
    has become a partner's meanwhile. Audited ``partner.invite_resend``."""
    actor.require_write()
    locked = _locked(actor, invitation)
    _refuse_closed(locked, "resend")
    _refuse_a_partner(actor.brand_id, locked.email)
    _throttle(actor.brand_id, locked.email, dry_run=dry_run)
    before = {"expires_at": locked.expires_at.isoformat(), "sent_count": locked.sent_count}
    token = _new_token(locked, timezone.now())
    locked.sent_count += 1
    locked.save(
        update_fields=["selector", "verifier_sha256", "expires_at", "last_sent_at", "sent_count"]
    )
    audit_record(
        actor=actor,
        action="partner.invite_resend",
        target=locked,
        target_id=locked.invitation_id,
        changes={
            "expires_at": [before["expires_at"], locked.expires_at.isoformat()],
            "sent_count": [before["sent_count"], locked.sent_count],
        },
    )
    _queue_invitation(locked, public_url(f"/p/{actor.brand_slug}/apply?invite={token}"))
    return locked


@transaction.atomic
def invitation_revoke(*, actor: Actor, invitation: PartnerInvitation) -> PartnerInvitation:
    """Withdraw an invitation: its link stops working at once (an application through it is
    an ordinary pending one). Refused once accepted; revoking a revoked one changes nothing.
    Audited ``partner.invite_revoke``."""
    actor.require_write()
    locked = _locked(actor, invitation)
    if locked.revoked_at is not None:
        return locked
    if locked.accepted_at is not None:
        _refuse_closed(locked, "revoke")
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor,
        action="partner.invite_revoke",
        target=locked,
        target_id=locked.invitation_id,
        changes={"revoked_at": [None, locked.revoked_at.isoformat()]},
    )
    return locked


def _queue_invitation(invitation: PartnerInvitation, url: str) -> None:
    """The email, queued in the invitation's transaction (the worker sends it; its body, with
    the token, is stored encrypted and never sent after the invitation expires)."""
    brand = Brand.objects.get(pk=invitation.brand_id)
    context = {
        "brand": brand,
        "name": invitation.name,
        "url": url,
        "days": settings.TRCKER_PARTNER_INVITE_DAYS,
        "login_url": public_url(f"/p/{brand.slug}/login/"),
    }
    email_enqueue(
        brand_id=brand.pk,
        kind=EmailKind.PARTNER_INVITATION,
        to=invitation.email,
        subject=f"{' '.join(brand.name.split())[:100]} invites you to its partner program",
        text=render_to_string("emails/partner_invitation.txt", context),
        html=render_to_string("emails/partner_invitation.html", context),
        expires_at=invitation.expires_at,
    )


def invitation_for_token(*, brand: Brand, token: str) -> PartnerInvitation | None:
    """The open invitation a presented token names, or None (malformed, unknown, wrong
    secret, used or expired: all alike). Reads only."""
    if not TOKEN_PATTERN.match(token or ""):
        return None
    selector, verifier = token[:SELECTOR_LENGTH], token[SELECTOR_LENGTH:]
    invitation = PartnerInvitation.objects.filter(brand_id=brand.pk, selector=selector).first()
    matches = hmac.compare_digest(
        invitation.verifier_sha256 if invitation else "0" * 64, _digest(verifier)
    )
    if (
        invitation is None
        or not matches
        or invitation.accepted_at is not None
        or invitation.revoked_at is not None
        or invitation.expires_at <= timezone.now()
    ):
        return None
    return invitation


@transaction.atomic
def invitation_accept(*, brand: Brand, token: str, partner: Partner) -> bool:
    """Spend the invitation for the partner who just applied through it: when the token is
    open and the application's address is the invited one, the invitation is marked accepted
    and the partner approved (audited as the brand's ``system:invitation``), which sends the
    welcome and tracking-setup emails. Anything else leaves the application pending, as an
    application without an invitation is. Answers whether it approved."""
    from partners.services import partner_approve  # services import this module's callers

    found = invitation_for_token(brand=brand, token=token)
    if found is None or normalized_email(partner.email) != found.email:
        return False
    invitation = PartnerInvitation.objects.select_for_update().get(pk=found.pk)
    # Re-checked under the lock: a revocation or a resend (a new selector) may have come first.
    if (
        invitation.accepted_at is not None
        or invitation.revoked_at is not None
        or invitation.selector != found.selector
    ):
        return False
    invitation.accepted_at = timezone.now()
    invitation.partner = partner
    invitation.save(update_fields=["accepted_at", "partner"])
    actor = Actor.system(brand_id=brand.pk, brand_slug=brand.slug, name="invitation")
    partner_approve(actor=actor, partner=partner)
    return True
