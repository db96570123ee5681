"""Partner-scoped API keys (``trkp_…``): issue, list, revoke, authenticate.

The brand's staff issue them for a partner (admin, ``POST /api/v1/partners/<id>/api-keys/``);
a signed-in partner may issue their own (the portal acts as ``Actor.for_partner_session``).
Hashing, the checksum, the one message for unknown and wrong keys and the throttled
``last_used_at`` follow the brand keys (brands/services.py); partner keys are looked up
without the per-process cache brand keys use, since they are not on the click path."""

from __future__ import annotations

import hmac
from datetime import timedelta

from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from audit.actor import Actor, Channel
from audit.services import audit_record
from brands.keys import secret_digest
from core.errors import AuthenticationError, NotFoundError
from core.locking import lock_one
from core.validation import full_clean_or_raise
from partners.keys import generate_partner_key, parse_partner_key
from partners.models import Partner, PartnerApiKey, PartnerApiKeyScope, PartnerStatus

# How often a key's last_used_at is written: one UPDATE per key per minute at most.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# A partner whose application was never accepted, or was rejected, reaches nothing; a paused
# partner still reads their own history (their earnings and payouts did not stop existing).
KEY_PARTNER_STATUSES = (PartnerStatus.ACTIVE, PartnerStatus.PAUSED)


def _own_partner_only(actor: Actor, partner: Partner) -> None:
    """A partner actor manages only their own keys; anyone else's are "not found"."""
    if partner.brand_id != actor.brand_id or (actor.is_partner and partner.pk != actor.partner_id):
        raise NotFoundError("partner", partner.slug)


def partner_api_key_list(*, actor: Actor, partner: Partner) -> QuerySet[PartnerApiKey]:
    """The partner's keys, newest first, revoked ones included (they say so)."""
    _own_partner_only(actor, partner)
    return (
        PartnerApiKey.objects.filter(brand_id=actor.brand_id, partner_id=partner.pk)
        .select_related("partner")
        .order_by("-created_at", "-id")
    )


def partner_api_key_get_for_actor(*, actor: Actor, partner: Partner, key_id: str) -> PartnerApiKey:
    """One of the partner's keys by its prefix; another partner's or brand's is "not found"."""
    try:
        return partner_api_key_list(actor=actor, partner=partner).get(prefix=key_id)
    except PartnerApiKey.DoesNotExist:
        raise NotFoundError("partner API key", key_id) from None


@transaction.atomic
def partner_api_key_create(
    *, actor: Actor, partner: Partner, label: str = "", write: bool = False
) -> tuple[PartnerApiKey, str]:
    """Issue a key for ``partner``: read-only unless ``write``. Returns the row and the
    plaintext, which is never stored and cannot be shown again."""
    actor.require_write()
    _own_partner_only(actor, partner)
    generated = generate_partner_key()
    scope = PartnerApiKeyScope.READ_WRITE if write else PartnerApiKeyScope.READ
    key = PartnerApiKey(
        brand_id=actor.brand_id,
        partner=partner,
        label=label.strip() or "Partner API key",
        prefix=generated.prefix,
        secret_sha256=generated.digest,
        scope=scope,
        created_by=actor.label,
    )
    full_clean_or_raise(key)
    key.save()
    audit_record(
        actor=actor,
        action="partner_api_key.create",
        target=key,
        target_id=key.prefix,
        changes={
            "partner": [None, partner.slug],
            "label": [None, key.label],
            "scope": [None, str(scope)],
        },
    )
    return key, generated.plaintext


@transaction.atomic
def partner_api_key_revoke(*, actor: Actor, api_key: PartnerApiKey) -> PartnerApiKey:
    """Revoke a key; the next request made with it is refused (keys are not cached)."""
    actor.require_write()
    _own_partner_only(actor, api_key.partner)
    key = lock_one(
        PartnerApiKey.objects.filter(pk=api_key.pk, brand_id=actor.brand_id).select_related(
            "partner"
        ),
        not_found=("partner API key", api_key.prefix),
        of=("self",),
    )
    if key.revoked_at is not None:
        return key
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor,
        action="partner_api_key.revoke",
        target=key,
        target_id=key.prefix,
        changes={"revoked_at": [None, key.revoked_at]},
    )
    return key


def partner_api_key_authenticate(raw_key: str) -> PartnerApiKey:
    """The key behind a presented ``trkp_`` secret, or AuthenticationError. Unknown and wrong
    keys get one message; a revoked key says so. A service, not a selector: it records the
    key's use (``last_used_at``, at most once a minute)."""
    parsed = parse_partner_key(raw_key.strip())
    if parsed is None:
        raise AuthenticationError(
            "Malformed partner API key: expected trkp_<prefix>_<secret>.", code="invalid_api_key"
        )
    key = (
        PartnerApiKey.objects.select_related("brand", "partner")
        .filter(prefix=parsed.prefix)
        .first()
    )
    # Compare even when no row matched so timing does not reveal which prefixes exist.
    expected = key.secret_sha256 if key else "0" * 64
    matches = hmac.compare_digest(expected.encode(), secret_digest(parsed.secret).encode())
    if key is None or not matches:
        raise AuthenticationError("Invalid API key.", code="invalid_api_key")
    if key.revoked_at is not None:
        raise AuthenticationError("This API key has been revoked.", code="revoked_api_key")
    if key.partner.status not in KEY_PARTNER_STATUSES:
        raise AuthenticationError(
            "This partner key's partnership is not active in the brand.", code="partner_inactive"
        )
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        PartnerApiKey.objects.filter(pk=key.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        key.last_used_at = now
    return key


def actor_for_partner_key(key: PartnerApiKey, *, channel: Channel, request: HttpRequest) -> Actor:
    """The actor of a request made with a partner key (REST and MCP)."""
    return Actor.for_partner_key(
        key_id=key.pk,
        prefix=key.prefix,
        brand_id=key.brand.pk,
        brand_slug=key.brand.slug,
        partner_id=key.partner_id,
        write=key.can_write,
        channel=channel,
        request=request,
    )
