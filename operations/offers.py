"""Offer operations: the offer list and configuration, and every change to an offer."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from audit.actor import Actor, Scope
from conversions.diagnosis import MAX_DAYS, OfferDiagnosisOutput
from core.serializers import StrictSerializer
from integrations.diagnosis import offer_diagnose
from offers import selectors, services
from offers.models import Offer
from offers.serializers import (
    AllowedPartnersInput,
    OfferCreateInput,
    OfferCreateOutput,
    OfferListFilters,
    OfferOutput,
    OfferSetCapsInput,
    OfferUpdateInput,
    PayoutRuleInput,
    RotateSecretInput,
    RotateSecretOutput,
    rotation_view,
)
from operations.declaration import (
    READ,
    WRITE_ADDITIVE,
    WRITE_ONE_WAY,
    WRITE_UPDATE,
    Operation,
    RestRoute,
    ToolSpec,
    refetch,
)
from operations.lookups import OFFER, OFFER_ID, OPTIONAL_PARTNER, PARTNERS

TAG = "offers"
FRESH_OFFER = refetch(selectors.offer_get_for_actor, "offer_id", "slug")


class OfferRef(StrictSerializer):
    offer_id = serializers.RegexField(**OFFER_ID)


class DiagnoseOfferArguments(StrictSerializer):
    offer_id = serializers.RegexField(**OFFER_ID)
    days = serializers.IntegerField(
        min_value=1, max_value=MAX_DAYS, default=7, help_text="The last N days (default 7)."
    )


class UpdateOfferArguments(OfferUpdateInput):
    offer_id = serializers.RegexField(**OFFER_ID)


class RotateSecretArguments(RotateSecretInput):
    offer_id = serializers.RegexField(**OFFER_ID)


class SetCapArguments(OfferSetCapsInput):
    offer_id = serializers.RegexField(**OFFER_ID)


class AllowedPartnersArguments(AllowedPartnersInput):
    offer_id = serializers.RegexField(**OFFER_ID)


class AdjustPayoutArguments(PayoutRuleInput):
    offer_id = serializers.RegexField(**OFFER_ID)


class EventPayoutArguments(PayoutRuleInput):
    offer_id = serializers.RegexField(**OFFER_ID)
    event_type = serializers.RegexField(
        r"^[a-z0-9_.-]{1,64}$", help_text="e.g. signup, trial, purchase"
    )

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        fields.pop("partner_id", None)
        return fields


def _rule_offer(actor: Actor, rule: Any) -> Offer:
    return selectors.offer_get_for_actor(actor=actor, offer_id=rule.offer.slug)


def _rotation(actor: Actor, result: tuple[Offer, str]) -> dict[str, Any]:
    return rotation_view(result)


def _transition(
    name: str, verb: str, service: Any, description: str, tool: str | ToolSpec | None
) -> Operation:
    return Operation(
        name=name,
        description=description,
        input=OfferRef,
        run=service,
        lookups=(OFFER,),
        present=FRESH_OFFER,
        output=OfferOutput,
        scope=Scope.WRITE,
        rest=RestRoute("POST", f"offers/<offer_id>/{verb}/", f"offer-{verb}", TAG),
        tool=ToolSpec(tool, WRITE_UPDATE) if isinstance(tool, str) else tool,
    )


OPERATIONS = [
    Operation(
        name="list_offers",
        description="The brand's offers, newest first, optionally by status (active, paused, archived).",
        input=OfferListFilters,
        run=selectors.offer_list,
        output=OfferOutput,
        shape="page",
        scope=Scope.READ,
        rest=RestRoute("GET", "offers/", "offer-list", TAG),
        tool=ToolSpec("Offers", READ),
    ),
    Operation(
        name="create_offer",
        description="Create an active offer. Required: name, destination_url (may hold {CLICK_ID}, "
        "{PARTNER_ID}, {SUB1}…{SUB5}), payout_amount; payout_type flat (default) or percent of the "
        "sale. Optional: offer_id (slug; derived from the name if omitted), currency (default the "
        "brand's), revenue_type/revenue_amount, fallback_url, postback_url_template, geo_allow (ISO "
        "country codes), device_allow (desktop, mobile, tablet). The answer carries the offer's "
        "inbound-postback secret (postback_secret) ONCE: store it; unsigned postbacks are refused "
        "unless update_offer sets allow_unsigned_postbacks or postback_allowed_ips.",
        input=OfferCreateInput,
        run=services.offer_create,
        present=FRESH_OFFER,
        output=OfferCreateOutput,
        scope=Scope.WRITE,
        rest=RestRoute("POST", "offers/", "offer-create", TAG, status=201),
        tool=ToolSpec("Create offer", WRITE_ADDITIVE),
        shows_secret=True,
    ),
    Operation(
        name="get_offer_config",
        description="Full configuration of one offer: destination URL, payout and revenue with their "
        "per-partner/per-event rules, caps, geo and device targeting, the outbound "
        "postback_url_template, whether an inbound postback secret is set (has_postback_secret; "
        "the value is never shown), allowed postback IPs, the inbound_postback_url to hand to the "
        'advertiser, and the partner tracking_link_template. Example: {"offer_id": "spring-sale"}.',
        input=OfferRef,
        run=selectors.offer_get_for_actor,
        output=OfferOutput,
        scope=Scope.READ,
        rest=RestRoute("GET", "offers/<offer_id>/", "offer-detail", TAG),
        tool=ToolSpec("Offer configuration", READ),
    ),
    Operation(
        name="update_offer",
        description="Change an offer: name, destination_url, payout_type, payout_amount, revenue, "
        "fallback_url, geo/device targeting, postback_allowed_ips, allow_unsigned_postbacks, "
        "attribution_window_days (1–365: older clicks no longer convert), hold_days (0–365 days "
        "before pending, unflagged conversions are approved automatically; null: the brand's "
        "default), or postback_url_template (the URL Trcker calls on each conversion; "
        "placeholders {CLICK_ID} {CONVERSION_ID} {AMOUNT} {TXN_ID} {EVENT_TYPE}; pass null to "
        "clear). Only the fields given change.",
        input=UpdateOfferArguments,
        run=services.offer_update,
        lookups=(OFFER,),
        present=FRESH_OFFER,
        output=OfferOutput,
        scope=Scope.WRITE,
        rest=RestRoute("PATCH", "offers/<offer_id>/", "offer-update", TAG),
        tool=ToolSpec("Update offer", WRITE_UPDATE),
    ),
    _transition(
        "pause_offer",
        "pause",
        services.offer_pause,
        "Pause an offer brand-wide: the click handler refuses new clicks (to the fallback URL if "
        "set). Recorded conversions are untouched. Undo with resume_offer.",
        "Pause offer",
    ),
    _transition(
        "resume_offer",
        "resume",
        services.offer_resume,
        "Resume a paused offer (status paused → active) so the click handler accepts its clicks "
        'again. Example: {"offer_id": "spring-sale"}.',
        "Resume offer",
    ),
    _transition(
        "archive_offer",
        "archive",
        services.offer_archive,
        "Archive an offer: it stops taking clicks and leaves the active lists; its history "
        "stays. Final: an archived offer cannot be resumed.",
        ToolSpec("Archive offer", WRITE_ONE_WAY),
    ),
    Operation(
        name="set_cap",
        description="Set an offer's conversion caps per day, week and month (brand time zone). Only "
        "the caps given change: an omitted cap is kept, null clears one. mode soft (default: "
        'over-cap conversions held for review) or hard (rejected). Example: {"offer_id": '
        '"spring-sale", "daily": 250} keeps the weekly and monthly caps.',
        input=SetCapArguments,
        run=services.offer_set_caps,
        lookups=(OFFER,),
        present=FRESH_OFFER,
        output=OfferOutput,
        scope=Scope.WRITE,
        rest=RestRoute("POST", "offers/<offer_id>/caps/", "offer-caps", TAG),
        tool=ToolSpec("Set caps", WRITE_UPDATE),
    ),
    Operation(
        name="set_allowed_partners",
        description="Make an offer private to the listed partners (only their clicks count), or "
        "public again with is_private false.",
        input=AllowedPartnersArguments,
        run=services.offer_set_allowed_partners,
        lookups=(OFFER, PARTNERS),
        present=FRESH_OFFER,
        output=OfferOutput,
        scope=Scope.WRITE,
        rest=RestRoute(
            "POST", "offers/<offer_id>/allowed-partners/", "offer-allowed-partners", TAG
        ),
        tool=ToolSpec("Set allowed partners", WRITE_UPDATE),
    ),
    Operation(
        name="adjust_payout",
        description="Set a per-partner payout override on an offer (optionally only for one "
        "event_type). payout_type flat (amount in the offer currency) or percent (of the sale, "
        '≤ 100). Example: {"offer_id": "xyz", "partner_id": "abc-123", "payout_type": '
        '"percent", "payout_amount": "15"}.',
        input=AdjustPayoutArguments,
        run=services.offer_set_payout_rule,
        lookups=(OFFER, OPTIONAL_PARTNER),
        present=_rule_offer,
        output=OfferOutput,
        scope=Scope.WRITE,
        rest=RestRoute("POST", "offers/<offer_id>/payout-rules/", "offer-payout-rules", TAG),
        tool=ToolSpec("Adjust partner payout", WRITE_UPDATE),
    ),
    Operation(
        name="set_event_payout",
        description="Set the payout for one event type on an offer (e.g. signup vs trial vs "
        "purchase), for every partner without a more specific rule.",
        input=EventPayoutArguments,
        run=services.offer_set_payout_rule,
        lookups=(OFFER,),
        present=_rule_offer,
        output=OfferOutput,
        scope=Scope.WRITE,
        rest=RestRoute("POST", "offers/<offer_id>/event-payouts/", "offer-event-payouts", TAG),
        tool=ToolSpec("Set event payout", WRITE_UPDATE),
    ),
    Operation(
        name="rotate_offer_postback_secret",
        description="Generate a new inbound-postback HMAC secret and return it ONCE (it cannot be "
        "read again). The advertiser's integration stops working until they use the new value, "
        "unless grace_seconds keeps the old secret valid for a while (max 604800).",
        input=RotateSecretArguments,
        run=services.offer_rotate_postback_secret,
        lookups=(OFFER,),
        present=_rotation,
        output=RotateSecretOutput,
        scope=Scope.WRITE,
        rest=RestRoute(
            "POST", "offers/<offer_id>/rotate-postback-secret/", "offer-rotate-postback-secret", TAG
        ),
        tool=ToolSpec("Rotate postback secret", WRITE_ONE_WAY),
        shows_secret=True,
    ),
    Operation(
        name="diagnose_offer",
        description="Why an offer has clicks but no revenue: checks whether it is paused or "
        "archived, caps are full, targeting or another refusal turns away its clicks, the "
        "destination URL lacks {CLICK_ID}, no postbacks arrive, outbound postbacks fail, or a "
        "Stripe/Shopify integration is silent, refused or unattributed — "
        "each finding with the counts behind it and the fix. Over the last `days` (default 7). "
        'Example: {"offer_id": "spring-sale"}.',
        input=DiagnoseOfferArguments,
        run=offer_diagnose,
        lookups=(OFFER,),
        output=OfferDiagnosisOutput,
        scope=Scope.READ,
        rest=RestRoute("GET", "offers/<offer_id>/diagnosis/", "offer-diagnosis", TAG),
        tool=ToolSpec("Diagnose offer", READ),
    ),
]
