"""Reads for the partner portal (``partner_portal/``, docs/partners.md): one partner's own
performance, conversions, payouts, statements, links and coupons in one brand.

Confinement by construction: every function takes a partner actor (``Actor.for_partner_session``
or a partner key) and reads through ``conversions.partner_selectors`` (the partner API's own
reads: the brand's selectors and reports with that partner forced as the filter) or, for links
and coupons, the brand's selectors with the partner's id, so a row of another partner of the
brand is "not found" exactly like one of another brand or one that does not exist. What comes
back is partner-safe by shape: the rows hold what the partner earns (payout), never what the
brand books (revenue, profit), fraud scores, the advertiser's transaction id or other
partners' names.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from audit.actor import Actor
from conversions.models import Conversion, ConversionStatus, Payout
from conversions.partner_selectors import (
    REASON_WORDS,
    REVERSAL_WORDS,
    partner_conversion_get,
    partner_conversion_list,
    partner_payout_list,
    partner_report,
    partner_statement,
)
from conversions.statements import Statement
from conversions.stats import Period, resolve_period
from core.errors import ValidationError
from core.links import tracking_link
from offers.models import Offer
from partners.models import Coupon, Partner
from partners.selectors import coupon_list, partner_offer_list
from partners.self_service import partner_self

PERIOD_DAYS = (7, 30, 90)
DEFAULT_DAYS = 30
# The conversions page lists the newest this many of the period; the statement has them all.
CONVERSION_PAGE = 200
ZERO = Decimal("0.00")
PERFORMANCE_METRICS = ["billable_clicks", "conversions", "payout", "epc", "cvr"]

# What a status means when it has no reason of its own to show.
STATUS_WORDS: dict[str, str] = {
    ConversionStatus.PENDING: "Pending: waiting for the brand's approval.",
    ConversionStatus.PENDING_REVIEW: "Held for review.",
    ConversionStatus.APPROVED: "Approved: it will be in your next payout.",
    ConversionStatus.REJECTED: "Rejected by the brand.",
    ConversionStatus.PAID: "Paid.",
    ConversionStatus.REVERSED: "Reversed: its commission comes off your next payout.",
}


def reason_text(status: str, status_reason: str, *, visible: bool = True) -> str:
    """The plain-words line the portal shows beside a conversion's status; only the status
    when the brand hides its reasons (``Brand.partner_reasons_visible``)."""
    if not visible:
        return STATUS_WORDS.get(status, "")
    if status == ConversionStatus.REVERSED:
        return REVERSAL_WORDS.get(status_reason, STATUS_WORDS[status])
    if status_reason in REASON_WORDS:
        return REASON_WORDS[status_reason]
    if status_reason:
        prefix = "Rejected by the brand" if status == ConversionStatus.REJECTED else "Note"
        return f"{prefix}: {status_reason}"
    return STATUS_WORDS.get(status, "")


def portal_partner(*, actor: Actor) -> Partner:
    """The actor's own partner row; refuses a brand-side actor (no partner to confine to)."""
    return partner_self(actor=actor)


def portal_period(*, actor: Actor, days: int) -> Period:
    if days not in PERIOD_DAYS:
        raise ValidationError(
            f"days must be one of {', '.join(map(str, PERIOD_DAYS))}.",
            fields={"days": ["Not a period the portal offers."]},
        )
    return resolve_period(actor=actor, days=days)


@dataclass(frozen=True)
class Performance:
    """One partner's numbers over a period: daily series (brand time zone, empty days as
    zero), totals, and rows by offer and by sub id. Money is per currency."""

    period: Period
    days: list[dt.date]
    clicks: list[int]
    conversions: list[int]
    earnings: dict[str, list[Decimal]]  # currency → payout per day
    totals: dict[str, Any]
    by_offer: list[dict[str, Any]] = field(default_factory=list)
    by_sub: list[dict[str, Any]] = field(default_factory=list)


def _ratio(numerator: Decimal | int, denominator: int) -> Decimal:
    if not denominator:
        return Decimal("0.0000")
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"))


