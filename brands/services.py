"""Writes for brands, staff and API keys. Each is audited inside its own transaction."""

from __future__ import annotations

import hmac
import re
import zoneinfo
from datetime import timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User  # settings.AUTH_USER_MODEL
from django.contrib.staticfiles import finders
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.actor import Actor, Channel
from audit.services import audit_record, changes_between, snapshot
from brands.keys import generate_key, parse_key, secret_digest
from brands.models import ApiKey, ApiKeyScope, Brand, FraudMode, StaffMembership, StaffRole
from brands.selectors import api_key_for_prefix
from core.config_cache import tracking_config_changed
from core.errors import AuthenticationError, ConflictError, ValidationError
from core.locking import lock_one
from core.validation import full_clean_or_raise

BRAND_SETTINGS_FIELDS = (
    "name",
    "timezone",
    "currency",
    "attribution_precedence",
)
# The partner programme's settings (docs/partners.md, "Programme settings"): one write,
# ``brand_program_settings_update`` (REST PATCH /api/v1/program/settings/, MCP
# update_program_settings, the admin's brand page), audited as ``brand.program_settings``.
PROGRAM_SETTINGS_FIELDS = (
    "default_hold_days",
    "payout_methods",
    "partner_reasons_visible",
    "min_payout_amount",
)
HOLD_DAYS_MAX = 365


class Keep(Enum):
    """A brand_program_settings_update argument left out (None is a value of
    default_hold_days: no auto-approval)."""

    VALUE = "keep"


PAYOUT_METHOD_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
PAYOUT_METHODS_MAX = 20


def normalise_payout_methods(methods: Any) -> list[str]:
    """The brand's closed list of payout methods: short slugs (paypal, wire, sepa), in the
    order given, without duplicates."""
    if not isinstance(methods, list | tuple) or len(methods) > PAYOUT_METHODS_MAX:
        raise ValidationError(
            f"payout_methods takes a list of at most {PAYOUT_METHODS_MAX} method names.",
            fields={"payout_methods": ["A list such as paypal, wire."]},
        )
    cleaned: list[str] = []
    for method in methods:
        name = str(method).strip().lower()[:40]
        if not PAYOUT_METHOD_RE.match(name):
            raise ValidationError(
                f"payout_methods: {name!r} is not a method name (letters, digits, - and _, "
                "at most 32).",
                fields={"payout_methods": ["Use names such as paypal, wire, sepa."]},
            )
        if name not in cleaned:
            cleaned.append(name)
    return cleaned


def payout_method_check(brand: Brand, method: str) -> str:
    """A payout method the brand accepts: one of its closed list, or any non-empty name when
    the brand has no list. Answers the method as stored."""
    name = method.strip()
    if brand.payout_methods and name.lower() not in brand.payout_methods:
        raise ValidationError(
            f"{name[:40]!r} is not one of this brand's payout methods: "
            f"{', '.join(brand.payout_methods)}.",
            code="unknown_payout_method",
            fields={"method": [f"One of {', '.join(brand.payout_methods)}."]},
        )
    return name.lower() if brand.payout_methods else name


MAX_MIN_PAYOUT = Decimal("999999999999.99")
FRAUD_SETTINGS_FIELDS = ("fraud_mode", "fraud_threshold", "botd_enabled")


def botd_asset_available() -> bool:
    """Is the BotD library present in our static files (never loaded from a CDN)?"""
    return finders.find(settings.TRCKER_BOTD_ASSET) is not None


def _validate_timezone(name: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"Unknown time zone {name!r}; use an IANA name such as Europe/Berlin.",
            fields={"timezone": ["Unknown time zone."]},
        ) from None


