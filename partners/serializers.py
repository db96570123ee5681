"""Partner and coupon contracts, shared by REST and MCP."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.serializers import PageArguments, StrictSerializer
from offers.serializers import SLUG_FIELD
from partners.models import Coupon, CouponStatus, Partner, PartnerStatus


class PartnerOutput(serializers.Serializer[Partner]):
    partner_id = serializers.CharField(
        source="slug", help_text="The partner's slug: its id in every tool and in tracking links."
    )
    name = serializers.CharField(help_text="Display name.")
    email = serializers.CharField(help_text="Contact email; empty if none.")
    website = serializers.CharField(help_text="Partner's website; empty if none.")
    postback_url_template = serializers.CharField(
        help_text="The partner's own outbound postback URL, called for its conversions beside "
        "the offer's (same placeholders, e.g. {CLICK_ID} {STATUS} {EVENT}); empty if none."
    )
    payout_currency = serializers.CharField(
        help_text="The ISO 4217 currency the partner is paid in: each payout also states its "
        "amount in it, at the rate of the day it is generated; empty: the payout's own currency."
    )
    status = serializers.CharField(
        help_text="pending (application awaiting a decision), active (may send traffic), paused "
        "or rejected."
    )
    applied_at = serializers.DateTimeField(
        allow_null=True, help_text="When the partner applied; null if the brand created it."
    )
    approved_at = serializers.DateTimeField(
        allow_null=True, help_text="When the partner was approved; null if never."
    )
    created_at = serializers.DateTimeField(
        help_text="When the partner was created (ISO 8601, UTC)."
    )
    updated_at = serializers.DateTimeField(
        help_text="When the partner was last changed (ISO 8601, UTC)."
    )


class PartnerListFilters(PageArguments):
    status = serializers.ChoiceField(choices=PartnerStatus.choices, required=False)
    search = serializers.CharField(max_length=100, required=False)


class PartnerCreateInput(StrictSerializer):
    name = serializers.CharField(max_length=200)
    partner_id = serializers.RegexField(required=False, **SLUG_FIELD)
    email = serializers.EmailField(required=False, allow_blank=True)
    website = serializers.URLField(max_length=500, required=False, allow_blank=True)
    status = serializers.ChoiceField(
        choices=[PartnerStatus.ACTIVE, PartnerStatus.PENDING], default=PartnerStatus.ACTIVE
    )


class PartnerUpdateInput(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    email = serializers.EmailField(required=False, allow_blank=True)
    website = serializers.URLField(max_length=500, required=False, allow_blank=True)
    postback_url_template = serializers.URLField(max_length=2048, required=False, allow_blank=True)
    payout_currency = serializers.RegexField(
        r"^(?:[A-Z]{3})?\Z",
        required=False,
        allow_blank=True,
        help_text="ISO 4217 code the partner is paid in (docs/currencies.md); empty: each "
        "payout's own currency.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("Give at least one field to change.")
        return attrs


class CouponOutput(serializers.Serializer[Coupon]):
    code = serializers.CharField(help_text="The coupon code as customers type it.")
    partner_id = serializers.CharField(
        source="partner.slug", help_text="The partner a sale with this coupon is attributed to."
    )
    offer_id = serializers.SerializerMethodField(
        help_text="The offer the coupon is limited to; null: any of the brand's offers."
    )
    status = serializers.CharField(
        help_text="active or disabled (a disabled coupon attributes nothing)."
    )
    max_uses = serializers.IntegerField(
        allow_null=True, help_text="Most conversions the coupon may attribute; null: unlimited."
    )
    used_count = serializers.IntegerField(
        help_text="Conversions attributed through the coupon so far."
    )
    created_at = serializers.DateTimeField(help_text="When the coupon was created (ISO 8601, UTC).")

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_offer_id(self, coupon: Coupon) -> str | None:
        return coupon.offer.slug if coupon.offer is not None else None


class CouponListFilters(PageArguments):
    partner_id = serializers.RegexField(required=False, **SLUG_FIELD)
    offer_id = serializers.RegexField(required=False, **SLUG_FIELD)
    status = serializers.ChoiceField(choices=CouponStatus.choices, required=False)


class CouponCreateInput(StrictSerializer):
    partner_id = serializers.RegexField(**SLUG_FIELD)
    code = serializers.RegexField(r"^[A-Za-z0-9_-]{1,64}$")
    offer_id = serializers.RegexField(required=False, allow_null=True, **SLUG_FIELD)
    max_uses = serializers.IntegerField(min_value=1, required=False, allow_null=True)
