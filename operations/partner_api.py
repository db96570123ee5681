"""The partner's own operations: what a partner credential (a ``trkp_`` key) reaches on
``/api/partner/v1/`` and, as tools, on the MCP endpoint — and nothing else (docs/partners.md).

Every operation here has ``audience="partner"``: it runs only for a partner actor, and each
run function starts from the partner the actor is (partners.self_service.partner_self), so
no argument can name another partner's rows. Ids of rows a partner may not see (another
partner's conversion, a private offer that does not list them, anything of another brand)
are "not found", exactly like ids that do not exist."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from audit.actor import Actor, Scope
from conversions import partner_selectors
from conversions.partner_serializers import (
    MyReportArguments,
    MyReportOutput,
    PartnerBalanceOutput,
    PartnerConversionFilters,
    PartnerConversionOutput,
    PartnerPayoutFilters,
    PartnerPayoutOutput,
    PartnerStatsArguments,
    PartnerStatsOutput,
)
from core.serializers import PageArguments, StrictSerializer
from operations.declaration import READ, WRITE_UPDATE, Operation, RestRoute, ToolSpec
from operations.lookups import CONVERSION_ID, PAYOUT_ID
from partners import self_service
from partners.models import CouponStatus, Partner
from partners.partner_api_serializers import (
    PartnerLinkInput,
    PartnerLinkOutput,
    PartnerOfferLinkOutput,
    PartnerPayoutDetailsInput,
    PartnerProfileOutput,
    PartnerProfileUpdateInput,
)
from partners.serializers import CouponOutput

TAG = "partner"


class NoArguments(StrictSerializer):
    pass


class PartnerCouponFilters(PageArguments):
    status = serializers.ChoiceField(
        choices=CouponStatus.choices, required=False, help_text="active or disabled."
    )


class PartnerPayoutRef(StrictSerializer):
    payout_id = serializers.RegexField(PAYOUT_ID, help_text="One of your payouts' ids (pay_…).")


class PartnerStatementOutput(serializers.Serializer[dict[str, Any]]):
    payout_id = serializers.CharField(help_text="The payout's id.")
    filename = serializers.CharField(help_text="The file name the portal and REST download use.")
    csv = serializers.CharField(
        help_text="The statement: payout lines, a blank line, then one row per conversion it "
        "covers (the same file as GET /api/partner/v1/payouts/{payout_id}/statement.csv)."
    )


class PartnerConversionRef(StrictSerializer):
    conversion_id = serializers.RegexField(
        CONVERSION_ID, help_text="One of your conversions' ids (conv_…)."
    )


def _profile(*, actor: Actor) -> Partner:
    return self_service.partner_self(actor=actor)


def partner_operation(**declaration: Any) -> Operation:
    return Operation(audience="partner", **declaration)


OPERATIONS = [
    partner_operation(
        name="get_my_profile",
        description="Who this key belongs to: your partner id and name in the brand, your "
        "status, email and website, and the brand.",
        input=NoArguments,
        run=_profile,
        output=PartnerProfileOutput,
        scope=Scope.READ,
        rest=RestRoute("GET", "me/", "partner-me", TAG),
        tool=ToolSpec("My profile", READ),
    ),
    partner_operation(
        name="list_my_offers",
        description="The active offers you may promote, each with your tracking link (add sub1…"
        "sub5 to tag traffic).",
        input=NoArguments,
        run=self_service.partner_offer_links,
        output=PartnerOfferLinkOutput,
        shape="many",
        scope=Scope.READ,
        rest=RestRoute("GET", "offers/", "partner-offers", TAG),
        tool=ToolSpec("My offers and links", READ),
    ),
    partner_operation(
        name="build_my_link",
        description="Your tracking link for one offer, with sub ids (sub1…sub5) and optionally "
        "a deep link: url, a page on a host the offer allows (see deep_link_hosts in "
        'list_my_offers). Example: {"offer_id": "spring-sale", "url": '
        '"https://shop.example.com/shoes", "sub1": "newsletter"}. A url the offer does not '
        "allow is refused (deep_link_not_allowed) with the hosts it does.",
        input=PartnerLinkInput,
        run=self_service.partner_build_link,
        output=PartnerLinkOutput,
        scope=Scope.READ,
        rest=RestRoute("GET", "offers/<offer_id>/link/", "partner-offer-link", TAG),
        tool=ToolSpec("Build my link", READ),
    ),
    partner_operation(
        name="get_my_stats",
        description="Your performance per offer over a period (days, default 30, or "
        "date_from/date_to in the brand's time zone): clicks, conversions by status, sale "
        "amount, your payout, EPC and CVR. Optional offer_id narrows to one offer.",
        input=PartnerStatsArguments,
        run=partner_selectors.partner_stats,
        output=PartnerStatsOutput,
        scope=Scope.READ,
        rest=RestRoute("GET", "stats/", "partner-stats", TAG),
        tool=ToolSpec("My stats", READ),
    ),
    partner_operation(
        name="get_my_report",
        description="Your metrics (clicks, billable_clicks, refused_clicks, conversions, "
        "sale_amount, payout, epc, cvr) grouped by up to three of day, week, month, offer, "
        "event_type, country, device, sub1–sub5, outcome (why clicks were refused) and status. "
        'Example: {"metrics": ["clicks", "conversions", "payout"], "group_by": ["day"], '
        '"days": 7}.',
        input=MyReportArguments,
        run=partner_selectors.partner_report,
        output=MyReportOutput,
        scope=Scope.READ,
        rest=RestRoute("POST", "stats/report/", "partner-report", TAG),
        tool=ToolSpec("My report", READ),
    ),
    partner_operation(
        name="list_my_conversions",
        description="Your conversions, newest first, with status and the reason for a hold or "
        "rejection in plain words. Filters: status, offer_id, since, until.",
        input=PartnerConversionFilters,
        run=partner_selectors.partner_conversion_list,
        output=PartnerConversionOutput,
        shape="page",
        scope=Scope.READ,
        rest=RestRoute("GET", "conversions/", "partner-conversions", TAG),
        tool=ToolSpec("My conversions", READ),
    ),
    partner_operation(
        name="get_my_conversion",
        description="One of your conversions by its id (conv_…).",
        input=PartnerConversionRef,
        run=partner_selectors.partner_conversion_get,
        output=PartnerConversionOutput,
        scope=Scope.READ,
        rest=RestRoute("GET", "conversions/<conversion_id>/", "partner-conversion", TAG),
        tool=ToolSpec("My conversion", READ),
    ),
    partner_operation(
        name="list_my_payouts",
        description="Your payouts, newest first (status: pending, paid, void).",
        input=PartnerPayoutFilters,
        run=partner_selectors.partner_payout_list,
        output=PartnerPayoutOutput,
        shape="page",
        scope=Scope.READ,
        rest=RestRoute("GET", "payouts/", "partner-payouts", TAG),
        tool=ToolSpec("My payouts", READ),
    ),
    partner_operation(
        name="get_my_balance",
        description="Your balance per currency: pending (awaiting review), approved (not yet "
        "in a payout), in_payout (generated, not paid) and paid to date.",
        input=NoArguments,
        run=partner_selectors.partner_balance,
        output=PartnerBalanceOutput,
        shape="many",
        scope=Scope.READ,
        rest=RestRoute("GET", "balance/", "partner-balance", TAG),
        tool=ToolSpec("My balance", READ),
    ),
    partner_operation(
        name="update_my_profile",
        description="Change your display name, website or outbound postback URL (needs a write "
        "key); only the fields given change. Your email is the brand's to change.",
        input=PartnerProfileUpdateInput,
        run=self_service.partner_profile_update,
        present=lambda actor, _: self_service.partner_self(actor=actor),
        output=PartnerProfileOutput,
        scope=Scope.WRITE,
        rest=RestRoute("PATCH", "me/", "partner-me-update", TAG),
        tool=ToolSpec("Update my profile", WRITE_UPDATE),
    ),
    partner_operation(
        name="update_my_payout_details",
        description="Set how you are paid (needs a write key): payout_method, one of the "
        "brand's payout_methods (get_my_profile lists them), payout_details, what that "
        "method needs (an account or address; stored encrypted, shown back only as its last "
        "four characters), and payout_currency, one of payout_currencies (empty: each "
        "payout's own currency).",
        input=PartnerPayoutDetailsInput,
        run=self_service.partner_payout_details_update,
        present=lambda actor, _: self_service.partner_self(actor=actor),
        output=PartnerProfileOutput,
        scope=Scope.WRITE,
        rest=RestRoute("PATCH", "me/payout-details/", "partner-payout-details", TAG),
        tool=ToolSpec("Update my payout details", WRITE_UPDATE),
    ),
    partner_operation(
        name="list_my_coupons",
        description="Your coupon codes: the offer each is for (null: any), status and uses so "
        "far. Filter: status (active, disabled).",
        input=PartnerCouponFilters,
        run=partner_selectors.partner_coupon_list,
        output=CouponOutput,
        shape="page",
        scope=Scope.READ,
        rest=RestRoute("GET", "coupons/", "partner-coupons", TAG),
        tool=ToolSpec("My coupons", READ),
    ),
    partner_operation(
        name="get_my_statement",
        description="The statement of one of your payouts as CSV text: the payout's lines, then "
        "one row per conversion it covers (REST serves the same file at "
        "/api/partner/v1/payouts/{payout_id}/statement.csv).",
        input=PartnerPayoutRef,
        run=partner_selectors.partner_statement_answer,
        output=PartnerStatementOutput,
        scope=Scope.READ,
        tool=ToolSpec("My payout statement", READ),
    ),
]