@transaction.atomic
def brand_create(
    *,
    creator_label: str,
    channel: Channel,
    slug: str,
    name: str,
    timezone_name: str = "UTC",
    currency: str = "USD",
) -> Brand:
    """Create a tenant. The one write without a brand-scoped actor (there is no brand yet);
    ``creator_label`` (``system:cli``, ``user:<id>``) becomes the actor of its first event."""
    _validate_timezone(timezone_name)
    brand = Brand(slug=slug, name=name, timezone=timezone_name, currency=currency)
    full_clean_or_raise(brand)
    try:
        with transaction.atomic():
            brand.save()
    except IntegrityError:
        raise ConflictError(
            f"A brand with slug {slug!r} already exists.", code="brand_slug_taken"
        ) from None
    actor = Actor.for_brand_creator(
        creator_label, brand_id=brand.pk, brand_slug=brand.slug, channel=channel
    )
    audit_record(
        actor=actor,
        action="brand.create",
        target=brand,
        changes={
            "name": [None, name],
            "timezone": [None, timezone_name],
            "currency": [None, currency],
        },
    )
    return brand


def _locked_brand(actor: Actor) -> Brand:
    return lock_one(Brand.objects.filter(pk=actor.brand_id), not_found=("brand", actor.brand_slug))


@transaction.atomic
def brand_update(
    *,
    actor: Actor,
    name: str | None = None,
    timezone_name: str | None = None,
    currency: str | None = None,
    attribution_precedence: str | None = None,
) -> Brand:
    """Change the brand's general settings; omitted arguments keep their value. The partner
    programme's settings have their own write (``brand_program_settings_update``)."""
    actor.require_write()
    brand = _locked_brand(actor)
    before = snapshot(brand, BRAND_SETTINGS_FIELDS)
    if timezone_name is not None:
        _validate_timezone(timezone_name)
        brand.timezone = timezone_name
    if name is not None:
        brand.name = name
    if currency is not None:
        brand.currency = currency
    if attribution_precedence is not None:
        brand.attribution_precedence = attribution_precedence
    full_clean_or_raise(brand)
    changes = changes_between(before, snapshot(brand, BRAND_SETTINGS_FIELDS))
    if changes:
        brand.save()
        audit_record(actor=actor, action="brand.update", target=brand, changes=changes)
        tracking_config_changed(actor.brand_id)
    return brand


def _min_payout(value: Decimal) -> Decimal:
    amount = Decimal(value)
    if not amount.is_finite() or amount < 0 or amount > MAX_MIN_PAYOUT:
        raise ValidationError(
            f"min_payout_amount must be between 0 and {MAX_MIN_PAYOUT}.",
            fields={"min_payout_amount": ["Out of range."]},
        )
    return amount.quantize(Decimal("0.01"))


def _hold_days(value: int | None) -> int | None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= HOLD_DAYS_MAX
    ):
        raise ValidationError(
            f"default_hold_days must be a whole number of days from 0 to {HOLD_DAYS_MAX}, or "
            "null (conversions wait for a person).",
            fields={"default_hold_days": ["Out of range."]},
        )
    return value


@transaction.atomic
def brand_program_settings_update(
    *,
    actor: Actor,
    default_hold_days: int | Keep | None = Keep.VALUE,
    payout_methods: list[str] | None = None,
    partner_reasons_visible: bool | None = None,
    min_payout_amount: Decimal | None = None,
) -> Brand:
    """Change the partner programme's settings; omitted arguments keep their value.

    - ``default_hold_days`` (0–365; None: no auto-approval) is the hold of every offer without
      its own ``hold_days`` (conversions.auto_approval).
    - ``payout_methods`` is the closed list partners choose from and payouts are paid by
      (slugs; ``normalise_payout_methods``). A partner who chose a method taken off the list
      keeps it recorded until they choose again; a payout can no longer be paid by it.
    - ``partner_reasons_visible``: whether partners see why a conversion was held, rejected or
      reversed.
    - ``min_payout_amount``: ``payouts_generate`` leaves a partner's currency out while its
      unsettled total is below it (the entries carry on); 0 pays any positive total.

    One audit event, ``brand.program_settings``, with each changed field's old and new value."""
    actor.require_write()
    brand = _locked_brand(actor)
    before = snapshot(brand, PROGRAM_SETTINGS_FIELDS)
    if not isinstance(default_hold_days, Keep):
        brand.default_hold_days = _hold_days(default_hold_days)
    if payout_methods is not None:
        brand.payout_methods = normalise_payout_methods(payout_methods)
    if partner_reasons_visible is not None:
        brand.partner_reasons_visible = bool(partner_reasons_visible)
    if min_payout_amount is not None:
        brand.min_payout_amount = _min_payout(min_payout_amount)
    full_clean_or_raise(brand)
    changes = changes_between(before, snapshot(brand, PROGRAM_SETTINGS_FIELDS))
    if changes:
        brand.save(update_fields=[*changes, "updated_at"])
        audit_record(actor=actor, action="brand.program_settings", target=brand, changes=changes)
        # Processes that cache the brand's row (core.config_cache) drop it after commit.
        tracking_config_changed(actor.brand_id)
    return brand