def portal_performance(*, actor: Actor, days: int = DEFAULT_DAYS) -> Performance:
    """The home page's numbers, from ``get_report`` confined to the actor's partner
    (``partner_report``), so the metrics mean what they mean for the brand: billable clicks,
    conversions not rejected, EPC = payout ÷ clicks, CVR = conversions ÷ clicks."""
    period = portal_period(actor=actor, days=days)

    def rows(group_by: list[str], limit: int) -> list[dict[str, Any]]:
        # The partner API's report: the partner filter forced, partner metrics only.
        answer = partner_report(
            actor=actor,
            metrics=PERFORMANCE_METRICS,
            group_by=group_by,
            date_from=period.date_from,
            date_to=period.date_to,
            limit=limit,
        )
        return list(answer["rows"])

    dates = [
        period.date_from + dt.timedelta(days=offset)
        for offset in range((period.date_to - period.date_from).days + 1)
    ]
    at = {day: index for index, day in enumerate(dates)}
    clicks, conversions = [0] * len(dates), [0] * len(dates)
    earnings: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO] * len(dates))
    money: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for row in rows(["day"], len(dates) * 8):
        index = at[row["day"]]
        clicks[index] += row["billable_clicks"]
        conversions[index] += row["conversions"]
        if row["currency"]:
            earnings[row["currency"]][index] += row["payout"]
            money[row["currency"]] += row["payout"]
    total_clicks, total_conversions = sum(clicks), sum(conversions)
    totals = {
        "clicks": total_clicks,
        "conversions": total_conversions,
        "cvr": _ratio(total_conversions, total_clicks),
        "earnings": {
            currency: {"payout": amount, "epc": _ratio(amount, total_clicks)}
            for currency, amount in sorted(money.items())
        },
    }
    by_offer = _named_offers(actor, rows(["offer"], 500))
    by_sub = sorted(
        rows(["sub1"], 500), key=lambda row: (-row["conversions"], -row["billable_clicks"])
    )[:100]
    return Performance(
        period=period,
        days=dates,
        clicks=clicks,
        conversions=conversions,
        earnings=dict(sorted(earnings.items())),
        totals=totals,
        by_offer=by_offer,
        by_sub=by_sub,
    )


def _named_offers(actor: Actor, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = dict(
        Offer.objects.filter(
            brand_id=actor.brand_id, slug__in={row["offer"] for row in rows}
        ).values_list("slug", "name")
    )
    named = [{**row, "name": names.get(row["offer"], row["offer"])} for row in rows]
    return sorted(named, key=lambda row: (-row["payout"], -row["billable_clicks"], row["offer"]))


@dataclass(frozen=True, slots=True)
class PortalConversion:
    """A conversion as its partner sees it: no revenue, profit or fraud score."""

    id: str
    created_at: dt.datetime
    offer_id: str
    offer_name: str
    event_type: str
    sale_amount: Decimal
    payout: Decimal
    currency: str
    status: str
    status_label: str
    reason: str
    sub1: str
    sub2: str
    sub3: str
    sub4: str
    sub5: str
    payout_id: str | None


def _portal_conversion(conversion: Conversion) -> PortalConversion:
    return PortalConversion(
        id=conversion.pk,
        created_at=conversion.created_at,
        offer_id=conversion.offer.slug,
        offer_name=conversion.offer.name,
        event_type=conversion.event_type,
        sale_amount=conversion.sale_amount,
        payout=conversion.payout,
        currency=conversion.currency,
        status=conversion.status,
        status_label=ConversionStatus(conversion.status).label,
        reason=reason_text(
            conversion.status,
            conversion.status_reason,
            visible=conversion.brand.partner_reasons_visible,
        ),
        sub1=conversion.sub1,
        sub2=conversion.sub2,
        sub3=conversion.sub3,
        sub4=conversion.sub4,
        sub5=conversion.sub5,
        payout_id=conversion.payout_batch_id,
    )


def portal_conversion_list(
    *, actor: Actor, days: int = DEFAULT_DAYS, status: str | None = None
) -> list[PortalConversion]:
    """The partner's newest conversions of the period (at most ``CONVERSION_PAGE``)."""
    if status and status not in ConversionStatus.values:
        raise ValidationError("Unknown status.", fields={"status": ["Unknown status."]})
    period = portal_period(actor=actor, days=days)
    rows = partner_conversion_list(
        actor=actor, status=status or None, since=period.start, until=period.end
    ).select_related("offer")
    return [_portal_conversion(row) for row in rows[:CONVERSION_PAGE]]


def portal_conversion_get(*, actor: Actor, conversion_id: str) -> PortalConversion:
    return _portal_conversion(partner_conversion_get(actor=actor, conversion_id=conversion_id))


def portal_payout_list(*, actor: Actor) -> QuerySet[Payout]:
    return partner_payout_list(actor=actor)


def portal_statement(*, actor: Actor, payout_id: str) -> Statement:
    """The statement of one of the partner's own payouts (the partner API's own read)."""
    return partner_statement(actor=actor, payout_id=payout_id)


def portal_coupon_list(*, actor: Actor) -> QuerySet[Coupon]:
    partner = portal_partner(actor=actor)
    return coupon_list(actor=actor, partner_id=partner.slug)


@dataclass(frozen=True, slots=True)
class OfferLink:
    offer_id: str
    name: str
    currency: str
    link: str
    deep_link_hosts: tuple[str, ...] = ()


def portal_offer_links(*, actor: Actor) -> list[OfferLink]:
    """The active offers the partner may promote, each with their tracking link."""
    partner = portal_partner(actor=actor)
    return [
        OfferLink(
            offer_id=offer.slug,
            name=offer.name,
            currency=offer.currency,
            link=tracking_link(
                brand_slug=actor.brand_slug, offer_slug=offer.slug, partner_slug=partner.slug
            ),
            deep_link_hosts=tuple(offer.deep_link_hosts),
        )
        for offer in partner_offer_list(actor=actor, partner=partner)
    ]
