"""Contracts of partner API keys (brand side) and of a partner's own profile and offers
(partner side), shared by REST and MCP."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.serializers import StrictSerializer
from partners.models import Partner, PartnerApiKey

KEY_ID_PATTERN = r"^[a-z0-9]{10}$"
KEY_ID_HELP = "The key's prefix (the 10 characters after trkp_), e.g. a1b2c3d4e5."


class PartnerApiKeyOutput(serializers.Serializer[PartnerApiKey]):
    key_id = serializers.CharField(
        source="prefix", help_text="The key's prefix: trkp_<key_id>_… (never the secret)."
    )
    partner_id = serializers.CharField(source="partner.slug", help_text="The partner's slug.")
    name = serializers.CharField(source="label", help_text="What the key is for.")
    scope = serializers.CharField(help_text="read (the default) or read_write.")
    created_by = serializers.CharField(help_text="Who made it, as the audit log labels them.")
    created_at = serializers.DateTimeField(help_text="When it was made (ISO 8601, UTC).")
    last_used_at = serializers.DateTimeField(
        allow_null=True, help_text="Last use, to the minute; null if never used."
    )
    revoked_at = serializers.DateTimeField(
        allow_null=True, help_text="When it was revoked; null while it works."
    )


class PartnerApiKeyCreatedOutput(PartnerApiKeyOutput):
    key = serializers.SerializerMethodField(
        help_text="The key, trkp_<prefix>_<secret><checksum>, shown ONCE: only its hash is kept."
    )

    def get_key(self, created: Any) -> str:
        return str(created.plaintext)


class PartnerApiKeyCreateInput(StrictSerializer):
    name = serializers.CharField(
        max_length=100, required=False, allow_blank=True, help_text="What the key is for."
    )
    write = serializers.BooleanField(
        default=False,
        help_text="true: the key may also change the partner's profile; read-only by default.",
    )


class PartnerProfileOutput(serializers.Serializer[Partner]):
    partner_id = serializers.CharField(
        source="slug", help_text="Your partner id (slug) in this brand, as in your links."
    )
    name = serializers.CharField(help_text="Your display name.")
    email = serializers.CharField(help_text="The address the brand reaches you at.")
    website = serializers.CharField(help_text="Your website; empty if none.")
    status = serializers.CharField(help_text="active or paused.")
    brand_id = serializers.CharField(source="brand.slug", help_text="The brand's slug.")
    brand_name = serializers.CharField(source="brand.name", help_text="The brand's name.")


class PartnerProfileUpdateInput(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False, help_text="Your display name.")
    website = serializers.URLField(
        max_length=500, required=False, allow_blank=True, help_text="Your website (http/https)."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("Give at least one field to change.")
        return attrs


class PartnerOfferLinkOutput(serializers.Serializer[dict[str, Any]]):
    offer_id = serializers.CharField(help_text="The offer's slug.")
    name = serializers.CharField(help_text="The offer's name.")
    currency = serializers.CharField(help_text="ISO 4217 code of the offer's amounts.")
    tracking_link = serializers.CharField(
        help_text="Your tracking link; add sub1…sub5 as query parameters to tag your traffic."
    )
