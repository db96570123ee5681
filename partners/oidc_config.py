"""The brand's own OpenID Connect provider for partner portal sign-in: setting it (issuer URL,
client id, client secret: stored encrypted, never shown again) and removing it, and the reads
the admin, REST and the portal need. The sign-in itself is ``partners.oidc_client`` (the
protocol) and ``partner_portal.oidc_views`` (the pages). docs/partners.md, "Signing in with
the brand's provider".

The issuer URL is a tenant's input that Trcker fetches (its discovery document, key set and
token endpoint), so it passes the SSRF guard's rules when saved and every fetch goes through
``core.outbound_http``. It must be https (OpenID Connect Discovery §3); only
``TRCKER_OUTBOUND_ALLOW_PRIVATE`` (development and tests) lets a plain-http loopback issuer
through.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.actor import Actor
from audit.services import audit_record
from brands.models import Brand
from core import outbound_http
from core.errors import NotFoundError, ValidationError
from core.links import public_url
from partners.models import PartnerSignInProvider

# Printable ASCII without spaces: what providers issue as client ids and secrets.
CLIENT_ID_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")
CLIENT_SECRET_PATTERN = re.compile(r"[\x21-\x7e]{8,512}")
# Shown on a button ("Sign in with …"): letters, digits, spaces and a little punctuation.
DISPLAY_NAME_PATTERN = re.compile(r"[\w .,&'()+-]{1,64}")


@dataclass(frozen=True)
class ProviderStatus:
    """What a read shows of the provider: never the secret."""

    configured: bool
    display_name: str
    issuer: str
    client_id: str
    has_client_secret: bool
    secret_set_at: datetime | None
    redirect_uri: str
    login_url: str


def _redirect_uri(brand_slug: str) -> str:
    return public_url(f"/p/{brand_slug}/login/oidc/callback/")


def redirect_uri(brand: Brand) -> str:
    """The callback the brand registers at its provider (exactly this URL)."""
    return _redirect_uri(brand.slug)


def _status(brand_slug: str, row: PartnerSignInProvider | None) -> ProviderStatus:
    return ProviderStatus(
        configured=row is not None,
        display_name=row.display_name if row else "",
        issuer=row.issuer if row else "",
        client_id=row.client_id if row else "",
        has_client_secret=bool(row and row.client_secret),
        secret_set_at=row.secret_set_at if row else None,
        redirect_uri=_redirect_uri(brand_slug),
        login_url=public_url(f"/p/{brand_slug}/login/"),
    )


def sign_in_provider_get(*, actor: Actor) -> ProviderStatus:
    """The actor's brand's provider, configured or not (a read: the secret is never in it)."""
    row = PartnerSignInProvider.objects.filter(brand_id=actor.brand_id).first()
    return _status(actor.brand_slug, row)


def brand_sign_in_provider(brand: Brand) -> PartnerSignInProvider | None:
    """The portal's read: the provider of ``brand``, or None when it has none."""
    return PartnerSignInProvider.objects.filter(brand_id=brand.pk).first()


def _issuer_problem(issuer: str) -> str | None:
    parts = urlsplit(issuer)
    allow_private = bool(getattr(settings, "TRCKER_OUTBOUND_ALLOW_PRIVATE", False))
    if parts.scheme != "https" and not (allow_private and parts.scheme == "http"):
        return "The issuer must be an https URL (OpenID Connect Discovery)."
    if parts.query or parts.fragment:
        return "The issuer URL has no query or fragment."
    try:
        outbound_http.check_url_static(issuer)
    except outbound_http.OutboundRefused as refused:
        return f"Trcker may not fetch this issuer URL ({refused.code}): {refused.message}"
    return None