@transaction.atomic
def brand_set_fraud_settings(
    *,
    actor: Actor,
    mode: str | None = None,
    threshold: int | None = None,
    botd_enabled: bool | None = None,
) -> Brand:
    """Set the fraud mode (off/monitor/review/block), threshold (0–100) and BotD toggle."""
    actor.require_write()
    brand = _locked_brand(actor)
    before = snapshot(brand, FRAUD_SETTINGS_FIELDS)
    if mode is not None:
        if mode not in FraudMode.values:
            raise ValidationError(
                f"mode must be one of {', '.join(FraudMode.values)}.", fields={"mode": ["Invalid."]}
            )
        brand.fraud_mode = mode
    if threshold is not None:
        if not 0 <= threshold <= 100:
            raise ValidationError(
                "threshold must be between 0 and 100.", fields={"threshold": ["Out of range."]}
            )
        brand.fraud_threshold = threshold
    if botd_enabled is not None:
        if botd_enabled and not brand.botd_enabled and not botd_asset_available():
            raise ValidationError(
                "BotD cannot be turned on: its script has not been built on this server. Run "
                "`make assets` (npm ci, copies @fingerprintjs/botd into the static files), then "
                "collectstatic, and try again.",
                code="botd_asset_missing",
                fields={"botd_enabled": ["BotD script not built."]},
            )
        brand.botd_enabled = botd_enabled
    changes = changes_between(before, snapshot(brand, FRAUD_SETTINGS_FIELDS))
    if changes:
        brand.save(update_fields=[*changes, "updated_at"])
        audit_record(actor=actor, action="brand.fraud_settings", target=brand, changes=changes)
        tracking_config_changed(actor.brand_id)
    return brand


def _keep_an_owner(brand_id: int, *, leaving: int) -> None:
    """A brand must keep at least one owner, or nobody could manage its staff any more. The
    caller holds the brand row (``_locked_brand``), so staff changes of one brand run one at a
    time and this re-check sees every change committed before it: two owners demoting each
    other at once can neither both succeed nor deadlock on each other's rows."""
    others = (
        StaffMembership.objects.select_for_update()
        .filter(brand_id=brand_id, role=StaffRole.OWNER)
        .exclude(pk=leaving)
    )
    if not others.exists():
        raise ConflictError(
            "This is the brand's last owner; make someone else owner first.", code="last_owner"
        )


@transaction.atomic
def staff_membership_set(*, actor: Actor, user: User, role: str) -> StaffMembership:
    """Give a user a role in the actor's brand (creating or changing the membership)."""
    actor.require_write()
    if role not in StaffRole.values:
        raise ValidationError(f"role must be one of {', '.join(StaffRole.values)}.")
    _locked_brand(actor)  # before any membership row: one lock order for every staff change
    membership, created = StaffMembership.objects.select_for_update().get_or_create(
        user=user, brand_id=actor.brand_id, defaults={"role": role}
    )
    old_role = None if created else membership.role
    if old_role == role:
        return membership
    if old_role == StaffRole.OWNER:
        _keep_an_owner(actor.brand_id, leaving=membership.pk)
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        actor=actor,
        action="staff.set_role",
        target=membership,
        changes={"user": [None, user.pk], "role": [old_role, role]},
    )
    return membership


