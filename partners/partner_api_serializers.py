"""Contracts of partner API keys (brand side) and of a partner's own profile and offers
(partner side), shared by REST and MCP."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.serializers import PageArguments, StrictSerializer
from partners.models import InvitationStatus, Partner, PartnerApiKey, PartnerInvitation

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
    postback_url_template = serializers.CharField(
        help_text="Your outbound postback URL: called for each of your conversions, with "
        "{CLICK_ID}, {PAYOUT}, {SUB1}… filled in; empty: none."
    )
    payout_method = serializers.CharField(
        help_text="How you are paid: one of payout_methods; empty: not chosen yet."
    )
    payout_details_hint = serializers.SerializerMethodField(
        help_text="The end of your payout details (…1234); the rest is never shown."
    )
    payout_methods = serializers.ListField(
        source="brand.payout_methods",
        child=serializers.CharField(),
        help_text="The payout methods the brand offers (its closed list).",
    )
    payout_currency = serializers.CharField(
        help_text="The ISO 4217 currency you are paid in: each payout is also stated in it, at "
        "the rate of the day it is generated; empty: each payout's own currency."
    )
    payout_currencies = serializers.SerializerMethodField(
        help_text="The currencies you may choose (the brand's own and those it has exchange "
        "rates for)."
    )

    def get_payout_details_hint(self, partner: Partner) -> str:
        from partners.self_service import payout_details_hint

        return payout_details_hint(partner)

    def get_payout_currencies(self, partner: Partner) -> list[str]:
        from brands.fx import payout_currency_choices

        return payout_currency_choices(brand=partner.brand)


class PartnerProfileUpdateInput(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False, help_text="Your display name.")
    website = serializers.URLField(
        max_length=500, required=False, allow_blank=True, help_text="Your website (http/https)."
    )
    postback_url_template = serializers.URLField(
        max_length=2048,
        required=False,
        allow_blank=True,
        help_text="Your outbound postback URL (https), with placeholders such as {CLICK_ID}, "
        "{PAYOUT}, {SUB1}; empty: none. Checked against private and internal addresses.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not set(attrs) - {"dry_run"}:
            raise serializers.ValidationError("Give at least one field to change.")
        return attrs


class PartnerOfferLinkOutput(serializers.Serializer[dict[str, Any]]):
    offer_id = serializers.CharField(help_text="The offer's slug.")
    name = serializers.CharField(help_text="The offer's name.")
    currency = serializers.CharField(help_text="ISO 4217 code of the offer's amounts.")
    tracking_link = serializers.CharField(
        help_text="Your tracking link; add sub1…sub5 as query parameters to tag your traffic."
    )
    deep_link_hosts = serializers.ListField(
        child=serializers.CharField(),
        help_text="Hosts your link's url= may land on (*.example.com: its subdomains); empty: "
        "no deep links, every click lands on the offer's page.",
    )


SUB_HELP = "A sub id to tag your traffic (up to 255 characters); comes back in your reports."


class PartnerLinkInput(StrictSerializer):
    offer_id = serializers.RegexField(
        r"^[a-z0-9][a-z0-9_-]{0,63}$", help_text="The offer's id (slug), from list_my_offers."
    )
    url = serializers.CharField(
        max_length=2048,
        required=False,
        allow_blank=True,
        help_text="A deep link: the page the click should land on, on a host the offer allows "
        "(deep_link_hosts); empty: the offer's own page.",
    )
    sub1 = serializers.CharField(
        max_length=255, required=False, allow_blank=True, help_text=SUB_HELP
    )
    sub2 = serializers.CharField(
        max_length=255, required=False, allow_blank=True, help_text=SUB_HELP
    )
    sub3 = serializers.CharField(
        max_length=255, required=False, allow_blank=True, help_text=SUB_HELP
    )
    sub4 = serializers.CharField(
        max_length=255, required=False, allow_blank=True, help_text=SUB_HELP
    )
    sub5 = serializers.CharField(
        max_length=255, required=False, allow_blank=True, help_text=SUB_HELP
    )


class PartnerLinkOutput(serializers.Serializer[dict[str, Any]]):
    offer_id = serializers.CharField(help_text="The offer's slug.")
    tracking_link = serializers.CharField(
        help_text="Your link with its sub ids and deep link, ready to share."
    )
    deep_link = serializers.CharField(
        help_text="The landing page the link carries, as the click will use it; empty: the "
        "offer's own page."
    )


class PartnerInviteInput(StrictSerializer):
    email = serializers.EmailField(max_length=254, help_text="The address to invite.")
    name = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="Their name, for the email."
    )


class PartnerInvitationListFilters(PageArguments):
    status = serializers.ChoiceField(
        choices=InvitationStatus.choices,
        required=False,
        help_text="pending, accepted, expired or revoked.",
    )
    email = serializers.EmailField(
        max_length=254, required=False, help_text="Only the invitations of this address."
    )


class PartnerInvitationOutput(serializers.Serializer[PartnerInvitation]):
    invitation_id = serializers.CharField(
        help_text="The invitation's id (inv_…), for resend and revoke."
    )
    email = serializers.CharField(help_text="The invited address.")
    name = serializers.CharField(help_text="The name given for the email; may be empty.")
    status = serializers.CharField(
        help_text="pending (the link works), accepted (they applied through it and were "
        "approved), expired (not used in time; resend it) or revoked."
    )
    invited_by = serializers.CharField(help_text="Who invited, as the audit log names them.")
    created_at = serializers.DateTimeField(help_text="When it was first sent (ISO 8601, UTC).")
    last_sent_at = serializers.DateTimeField(
        allow_null=True, help_text="When it was last sent (resends); null: before resends existed."
    )
    sent_count = serializers.IntegerField(help_text="How many times it was sent (1 + resends).")
    expires_at = serializers.DateTimeField(help_text="Until when the latest link works.")
    accepted_at = serializers.DateTimeField(
        allow_null=True, help_text="When they applied through it (approved at once); null: not yet."
    )
    revoked_at = serializers.DateTimeField(
        allow_null=True, help_text="When the brand withdrew it; null: not withdrawn."
    )
    partner_id = serializers.CharField(
        source="partner.slug",
        allow_null=True,
        default=None,
        help_text="The partner it became, once accepted; else null.",
    )


class PartnerPayoutDetailsInput(StrictSerializer):
    payout_method = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        help_text="One of the brand's payout_methods (see get_my_profile).",
    )
    payout_details = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        trim_whitespace=True,
        help_text="What the method needs: an account, an address (at most 500 characters; "
        "kept encrypted, shown back only as its last four characters).",
    )
    payout_currency = serializers.RegexField(
        r"^(?:[A-Za-z]{3})?$",
        required=False,
        allow_blank=True,
        help_text="The ISO 4217 currency you are paid in, one of payout_currencies (see "
        "get_my_profile); empty: each payout's own currency.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The write contract adds dry_run to every input: it is not a field to change.
        if not set(attrs) - {"dry_run"}:
            raise serializers.ValidationError(
                "Give payout_method, payout_details, payout_currency or a few of them."
            )
        return attrs
