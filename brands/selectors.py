"""Reads for brands, staff and API keys. Tenant rule: every selector filters by the actor's
brand; a row of another brand is reported exactly like a row that does not exist."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import User  # settings.AUTH_USER_MODEL
from django.db.models import Q, QuerySet

from audit.actor import Actor
from brands.models import WRITE_ROLES, ApiKey, Brand, FxRate, FxReferenceRate, StaffMembership
from core.config_cache import cached_for_brand
from core.errors import NotFoundError

# last_used_at is informational; writing it on every request would turn reads into writes.


def brand_get_for_actor(*, actor: Actor) -> Brand:
    return Brand.objects.get(pk=actor.brand_id)


def api_key_list(*, actor: Actor) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(brand_id=actor.brand_id).order_by("-created_at", "-id")


def api_key_get_for_actor(*, actor: Actor, prefix: str) -> ApiKey:
    try:
        return api_key_list(actor=actor).get(prefix=prefix)
    except ApiKey.DoesNotExist:
        raise NotFoundError("API key", prefix) from None


def api_key_for_prefix(prefix: str) -> ApiKey | None:
    """The key row, kept per process like tracking config: a key's brand never changes, and
    revoking it moves the brand's config generation, so every process drops it within
    SHARED_GENERATION_REUSE_SECONDS. Saves the SELECT on every authenticated request."""

    def load() -> ApiKey | None:
        return ApiKey.objects.select_related("brand").filter(prefix=prefix).first()

    brand_id = cached_for_brand(
        ("api-key-brand", prefix),
        None,
        lambda: ApiKey.objects.filter(prefix=prefix).values_list("brand_id", flat=True).first(),
    )
    if brand_id is None:
        return None
    return cached_for_brand(("api-key", prefix), brand_id, load)


def staff_roles_for_user(user: User) -> dict[int, str]:
    """brand id → role for every brand the user belongs to."""
    return dict(StaffMembership.objects.filter(user=user).values_list("brand_id", "role"))


def staff_writable_brand_ids(user: User) -> set[int]:
    return {
        brand_id for brand_id, role in staff_roles_for_user(user).items() if role in WRITE_ROLES
    }


def staff_membership_list(*, actor: Actor) -> QuerySet[StaffMembership]:
    return StaffMembership.objects.filter(brand_id=actor.brand_id).select_related("user")


def fx_rate_list(
    *,
    actor: Actor,
    source: str = "brand",
    currency: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> QuerySet[FxRate] | QuerySet[FxReferenceRate]:
    """The brand's own rates (``source`` "brand"), or the reference rates every brand shares
    ("reference", 1 EUR = rate currency), newest day first; ``currency`` matches either side."""
    qs: QuerySet[FxRate] | QuerySet[FxReferenceRate]
    order: tuple[str, ...]
    if source == "reference":
        qs = FxReferenceRate.objects.all()
        if currency:
            qs = qs.filter(currency=currency) if currency != "EUR" else qs
        order = ("-day", "currency", "-pk")
    else:
        qs = FxRate.objects.filter(brand_id=actor.brand_id)
        if currency:
            qs = qs.filter(Q(base=currency) | Q(quote=currency))
        order = ("-day", "base", "quote", "-pk")
    if date_from:
        qs = qs.filter(day__gte=date_from)
    if date_to:
        qs = qs.filter(day__lte=date_to)
    return qs.order_by(*order)