def _validate(
    *, display_name: str | None, issuer: str | None, client_id: str | None, secret: str | None
) -> None:
    fields: dict[str, list[str]] = {}
    if display_name is not None and not DISPLAY_NAME_PATTERN.fullmatch(display_name):
        fields["display_name"] = [
            "1-64 letters, digits, spaces and . , & ' ( ) + - (shown as 'Sign in with …')."
        ]
    if issuer is not None:
        problem = _issuer_problem(issuer)
        if problem:
            fields["issuer"] = [problem]
    if client_id is not None and not CLIENT_ID_PATTERN.fullmatch(client_id):
        fields["client_id"] = ["1-255 printable characters without spaces."]
    if secret is not None and not CLIENT_SECRET_PATTERN.fullmatch(secret):
        fields["client_secret"] = ["8-512 printable characters without spaces."]
    if fields:
        raise ValidationError(
            "The partner sign-in provider settings are not valid: "
            + " ".join(f"{name}: {problems[0]}" for name, problems in fields.items()),
            code="invalid_sign_in_provider",
            fields=fields,
        )


@transaction.atomic
def sign_in_provider_set(
    *,
    actor: Actor,
    display_name: str | None = None,
    issuer: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> ProviderStatus:
    """Create or change the brand's provider. A new provider needs all four values; a change
    gives only what changes, and the secret is kept when not given unless the issuer or the
    client id changes (then it must be given again). The secret is stored encrypted
    and never returned; the audit log records only that it changed."""
    actor.require_write()
    issuer = issuer.strip() if issuer is not None else None
    _validate(display_name=display_name, issuer=issuer, client_id=client_id, secret=client_secret)
    row = PartnerSignInProvider.objects.select_for_update().filter(brand_id=actor.brand_id).first()
    if row is None:
        missing = [
            name
            for name, value in (
                ("display_name", display_name),
                ("issuer", issuer),
                ("client_id", client_id),
                ("client_secret", client_secret),
            )
            if not value
        ]
        if missing:
            raise ValidationError(
                "A new sign-in provider needs display_name, issuer, client_id and "
                f"client_secret; missing: {', '.join(missing)}.",
                code="invalid_sign_in_provider",
                fields={name: ["Required for a new provider."] for name in missing},
            )
        row = PartnerSignInProvider(brand_id=actor.brand_id)
    changes: dict[str, Any] = {}
    for name, value in (
        ("display_name", display_name),
        ("issuer", issuer),
        ("client_id", client_id),
    ):
        if value is not None and getattr(row, name, "") != value:
            changes[name] = [getattr(row, name, "") or None, value]
            setattr(row, name, value)
    if client_secret is None and row.pk is not None and changes.keys() & {"issuer", "client_id"}:
        # The token request sends the secret to the issuer's token endpoint: kept across a
        # change of issuer, it would go to whichever server a write key names.
        raise ValidationError(
            "Give client_secret again when the issuer or client_id changes: the stored "
            "secret is never sent to another provider or client.",
            code="invalid_sign_in_provider",
            fields={"client_secret": ["Required when issuer or client_id changes."]},
        )
    if client_secret is not None:
        # The secret itself never enters the audit log: only the fact it changed.
        changes["has_client_secret"] = [bool(row.client_secret), True]
        row.client_secret = client_secret
        row.secret_set_at = timezone.now()
    row.save()
    audit_record(
        actor=actor,
        action="partner_sign_in_provider.set",
        target=row,
        target_type="partner_sign_in_provider",
        target_id=actor.brand_slug,
        changes=changes,
    )
    return _status(actor.brand_slug, row)


@transaction.atomic
def sign_in_provider_remove(*, actor: Actor) -> ProviderStatus:
    """Remove the provider: the portal offers the emailed link only. Partners signed in
    through it stay signed in until they sign out (their sessions name the partner, not the
    provider)."""
    actor.require_write()
    row = PartnerSignInProvider.objects.select_for_update().filter(brand_id=actor.brand_id).first()
    if row is None:
        raise NotFoundError("partner_sign_in_provider", actor.brand_slug)
    audit_record(
        actor=actor,
        action="partner_sign_in_provider.remove",
        target=row,
        target_type="partner_sign_in_provider",
        target_id=actor.brand_slug,
        changes={"issuer": [row.issuer, None], "has_client_secret": [True, False]},
    )
    row.delete()
    return _status(actor.brand_slug, None)
