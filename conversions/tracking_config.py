"""Per-process cache of what the click and postback endpoints need to know about a brand,
an offer and a partner, so the hot path makes no query for config (see
``core.config_cache`` for how changes invalidate it). While the database cannot be
read, the last config loaded is served however old it is: a click redirected on it (and
recorded) is worth more than a refusal."""

from __future__ import annotations

import ipaddress
import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from brands.models import Brand
from core.config_cache import cached_for_brand, clear_process_cache
from core.deep_links import DeepLinkPolicy
from offers.models import Offer, PayoutRule
from partners.models import Partner


@dataclass(frozen=True, slots=True)
class BrandConfig:
    id: int
    slug: str
    tz: zoneinfo.ZoneInfo
    currency: str
    fraud_mode: str
    fraud_threshold: int
    botd_enabled: bool
    coupon_first: bool


@dataclass(frozen=True, slots=True)
class RuleConfig:
    partner_id: int | None
    event_type: str
    payout_type: str
    payout_amount: Decimal
    revenue_type: str
    revenue_amount: Decimal | None


NO_DEEP_LINKS = DeepLinkPolicy()


@dataclass(frozen=True, slots=True)
class OfferConfig:
    id: int
    slug: str
    status: str
    destination_url: str
    fallback_url: str
    currency: str
    payout_type: str
    payout_amount: Decimal
    revenue_type: str
    revenue_amount: Decimal
    rules: tuple[RuleConfig, ...]
    daily_cap: int | None
    weekly_cap: int | None
    monthly_cap: int | None
    cap_mode: str
    geo_allow: frozenset[str]
    device_allow: frozenset[str]
    is_private: bool
    allowed_partner_ids: frozenset[int]
    postback_secret: str
    previous_postback_secret: str
    previous_secret_valid_until: datetime | None
    postback_allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    allow_unsigned_postbacks: bool
    postback_url_template: str | None
    min_conversion_seconds: int
    attribution_window_days: int
    # The deep-link allowlist, parsed once per config load (core.deep_links).
    deep_links: DeepLinkPolicy = NO_DEEP_LINKS

    @property
    def has_caps(self) -> bool:
        return any(cap is not None for cap in (self.daily_cap, self.weekly_cap, self.monthly_cap))


@dataclass(frozen=True, slots=True)
class PartnerConfig:
    id: int
    slug: str
    status: str


def clear() -> None:
    clear_process_cache()


def brand_config(slug: str) -> BrandConfig | None:
    def load() -> BrandConfig | None:
        brand = Brand.objects.filter(slug=slug).first()
        if brand is None:
            return None
        return BrandConfig(
            id=brand.pk,
            slug=brand.slug,
            tz=zoneinfo.ZoneInfo(brand.timezone),
            currency=brand.currency,
            fraud_mode=brand.fraud_mode,
            fraud_threshold=brand.fraud_threshold,
            botd_enabled=brand.botd_enabled,
            coupon_first=brand.attribution_precedence == "coupon",
        )

    # Brand existence is cached without a generation (brands are never deleted); its
    # settings are re-read through the generation check below.
    found = cached_for_brand(
        ("brand-id", slug),
        None,
        lambda: Brand.objects.filter(slug=slug).values_list("pk", flat=True).first(),
        stale_on_db_error=True,
    )
    if found is None:
        return None
    return cached_for_brand(("brand", slug), found, load, stale_on_db_error=True)


def offer_config(brand: BrandConfig, slug: str) -> OfferConfig | None:
    def load() -> OfferConfig | None:
        offer = Offer.objects.filter(brand_id=brand.id, slug=slug).first()
        if offer is None:
            return None
        rules = tuple(
            RuleConfig(
                partner_id=rule.partner_id,
                event_type=rule.event_type,
                payout_type=rule.payout_type,
                payout_amount=rule.payout_amount,
                revenue_type=rule.revenue_type,
                revenue_amount=rule.revenue_amount,
            )
            for rule in PayoutRule.objects.filter(offer=offer)
        )
        allowed = (
            frozenset(offer.allowed_partners.values_list("pk", flat=True))
            if offer.is_private
            else frozenset()
        )
        return OfferConfig(
            id=offer.pk,
            slug=offer.slug,
            status=offer.status,
            destination_url=offer.destination_url,
            fallback_url=offer.fallback_url,
            currency=offer.currency,
            payout_type=offer.payout_type,
            payout_amount=offer.payout_amount,
            revenue_type=offer.revenue_type,
            revenue_amount=offer.revenue_amount,
            rules=rules,
            daily_cap=offer.daily_cap,
            weekly_cap=offer.weekly_cap,
            monthly_cap=offer.monthly_cap,
            cap_mode=offer.cap_mode,
            geo_allow=frozenset(offer.geo_allow),
            device_allow=frozenset(offer.device_allow),
            is_private=offer.is_private,
            allowed_partner_ids=allowed,
            # Plaintext: the model field decrypts on load (core.secrets_crypto), so this
            # cached config is the one place the postback path holds a usable secret.
            postback_secret=offer.postback_secret,
            previous_postback_secret=offer.previous_postback_secret,
            previous_secret_valid_until=offer.previous_secret_valid_until,
            postback_allowed_networks=tuple(
                ipaddress.ip_network(net, strict=False) for net in offer.postback_allowed_ips
            ),
            allow_unsigned_postbacks=offer.allow_unsigned_postbacks,
            postback_url_template=offer.postback_url_template,
            min_conversion_seconds=offer.min_conversion_seconds,
            attribution_window_days=offer.attribution_window_days,
            deep_links=DeepLinkPolicy.parse(
                offer.deep_link_hosts, destination_url=offer.destination_url
            ),
        )

    return cached_for_brand(("offer", brand.slug, slug), brand.id, load, stale_on_db_error=True)


def partner_config(brand: BrandConfig, slug: str) -> PartnerConfig | None:
    def load() -> PartnerConfig | None:
        row = (
            Partner.objects.filter(brand_id=brand.id, slug=slug)
            .values("pk", "slug", "status")
            .first()
        )
        return PartnerConfig(id=row["pk"], slug=row["slug"], status=row["status"]) if row else None

    return cached_for_brand(("partner", brand.slug, slug), brand.id, load, stale_on_db_error=True)
