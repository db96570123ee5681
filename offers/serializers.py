"""The offer contract, shared by REST and MCP (field names are the MCP tools' arguments)."""

from __future__ import annotations

from typing import Any, TypedDict

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.links import inbound_postback_url, tracking_link_template
from core.serializers import PageArguments, StrictSerializer
from offers.models import (
    ATTRIBUTION_WINDOW_MAX_DAYS,
    HOLD_DAYS_MAX,
    AmountType,
    CapMode,
    DeviceClass,
    Offer,
    OfferStatus,
    PayoutRule,
)


# Field arguments spread into several fields (`**MONEY`); typed, so each spread is checked.
class MoneyArguments(TypedDict):
    max_digits: int
    decimal_places: int
    min_value: int


class SlugArguments(TypedDict):
    max_length: int
    regex: str


MONEY: MoneyArguments = {"max_digits": 14, "decimal_places": 2, "min_value": 0}
SLUG_FIELD: SlugArguments = {
    "max_length": 64,
    "regex": r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$",
}


class PayoutRuleOutput(serializers.Serializer[PayoutRule]):
    partner_id = serializers.SerializerMethodField(
        help_text="The partner this rule is for; null: every partner on the offer."
    )
    event_type = serializers.CharField(
        help_text="The conversion event type the rule applies to (e.g. sale, lead)."
    )
    payout_type = serializers.CharField(
        help_text="flat (a fixed amount) or percent (of the sale amount)."
    )
    payout_amount = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        help_text="What the partner earns per conversion: an amount in the offer's currency, or a "
        "percentage when payout_type is percent (decimal string).",
    )
    revenue_type = serializers.CharField(
        help_text="flat (a fixed amount) or percent (of the sale amount)."
    )
    revenue_amount = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        allow_null=True,
        help_text="What the brand books as revenue per conversion (as payout_amount); null: the "
        "offer's revenue applies.",
    )

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_partner_id(self, rule: PayoutRule) -> str | None:
        return rule.partner.slug if rule.partner is not None else None


class CapsOutput(serializers.Serializer[Offer]):
    daily = serializers.IntegerField(
        source="daily_cap",
        allow_null=True,
        help_text="Most conversions counted per day (brand time zone); null: no daily cap.",
    )
    weekly = serializers.IntegerField(
        source="weekly_cap",
        allow_null=True,
        help_text="Most conversions counted per week (brand time zone); null: no weekly cap.",
    )
    monthly = serializers.IntegerField(
        source="monthly_cap",
        allow_null=True,
        help_text="Most conversions counted per month (brand time zone); null: no monthly cap.",
    )
    mode = serializers.CharField(
        source="cap_mode",
        help_text="What happens over a cap: soft holds the conversion for review "
        "(pending_review), hard rejects it.",
    )


