"""A partner's own numbers: their stats and reports, conversions, payouts and balance.

Each read starts from ``partner_self`` (the partner the actor is; any other actor is refused)
and runs the brand's own selectors with that partner forced as a filter, so the metric
definitions stay those of ``conversions.stats`` and ``conversions.reports``. What a partner
must not see is left out here or by the partner output serializers: revenue and profit (the
brand's margin), fraud scores and signals, the advertiser's transaction id, test rows, and
anything of another partner (a conversion's attribution may name the partner who lost it)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import replace
from typing import Any

from django.db.models import QuerySet

from audit.actor import Actor
from conversions import reports, stats
from conversions.ledger_selectors import balances
from conversions.models import Conversion, ConversionStatus, Payout
from conversions.selectors import conversion_list
from conversions.statements import Statement, payout_statement
from core.errors import NotFoundError, ValidationError
from partners.models import Coupon
from partners.selectors import coupon_list
from partners.self_service import partner_self, partner_visible_offer

# Report metrics and dimensions a partner may ask for: no revenue or profit (the brand's), no
# fraud scores (they would teach a fraudster the thresholds), and no partner dimension (the
# one partner is forced).
PARTNER_REPORT_METRICS = (
    "clicks",
    "billable_clicks",
    "refused_clicks",
    "conversions",
    "sale_amount",
    "payout",
    "epc",
    "cvr",
)
PARTNER_REPORT_DIMENSIONS = tuple(name for name in reports.DIMENSIONS if name != "partner")

# A conversion's status_reason in words a partner can act on, worded as the portal words them
# (conversions/portal.py). A reviewer's own reason (free text typed when rejecting) is shown as
# they wrote it.
REASON_WORDS = {
    "fraud_blocked": "Rejected automatically: the traffic scored as likely fraud.",
    "fraud_review": "Held for review: the traffic showed risk signals; the brand will decide.",
    "cap_exceeded": "The offer's conversion cap was reached when this sale came in.",
    "manual_rejection": "Rejected by the brand on review.",
}
# A reversal's reason code (conversions.ledger_models.ReversalReason) in words.
REVERSAL_WORDS = {
    "refund": "Reversed: the customer was refunded.",
    "chargeback": "Reversed: the payment was charged back.",
    "fraud": "Reversed: the sale was found fraudulent.",
    "duplicate": "Reversed: a duplicate of another sale.",
    "other": "Reversed by the brand.",
}


# What a partner is told when the brand keeps its reasons to itself
# (Brand.partner_reasons_visible off): the status, in words, and nothing of why.
HIDDEN_REASON_WORDS: dict[str, str] = {
    ConversionStatus.PENDING_REVIEW: "Held for review by the brand.",
    ConversionStatus.REJECTED: "Rejected by the brand.",
}


def reason_in_words(conversion: Conversion) -> str:
    """The reason a partner is shown: in words, or only the status when the brand hides
    reasons (the conversion's brand is loaded with it by ``partner_conversion_list``)."""
    code = conversion.status_reason
    if not code:
        return ""
    if not conversion.brand.partner_reasons_visible:
        return HIDDEN_REASON_WORDS.get(conversion.status, "")
    if conversion.status == ConversionStatus.REVERSED:
        return REVERSAL_WORDS.get(code, "Reversed by the brand.")
    if code in REASON_WORDS:
        return REASON_WORDS[code]
    prefix = "Rejected by the brand" if conversion.status == ConversionStatus.REJECTED else "Note"
    return f"{prefix}: {code}"


def partner_stats(
    *,
    actor: Actor,
    offer_id: str | None = None,
    days: int | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> dict[str, Any]:
    """The partner's performance per offer (and currency) over the period, from the daily
    rollups: clicks, conversions by status, payout, EPC, CVR."""
    partner = partner_self(actor=actor)
    if offer_id:
        partner_visible_offer(actor=actor, offer_id=offer_id)
    period = stats.resolve_period(actor=actor, days=days, date_from=date_from, date_to=date_to)
    rows = stats.performance(
        actor=actor, by="offer", period=period, offer_id=offer_id, partner_id=partner.slug
    )
    return {"period": period.as_dict(), "results": rows}


def partner_report(
    *,
    actor: Actor,
    metrics: list[str],
    group_by: list[str] | None = None,
    filters: dict[str, str] | None = None,
    **period: Any,
) -> dict[str, Any]:
    """``get_report`` for one partner: the partner filter is forced, an offer filter must be
    one the partner may see, and only partner metrics and dimensions are accepted."""
    partner = partner_self(actor=actor)
    filters = dict(filters or {})
    refused = sorted(set(metrics) - set(PARTNER_REPORT_METRICS))
    if refused:
        raise ValidationError(
            f"Unknown metrics: {', '.join(refused)}.", fields={"metrics": ["Unknown metric."]}
        )
    if "partner" in (group_by or []) or "partner" in filters:
        raise ValidationError(
            "A partner report is always yours: it takes no partner dimension.",
            fields={"group_by": ["No partner dimension."]},
        )
    if "offer" in filters:
        partner_visible_offer(actor=actor, offer_id=filters["offer"])
    filters["partner"] = partner.slug
    return reports.report(
        actor=actor, metrics=metrics, group_by=group_by, filters=filters, **period
    )


def partner_conversion_list(
    *,
    actor: Actor,
    status: str | None = None,
    offer_id: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> QuerySet[Conversion]:
    """The partner's conversions, newest first; test conversions never."""
    partner = partner_self(actor=actor)
    if offer_id:
        partner_visible_offer(actor=actor, offer_id=offer_id)
    return (
        conversion_list(
            actor=actor,
            status=status,
            offer_id=offer_id,
            partner_id=partner.slug,
            since=since,
            until=until,
        )
        .filter(partner_id=partner.pk, is_test=False)
        .select_related("brand")
    )


def partner_conversion_get(*, actor: Actor, conversion_id: str) -> Conversion:
    """One of the partner's conversions; another partner's (or brand's) is "not found"."""
    try:
        return partner_conversion_list(actor=actor).get(pk=conversion_id)
    except Conversion.DoesNotExist:
        raise NotFoundError("conversion", conversion_id) from None


def partner_payout_list(*, actor: Actor, status: str | None = None) -> QuerySet[Payout]:
    """The partner's payouts, newest first."""
    partner = partner_self(actor=actor)
    qs = Payout.objects.filter(brand_id=actor.brand_id, partner_id=partner.pk).select_related(
        "partner"
    )
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-pk")


def partner_balance(*, actor: Actor) -> list[dict[str, Any]]:
    """Per currency, from the partner's ledger (``conversions.ledger_selectors.balances``):
    earnings awaiting the brand's review (pending, not yet in the ledger), entries in no payout
    yet — approved commissions net of reversals and adjustments (approved) —, in a payout not
    yet paid (in_payout), paid to date (paid), and the balance (what is owed: approved +
    in_payout; negative when reversals after payout exceed new commissions)."""
    partner = partner_self(actor=actor)
    return [
        {
            "currency": row["currency"],
            "pending": row["pending"],
            "approved": row["unsettled"],
            "in_payout": row["in_payout"],
            "paid": row["paid_out"],
            "balance": row["balance"],
        }
        for row in balances(brand_id=actor.brand_id, partner_id=partner.pk)
    ]


def partner_statement(*, actor: Actor, payout_id: str) -> Statement:
    """The statement of one of the partner's own payouts: the brand's file
    (``payout_statement``) less what a partner answer never carries — the advertiser's
    transaction ids, and the entries' reasons when the brand hides reasons
    (``Brand.partner_reasons_visible``). Another partner's payout, or another brand's, is
    "not found" like a missing one."""
    payouts = partner_payout_list(actor=actor).select_related("brand")
    payout = payouts.filter(pk=payout_id).first()
    if payout is None:
        raise NotFoundError("payout", payout_id)
    statement = payout_statement(actor=actor, payout_id=payout_id)
    hidden = {"txn_id"} | (set() if payout.brand.partner_reasons_visible else {"reason"})
    return replace(statement, content=_without_columns(statement.content, hidden))


def _without_columns(content: str, hidden: set[str]) -> str:
    """The CSV with the named columns of its entry table removed (the payout lines above the
    table stay as they are)."""
    rows = list(csv.reader(io.StringIO(content)))
    header_at = next((i for i, row in enumerate(rows) if row[:1] == ["entry_id"]), None)
    if header_at is None:
        return content
    keep = [i for i, name in enumerate(rows[header_at]) if name not in hidden]
    table = [[row[i] for i in keep if i < len(row)] for row in rows[header_at:]]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(rows[:header_at])
    writer.writerows(table)
    return buffer.getvalue()


def partner_statement_answer(*, actor: Actor, payout_id: str) -> dict[str, Any]:
    """The statement as the MCP tool answers it: the file's name and its CSV text."""
    statement = partner_statement(actor=actor, payout_id=payout_id)
    return {
        "payout_id": statement.payout.pk,
        "filename": statement.filename,
        "csv": statement.content,
    }


def partner_coupon_list(*, actor: Actor, status: str | None = None) -> QuerySet[Coupon]:
    """The partner's own coupon codes (any status unless one is given), by code."""
    partner = partner_self(actor=actor)
    return coupon_list(actor=actor, partner_id=partner.slug, status=status).order_by("code", "pk")
