"""What a partner has authorized over OAuth ("add MCP server by URL", docs/oauth.md): the
account their grants hang on, the apps holding their tokens, and revoking one.

A partner token is bound to one partner in one brand twice over: its scope names them
(``partner:<brand>:<partner id>``, set on the consent page, never taken from the client) and
its user is that partner's :class:`~mcp_gateway.models.PartnerOAuthIdentity` user. The MCP
endpoint accepts it only when both agree and the partnership is active
(``mcp_gateway.oauth.authenticate_oauth_token``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_refresh_token_model,
)

from audit.actor import Actor
from audit.services import audit_record
from core.errors import NotFoundError
from mcp_gateway.models import PartnerOAuthIdentity
from partners.models import Partner

PARTNER_SCOPE_PREFIX = "partner:"
WRITE_SCOPE = "mcp:write"


def partner_scope(brand_slug: str, partner_id: int) -> str:
    """The scope binding a token to one partner of one brand."""
    return f"{PARTNER_SCOPE_PREFIX}{brand_slug}:{partner_id}"


def identity_for_user(user_id: int | None) -> PartnerOAuthIdentity | None:
    if user_id is None:
        return None
    return (
        PartnerOAuthIdentity.objects.select_related("partner", "brand")
        .filter(user_id=user_id)
        .first()
    )


def partner_oauth_user(partner: Partner) -> AbstractBaseUser:
    """The user the partner's grants and tokens hang on, made on first consent: inactive,
    without a usable password, not staff, in no brand — nothing signs in as it."""
    identity = PartnerOAuthIdentity.objects.select_related("user").filter(partner=partner).first()
    if identity is not None:
        return identity.user
    user_model = get_user_model()
    try:
        with transaction.atomic():
            user = user_model(
                # Random tail: a staff account someone named like this cannot block it.
                username=f"partner-oauth-{partner.brand_id}-{partner.pk}-{secrets.token_hex(4)}",
                is_active=False,
                is_staff=False,
            )
            user.set_unusable_password()
            user.save()
            PartnerOAuthIdentity.objects.create(
                user=user, partner=partner, brand_id=partner.brand_id
            )
            return user
    except IntegrityError:  # a concurrent first consent made it: use theirs
        return PartnerOAuthIdentity.objects.select_related("user").get(partner=partner).user


@dataclass(frozen=True)
class AuthorizedApp:
    """One client holding the partner's tokens, as the portal's keys page lists it."""

    application_id: int
    name: str
    client_id: str
    write: bool
    authorized_at: datetime
    last_issued_at: datetime


def _identity_of(actor: Actor) -> PartnerOAuthIdentity | None:
    if not actor.is_partner or actor.partner_id is None:
        return None
    return PartnerOAuthIdentity.objects.filter(
        partner_id=actor.partner_id, brand_id=actor.brand_id
    ).first()


def partner_oauth_apps(*, actor: Actor) -> list[AuthorizedApp]:
    """The clients holding a live token (access or refresh) of the actor's partner."""
    identity = _identity_of(actor)
    if identity is None:
        return []
    now = timezone.now()
    rows: dict[int, list[tuple[datetime, str]]] = {}
    for token in get_access_token_model().objects.filter(user_id=identity.user_id, expires__gt=now):
        rows.setdefault(token.application_id, []).append((token.created, token.scope))
    for refresh in (
        get_refresh_token_model()
        .objects.filter(user_id=identity.user_id, revoked__isnull=True)
        .select_related("access_token")
    ):
        scope = refresh.access_token.scope if refresh.access_token else ""
        rows.setdefault(refresh.application_id, []).append((refresh.created, scope))
    applications = get_application_model().objects.in_bulk(list(rows))
    apps = []
    for application_id, issued in rows.items():
        application = applications.get(application_id)
        if application is None:
            continue
        apps.append(
            AuthorizedApp(
                application_id=application_id,
                name=application.name or application.client_id,
                client_id=application.client_id,
                write=any(WRITE_SCOPE in scope.split() for _, scope in issued),
                authorized_at=min(created for created, _ in issued),
                last_issued_at=max(created for created, _ in issued),
            )
        )
    return sorted(apps, key=lambda app: app.last_issued_at, reverse=True)


@transaction.atomic
def partner_oauth_app_revoke(*, actor: Actor, application_id: int) -> int:
    """Revoke every token (and pending code) the partner gave ``application_id``; another
    partner's app, or an unknown id, is not found. Returns the number of tokens revoked."""
    actor.require_write()
    app = next(
        (app for app in partner_oauth_apps(actor=actor) if app.application_id == application_id),
        None,
    )
    identity = _identity_of(actor)
    if app is None or identity is None:
        raise NotFoundError("authorized app", str(application_id))
    revoked = 0
    for refresh in get_refresh_token_model().objects.filter(
        user_id=identity.user_id, application_id=application_id, revoked__isnull=True
    ):
        refresh.revoke()  # revokes its access token too
        revoked += 1
    for token in get_access_token_model().objects.filter(
        user_id=identity.user_id, application_id=application_id
    ):
        token.revoke()
        revoked += 1
    get_grant_model().objects.filter(
        user_id=identity.user_id, application_id=application_id
    ).delete()
    audit_record(
        actor=actor,
        action="partner_oauth.revoke",
        target_type="oauth_client",
        target_id=app.client_id[:64],
        changes={"tokens_revoked": [None, revoked], "client": [None, app.name[:200]]},
    )
    return revoked


def partner_oauth_consent_record(
    *, actor: Actor, client_id: str, client_name: str, write: bool
) -> None:
    """Audit a partner's consent (inside the transaction that makes the authorization code)."""
    audit_record(
        actor=actor,
        action="partner_oauth.authorize",
        target_type="oauth_client",
        target_id=client_id[:64],
        changes={"client": [None, client_name[:200]], "write": [None, write]},
    )