@transaction.atomic
def staff_membership_remove(*, actor: Actor, membership: StaffMembership) -> None:
    actor.require_write()
    if membership.brand_id != actor.brand_id:
        raise ValidationError("That membership belongs to another brand.")
    _locked_brand(actor)
    membership = lock_one(
        StaffMembership.objects.filter(pk=membership.pk, brand_id=actor.brand_id),
        not_found=("staff membership", membership.pk),
    )
    if membership.role == StaffRole.OWNER:
        _keep_an_owner(actor.brand_id, leaving=membership.pk)
    audit_record(
        actor=actor,
        action="staff.remove",
        target=membership,
        changes={"user": [membership.user_id, None], "role": [membership.role, None]},
    )
    membership.delete()


@transaction.atomic
def api_key_create(
    *,
    actor: Actor,
    label: str,
    scope: str = ApiKeyScope.READ_WRITE,
    created_by: User | None = None,
) -> tuple[ApiKey, str]:
    """Issue a key for the actor's brand. Returns the row and the plaintext, which is never
    stored and cannot be shown again."""
    actor.require_write()
    if scope not in ApiKeyScope.values:
        raise ValidationError(f"scope must be one of {', '.join(ApiKeyScope.values)}.")
    generated = generate_key()
    key = ApiKey(
        brand_id=actor.brand_id,
        label=label.strip() or "API key",
        prefix=generated.prefix,
        secret_sha256=generated.digest,
        scope=scope,
        created_by=created_by,
    )
    full_clean_or_raise(key, exclude=["created_by"])
    key.save()
    audit_record(
        actor=actor,
        action="api_key.create",
        target=key,
        target_id=key.prefix,
        changes={"label": [None, key.label], "scope": [None, scope]},
    )
    return key, generated.plaintext


@transaction.atomic
def api_key_revoke(*, actor: Actor, api_key: ApiKey) -> ApiKey:
    """Revoke a key; the next request made with it is refused."""
    actor.require_write()
    key = lock_one(
        ApiKey.objects.filter(pk=api_key.pk, brand_id=actor.brand_id),
        not_found=("API key", api_key.prefix),
    )
    if key.revoked_at is not None:
        return key
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])
    # Processes that authenticated this key hold it in their config cache: drop it.
    audit_record(
        actor=actor,
        action="api_key.revoke",
        target=key,
        target_id=key.prefix,
        changes={"revoked_at": [None, key.revoked_at]},
    )
    tracking_config_changed(actor.brand_id)
    return key


@transaction.atomic
def brand_set_external_org_id(*, actor: Actor, external_org_id: str) -> Brand:
    """Link the brand to an identity provider's organization id (blank unlinks it)."""
    actor.require_write()
    brand = _locked_brand(actor)
    value = external_org_id.strip()
    if value and Brand.objects.exclude(pk=brand.pk).filter(external_org_id=value).exists():
        raise ConflictError(
            "Another brand is already linked to that organization.", code="org_taken"
        )
    old = brand.external_org_id
    if old != value:
        brand.external_org_id = value
        brand.save(update_fields=["external_org_id", "updated_at"])
        audit_record(
            actor=actor,
            action="brand.set_external_org",
            target=brand,
            changes={"external_org_id": [old, value]},
        )
    return brand


# How often a key's last_used_at is written: one UPDATE per key per minute at most.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_key_authenticate(raw_key: str) -> ApiKey:
    """The key behind a presented secret, or AuthenticationError. Unknown and wrong keys get
    one message; a revoked key says so, since its owner needs to know to replace it. A service,
    not a selector: it records the key's use (``last_used_at``, at most once a minute)."""
    parsed = parse_key(raw_key.strip())
    if parsed is None:
        raise AuthenticationError(
            "Malformed API key: expected trk_<prefix>_<secret>.", code="invalid_api_key"
        )
    key = api_key_for_prefix(parsed.prefix)
    # Compare even when no row matched so timing does not reveal which prefixes exist.
    expected = key.secret_sha256 if key else "0" * 64
    matches = _compare(expected, secret_digest(parsed.secret))
    if key is None or not matches:
        raise AuthenticationError("Invalid API key.", code="invalid_api_key")
    if key.revoked_at is not None:
        raise AuthenticationError("This API key has been revoked.", code="revoked_api_key")
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        key.last_used_at = now  # the cached row too, so the next call skips the UPDATE
    return key


def _compare(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