class OfferOutput(serializers.Serializer[Offer]):
    offer_id = serializers.CharField(
        source="slug", help_text="The offer's slug: its id in every tool and in tracking links."
    )
    name = serializers.CharField(help_text="Display name.")
    status = serializers.CharField(
        help_text="active (takes clicks), paused (refuses clicks, keeps its config) or archived."
    )
    destination_url = serializers.CharField(
        help_text="Where an accepted click is redirected; may carry {PLACEHOLDERS} such as "
        "{CLICK_ID}."
    )
    fallback_url = serializers.CharField(
        help_text="Where a refused click is sent instead (paused offer, cap, geo/device); empty: "
        "no fallback."
    )
    currency = serializers.CharField(help_text="ISO 4217 code of every amount on this offer.")
    payout_type = serializers.CharField(
        help_text="flat (a fixed amount) or percent (of the sale amount)."
    )
    payout_amount = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        help_text="Default partner payout per conversion: an amount in currency, or a percentage "
        "when payout_type is percent (decimal string).",
    )
    revenue_type = serializers.CharField(
        help_text="flat (a fixed amount) or percent (of the sale amount)."
    )
    revenue_amount = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        help_text="Default revenue the brand books per conversion (as payout_amount).",
    )
    payout_rules = PayoutRuleOutput(
        many=True,
        help_text="Overrides of the default payout/revenue by event type and partner; the most "
        "specific rule wins.",
    )
    caps = CapsOutput(source="*", help_text="Conversion caps and what happens over them.")
    geo_allow = serializers.ListField(
        child=serializers.CharField(),
        help_text="ISO 3166 country codes clicks are accepted from; empty: every country.",
    )
    device_allow = serializers.ListField(
        child=serializers.CharField(),
        help_text="Device classes clicks are accepted from (desktop, mobile, tablet); empty: "
        "every device.",
    )
    is_private = serializers.BooleanField(
        help_text="True: only allowed_partner_ids may send clicks."
    )
    allowed_partner_ids = serializers.SerializerMethodField(
        help_text="Partners admitted when is_private (ignored otherwise)."
    )
    deep_link_hosts = serializers.ListField(
        child=serializers.CharField(),
        help_text="Hosts a tracking link's url= may land on (shop.example.com, or *.example.com "
        "for its subdomains); any other url= goes to destination_url. Empty: no deep links.",
    )
    min_conversion_seconds = serializers.IntegerField(
        help_text="Conversions sooner than this after their click are scored as suspicious; 0: no "
        "minimum."
    )
    attribution_window_days = serializers.IntegerField(
        help_text="Days a click may convert after it was made; a postback naming an older click "
        "is refused with click_expired (a coupon in it still attributes the sale)."
    )
    hold_days = serializers.IntegerField(
        allow_null=True,
        help_text="Days a pending, unflagged conversion waits before the worker approves it; "
        "null: the brand's default_hold_days applies.",
    )
    effective_hold_days = serializers.SerializerMethodField(
        help_text="The hold in force: hold_days, else the brand's default_hold_days; null: "
        "conversions wait for a person (no auto-approval)."
    )
    recurring_months = serializers.IntegerField(
        help_text="Recurring commissions (Stripe invoices after a customer's first payment): for "
        "how many months after the first payment renewals earn one; 0: none."
    )
    recurring_rate_percent = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        help_text="A renewal earns this percent of the payout the offer's rules give it (event "
        "renewal); 100: the same.",
    )
    postback_url_template = serializers.CharField(
        allow_null=True,
        help_text="The advertiser-side URL Trcker calls (outbound postback) for each conversion, "
        "with {PLACEHOLDERS}; null: none.",
    )
    # The secret's value never leaves the server through a read: only whether one is set.
    has_postback_secret = serializers.SerializerMethodField(
        help_text="Whether an inbound-postback secret is set (its value is never shown again; "
        "rotate to get a new one)."
    )
    postback_allowed_ips = serializers.ListField(
        child=serializers.CharField(),
        help_text="IP addresses or networks (CIDR) inbound postbacks may come from, which then "
        "need no signature; empty: any address, signature required.",
    )
    allow_unsigned_postbacks = serializers.BooleanField(
        help_text="True: inbound postbacks are accepted without a signature or secret (not "
        "recommended)."
    )
    inbound_postback_url = serializers.SerializerMethodField(
        help_text="The URL template the advertiser calls to report a conversion ({click_id} etc. "
        "to fill in)."
    )
    tracking_link_template = serializers.SerializerMethodField(
        help_text="The click URL a partner shares, with {PARTNER_ID} to fill in."
    )
    created_at = serializers.DateTimeField(help_text="When the offer was created (ISO 8601, UTC).")
    updated_at = serializers.DateTimeField(
        help_text="When the offer was last changed (ISO 8601, UTC)."
    )

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_allowed_partner_ids(self, offer: Offer) -> list[str]:
        # Meaningful only when is_private; the click handler admits only these partners.
        return [partner.slug for partner in offer.allowed_partners.all()]

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_effective_hold_days(self, offer: Offer) -> int | None:
        return offer.effective_hold_days

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_has_postback_secret(self, offer: Offer) -> bool:
        return bool(offer.postback_secret)

    # A URL template ({click_id} etc. for the advertiser to fill), so not a strict "uri".
    @extend_schema_field(OpenApiTypes.STR)
    def get_inbound_postback_url(self, offer: Offer) -> str:
        return inbound_postback_url(brand_slug=offer.brand.slug, offer_slug=offer.slug)

    @extend_schema_field(OpenApiTypes.STR)
    def get_tracking_link_template(self, offer: Offer) -> str:
        return tracking_link_template(brand_slug=offer.brand.slug, offer_slug=offer.slug)


class OfferListFilters(PageArguments):
    status = serializers.ChoiceField(choices=OfferStatus.choices, required=False)


class OfferCreateInput(StrictSerializer):
    name = serializers.CharField(max_length=200)
    destination_url = serializers.URLField(max_length=2048)
    payout_type = serializers.ChoiceField(choices=AmountType.choices, default=AmountType.FLAT)
    payout_amount = serializers.DecimalField(**MONEY)
    offer_id = serializers.RegexField(required=False, **SLUG_FIELD)
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False)
    revenue_type = serializers.ChoiceField(choices=AmountType.choices, default=AmountType.FLAT)
    revenue_amount = serializers.DecimalField(**MONEY, required=False)
    fallback_url = serializers.URLField(max_length=2048, required=False, allow_blank=True)
    postback_url_template = serializers.URLField(max_length=2048, required=False, allow_null=True)
    geo_allow = serializers.ListField(
        child=serializers.CharField(min_length=2, max_length=2), required=False, max_length=250
    )
    device_allow = serializers.ListField(
        child=serializers.ChoiceField(choices=DeviceClass.choices), required=False, max_length=3
    )
    deep_link_hosts = serializers.ListField(
        child=serializers.CharField(max_length=300), required=False, max_length=50
    )


