"""Performance and fraud reports (served from the rollups) and the brand's fraud settings."""

from __future__ import annotations

from audit.actor import Scope
from brands.selectors import brand_get_for_actor
from brands.serializers import FraudSettingsInput, FraudSettingsOutput
from brands.services import brand_set_fraud_settings
from conversions import reports, stats
from conversions.report_serializers import ReportInput, ReportOutput
from conversions.serializers import (
    FraudSummaryOutput,
    OfferReportOutput,
    OfferStatsInput,
    PartnerReportOutput,
    PartnerStatsInput,
    PeriodInput,
    TopPublishersInput,
    TopPublishersReportOutput,
)
from core.serializers import StrictSerializer
from operations.declaration import READ, WRITE_UPDATE, Operation, RestRoute, ToolSpec

PERIOD_HELP = (
    " Period: days (default 30, today included) or date_from/date_to (inclusive, "
    "YYYY-MM-DD), in the brand's time zone."
)
MONEY_HELP = " Money is a decimal string with its ISO 4217 currency."


class NoArguments(StrictSerializer):
    pass


OPERATIONS = [
    Operation(
        name="get_partner_stats",
        description="Performance per partner: clicks, conversions by status (pending, "
        "pending_review, approved, rejected, paid) with counts and payout, revenue, profit, EPC "
        "(payout ÷ clicks) and CVR (conversions ÷ clicks). Optional partner_id (e.g. abc-123) "
        "narrows to one partner." + PERIOD_HELP + MONEY_HELP,
        input=PartnerStatsInput,
        run=stats.partner_report,
        output=PartnerReportOutput,
        scope=Scope.READ,
        rest=RestRoute("GET", "stats/partners/", "stats-partners", "stats"),
        tool=ToolSpec("Partner performance", READ),
    ),
    Operation(
        name="get_offer_stats",
        description="Performance per offer with pending/approved/paid breakdowns (counts and "
        "payout), clicks, revenue, profit, EPC and CVR. Optional offer_id (e.g. spring-sale)."
        + PERIOD_HELP
        + MONEY_HELP,
        input=OfferStatsInput,
        run=stats.offer_report,
        output=OfferReportOutput,
        scope=Scope.READ,
        rest=RestRoute("GET", "stats/offers/", "stats-offers", "stats"),
        tool=ToolSpec("Offer performance", READ),
    ),
    Operation(
        name="get_top_publishers",
        description="Partners ranked by metric: revenue, conversions, epc, cvr or profit (default "
        'revenue), top `limit` (default 10). Example: {"metric": "revenue", "limit": 5, '
        '"days": 14}.' + PERIOD_HELP,
        input=TopPublishersInput,
        run=stats.top_publishers_report,
        output=TopPublishersReportOutput,
        scope=Scope.READ,
        rest=RestRoute("GET", "stats/top-publishers/", "stats-top-publishers", "stats"),
        tool=ToolSpec("Top publishers", READ),
    ),
    Operation(
        name="get_fraud_summary",
        description="Scored and flagged (score ≥ the brand threshold) clicks and conversions, how "
        "many were held for review or rejected, and the top-risk partners (most flagged); "
        "partners_by_score ranks partners by average, then maximum, fraud score over all their "
        "scored traffic, flagged or not (which partners have the highest fraud scores), and "
        "score_histogram counts clicks and conversions per 10-point score range." + PERIOD_HELP,
        input=PeriodInput,
        run=stats.fraud_summary_report,
        output=FraudSummaryOutput,
        scope=Scope.READ,
        rest=RestRoute("GET", "fraud/summary/", "fraud-summary", "fraud"),
        tool=ToolSpec("Fraud summary", READ),
    ),
    Operation(
        name="get_fraud_settings",
        description="The brand's fraud mode (off, monitor, review, block), threshold (0–100) and "
        "whether the BotD browser check is on.",
        input=NoArguments,
        run=brand_get_for_actor,
        output=FraudSettingsOutput,
        scope=Scope.READ,
        rest=RestRoute("GET", "fraud/settings/", "fraud-settings", "fraud"),
        tool=ToolSpec("Fraud settings", READ),
    ),
    Operation(
        name="set_fraud_settings",
        description="Set the brand's fraud mode (off, monitor, review: hold at or above threshold, "
        "block: refuse/reject at or above threshold), threshold 0–100, and the BotD toggle.",
        input=FraudSettingsInput,
        run=brand_set_fraud_settings,
        output=FraudSettingsOutput,
        scope=Scope.WRITE,
        rest=RestRoute("PATCH", "fraud/settings/", "fraud-settings-update", "fraud"),
        tool=ToolSpec("Set fraud settings", WRITE_UPDATE),
    ),
    Operation(
        name="get_report",
        description="A custom report: metrics (clicks, billable_clicks, refused_clicks, "
        "conversions, sale_amount, revenue, payout, profit, epc, cvr, avg_fraud_score, "
        "max_fraud_score, flagged_conversions) grouped by up to three of day, week (Monday), "
        "month, offer, partner, event_type, country, device, sub1–sub5, outcome (click refusal "
        "reason), status; filters per dimension; compare_previous adds the previous period and "
        "the change; order_by, limit. Money metrics add currency to the row key. At most "
        f"{reports.MAX_REPORT_DAYS} days. Example: "
        '{"metrics": ["clicks", "conversions", "revenue"], "group_by": ["country"], "days": 7}.'
        + PERIOD_HELP,
        input=ReportInput,
        run=reports.report,
        output=ReportOutput,
        scope=Scope.READ,
        # POST: metrics and group_by are lists and filters an object, which a query string
        # (read as one value per name) cannot carry; the call still only reads.
        rest=RestRoute("POST", "stats/report/", "stats-report", "stats"),
        tool=ToolSpec("Report", READ),
    ),
]