class OfferUpdateInput(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    destination_url = serializers.URLField(max_length=2048, required=False)
    fallback_url = serializers.URLField(
        max_length=2048, required=False, allow_blank=True, allow_null=True
    )
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False)
    payout_type = serializers.ChoiceField(choices=AmountType.choices, required=False)
    payout_amount = serializers.DecimalField(**MONEY, required=False)
    revenue_type = serializers.ChoiceField(choices=AmountType.choices, required=False)
    revenue_amount = serializers.DecimalField(**MONEY, required=False)
    # null clears the template (no outbound postback).
    postback_url_template = serializers.URLField(max_length=2048, required=False, allow_null=True)
    geo_allow = serializers.ListField(
        child=serializers.CharField(min_length=2, max_length=2), required=False, max_length=250
    )
    device_allow = serializers.ListField(
        child=serializers.ChoiceField(choices=DeviceClass.choices), required=False, max_length=3
    )
    postback_allowed_ips = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=100
    )
    min_conversion_seconds = serializers.IntegerField(min_value=0, max_value=86400, required=False)
    attribution_window_days = serializers.IntegerField(
        min_value=1,
        max_value=ATTRIBUTION_WINDOW_MAX_DAYS,
        required=False,
        help_text="Days a click may convert (1–365); an older click's postback is refused "
        "click_expired.",
    )
    # null: the brand's default_hold_days (and with that null too, no auto-approval).
    hold_days = serializers.IntegerField(
        min_value=0,
        max_value=HOLD_DAYS_MAX,
        allow_null=True,
        required=False,
        help_text="Days before a pending, unflagged conversion is approved automatically "
        "(0–365); null: the brand's default_hold_days.",
    )
    recurring_months = serializers.IntegerField(min_value=0, max_value=120, required=False)
    recurring_rate_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, max_value=100, required=False
    )
    is_private = serializers.BooleanField(required=False)
    deep_link_hosts = serializers.ListField(
        child=serializers.CharField(max_length=300), required=False, max_length=50
    )
    # true accepts postbacks with no signature and no allowed IP (docs/tracking.md, "Proving
    # origin"); anyone who learns the postback URL can then record conversions.
    allow_unsigned_postbacks = serializers.BooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("Give at least one field to change.")
        return attrs


class OfferSetCapsInput(StrictSerializer):
    daily = serializers.IntegerField(min_value=0, allow_null=True, required=False)
    weekly = serializers.IntegerField(min_value=0, allow_null=True, required=False)
    monthly = serializers.IntegerField(min_value=0, allow_null=True, required=False)
    mode = serializers.ChoiceField(choices=CapMode.choices, required=False)


class PayoutRuleInput(StrictSerializer):
    """adjust_payout (partner_id, optional event_type) and set_event_payout (event_type)."""

    partner_id = serializers.RegexField(required=False, allow_null=True, **SLUG_FIELD)
    event_type = serializers.RegexField(r"^[a-z0-9_.-]{1,64}$", required=False, allow_blank=True)
    payout_type = serializers.ChoiceField(choices=AmountType.choices)
    payout_amount = serializers.DecimalField(**MONEY)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("partner_id") and not attrs.get("event_type"):
            raise serializers.ValidationError("Give partner_id, event_type, or both.")
        if attrs["payout_type"] == AmountType.PERCENT and attrs["payout_amount"] > 100:
            raise serializers.ValidationError(
                {"payout_amount": ["A percentage must be at most 100."]}
            )
        return attrs


class AllowedPartnersInput(StrictSerializer):
    partner_ids = serializers.ListField(child=serializers.RegexField(**SLUG_FIELD), max_length=1000)
    is_private = serializers.BooleanField(default=True)


class RotateSecretInput(StrictSerializer):
    grace_seconds = serializers.IntegerField(min_value=0, max_value=7 * 24 * 3600, required=False)


class RotateSecretOutput(serializers.Serializer[dict[str, Any]]):
    offer_id = serializers.CharField(help_text="The offer's slug.")
    postback_secret = serializers.CharField(help_text="Shown once; store it now.")
    previous_secret_valid_until = serializers.DateTimeField(
        allow_null=True,
        help_text="Until when the old secret still verifies postbacks (grace period); null: it "
        "stopped at once.",
    )
    inbound_postback_url = serializers.CharField(
        help_text="The URL template the advertiser calls to report a conversion."
    )


def rotation_view(result: tuple[Offer, str]) -> dict[str, Any]:
    """What RotateSecretOutput renders for offer_rotate_postback_secret's (offer, secret)."""
    offer, secret = result
    return {
        "offer_id": offer.slug,
        "postback_secret": secret,
        "previous_secret_valid_until": offer.previous_secret_valid_until,
        "inbound_postback_url": inbound_postback_url(
            brand_slug=offer.brand.slug, offer_slug=offer.slug
        ),
    }


class OfferCreateOutput(OfferOutput):
    postback_secret = serializers.CharField(
        help_text="The offer's inbound-postback secret. Shown once, in this answer; store it now "
        "(rotate to get a new one)."
    )
