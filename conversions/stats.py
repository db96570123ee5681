"""Performance and fraud statistics, in the brand's time zone.

Metrics are defined once, here:
- clicks: accepted, billable clicks (previews, prefetches and refusals excluded);
- conversions: conversions not rejected (pending + pending_review + approved + paid);
- payout / revenue: sums over those conversions; profit = revenue − payout;
- EPC (earnings per click) = payout ÷ clicks; CVR (conversion rate) = conversions ÷ clicks.
Amounts are per currency: a partner with offers in two currencies has a row per currency.
Each report is two grouped queries (clicks, conversions), never a query per row.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, Sum
from django.utils import timezone

from audit.actor import Actor
from brands.models import Brand
from conversions.models import Click, ClickOutcome, Conversion, ConversionStatus
from offers.models import Offer
from offers.selectors import offer_get_for_actor
from partners.models import Partner
from partners.selectors import partner_get_for_actor
from trcker_site.errors import ValidationError

ZERO = Decimal("0.00")
MAX_RANGE_DAYS = 366
METRICS = ("revenue", "conversions", "epc", "cvr", "profit")
NOT_REJECTED = ~Q(status=ConversionStatus.REJECTED)


@dataclass(frozen=True)
class Period:
    date_from: dt.date
    date_to: dt.date  # inclusive
    start: dt.datetime
    end: dt.datetime  # exclusive
    timezone: str

    def as_dict(self) -> dict[str, str]:
        return {
            "date_from": self.date_from.isoformat(),
            "date_to": self.date_to.isoformat(),
            "timezone": self.timezone,
        }


def resolve_period(
    *,
    actor: Actor,
    days: int | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> Period:
    """``days`` back from today (default 30, today included), or an explicit inclusive range,
    both in the brand's time zone."""
    tz_name = Brand.objects.values_list("timezone", flat=True).get(pk=actor.brand_id)
    tz = zoneinfo.ZoneInfo(tz_name)
    today = timezone.now().astimezone(tz).date()
    if date_from or date_to:
        date_to = date_to or today
        date_from = date_from or date_to - dt.timedelta(days=29)
    else:
        days = 30 if days is None else days
        if not 1 <= days <= MAX_RANGE_DAYS:
            raise ValidationError(
                f"days must be between 1 and {MAX_RANGE_DAYS}.", fields={"days": ["Out of range."]}
            )
        date_to, date_from = today, today - dt.timedelta(days=days - 1)
    if date_from > date_to:
        raise ValidationError(
            "date_from must not be after date_to.", fields={"date_from": ["After date_to."]}
        )
    if (date_to - date_from).days >= MAX_RANGE_DAYS:
        raise ValidationError(f"The range may cover at most {MAX_RANGE_DAYS} days.")
    start = dt.datetime.combine(date_from, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return Period(date_from, date_to, start, end, tz_name)


def _ratio(numerator: Decimal | int, denominator: int, places: str) -> Decimal:
    if not denominator:
        return Decimal(places)
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal(places))


def _status_breakdown() -> dict[str, Any]:
    # "agg_" keeps annotation names clear of the model's own field names.
    aggregates: dict[str, Any] = {
        "agg_conversions": Count("pk", filter=NOT_REJECTED),
        "agg_payout": Sum("payout", filter=NOT_REJECTED),
        "agg_revenue": Sum("revenue", filter=NOT_REJECTED),
        "agg_sale_amount": Sum("sale_amount", filter=NOT_REJECTED),
    }
    for status in ConversionStatus.values:
        aggregates[f"agg_{status}_count"] = Count("pk", filter=Q(status=status))
        aggregates[f"agg_{status}_payout"] = Sum("payout", filter=Q(status=status))
    return aggregates


def performance(
    *,
    actor: Actor,
    by: str,
    period: Period,
    offer_id: str | None = None,
    partner_id: str | None = None,
) -> list[dict[str, Any]]:
    """Rows of clicks, conversions by status, amounts, profit, EPC and CVR, grouped by
    ``by`` ("partner" or "offer") and currency."""
    key = f"{by}_id"
    clicks = Click.objects.filter(
        brand_id=actor.brand_id,
        created_at__gte=period.start,
        created_at__lt=period.end,
        outcome=ClickOutcome.ACCEPTED,
        is_billable=True,
    )
    conversions = Conversion.objects.filter(
        brand_id=actor.brand_id, created_at__gte=period.start, created_at__lt=period.end
    )
    if offer_id:
        clicks, conversions = (
            clicks.filter(offer__slug=offer_id),
            conversions.filter(offer__slug=offer_id),
        )
    if partner_id:
        clicks, conversions = (
            clicks.filter(partner__slug=partner_id),
            conversions.filter(partner__slug=partner_id),
        )
    click_counts = dict(clicks.values_list(key).annotate(n=Count("pk")).values_list(key, "n"))
    grouped = (
        conversions.values(key, "currency")
        .annotate(**_status_breakdown())
        .order_by(key, "currency")
    )

    model = Partner if by == "partner" else Offer
    ids = set(click_counts) | {row[key] for row in grouped}
    names = {
        pk: (slug, name)
        for pk, slug, name in model.objects.filter(pk__in=ids).values_list("pk", "slug", "name")
    }
    brand_currency = Brand.objects.values_list("currency", flat=True).get(pk=actor.brand_id)

    rows: list[dict[str, Any]] = []
    seen: set[int] = set()
    for row in grouped:
        rows.append(
            _row(
                by, row[key], row["currency"], names, click_counts, row, first=row[key] not in seen
            )
        )
        seen.add(row[key])
    for pk in click_counts:
        if pk is not None and pk not in seen:
            rows.append(_row(by, pk, brand_currency, names, click_counts, {}, first=True))
    return [row for row in rows if row[f"{by}_id"] is not None]


def _row(
    by: str,
    pk: int,
    currency: str,
    names: dict[int, tuple[str, str]],
    click_counts: dict[int, int],
    agg: dict[str, Any],
    *,
    first: bool,
) -> dict[str, Any]:
    slug, name = names.get(pk, (None, None))
    # Clicks carry no currency: they are reported on the first currency row of the group.
    clicks = click_counts.get(pk, 0) if first else 0
    conversions = agg.get("agg_conversions", 0)
    payout = agg.get("agg_payout") or ZERO
    revenue = agg.get("agg_revenue") or ZERO
    by_status = {
        status: {
            "count": agg.get(f"agg_{status}_count", 0),
            "payout": agg.get(f"agg_{status}_payout") or ZERO,
        }
        for status in ConversionStatus.values
    }
    return {
        f"{by}_id": slug,
        "name": name,
        "currency": currency,
        "clicks": clicks,
        "conversions": conversions,
        "by_status": by_status,
        "sale_amount": agg.get("agg_sale_amount") or ZERO,
        "payout": payout,
        "revenue": revenue,
        "profit": revenue - payout,
        "epc": _ratio(payout, clicks, "0.0001"),
        "cvr": _ratio(conversions, clicks, "0.0001"),
    }


def top_publishers(
    *, actor: Actor, period: Period, metric: str = "revenue", limit: int = 10
) -> list[dict[str, Any]]:
    if metric not in METRICS:
        raise ValidationError(
            f"metric must be one of {', '.join(METRICS)}.", fields={"metric": ["Unknown metric."]}
        )
    rows = performance(actor=actor, by="partner", period=period)
    rows.sort(
        key=lambda row: (row[metric], row["conversions"], row["partner_id"] or ""), reverse=True
    )
    return [{"rank": index + 1, **row} for index, row in enumerate(rows[:limit])]


def fraud_summary(*, actor: Actor, period: Period, limit: int = 5) -> dict[str, Any]:
    brand = Brand.objects.get(pk=actor.brand_id)
    threshold = brand.fraud_threshold
    flagged = Q(fraud_score__gte=threshold)
    clicks = Click.objects.filter(
        brand_id=actor.brand_id, created_at__gte=period.start, created_at__lt=period.end
    )
    conversions = Conversion.objects.filter(
        brand_id=actor.brand_id, created_at__gte=period.start, created_at__lt=period.end
    )
    click_totals = clicks.aggregate(
        scored=Count("pk", filter=Q(fraud_score__gt=0) | ~Q(fraud_signals=[])),
        total=Count("pk"),
        flagged=Count("pk", filter=flagged),
        refused=Count("pk", filter=Q(outcome=ClickOutcome.FRAUD_BLOCKED)),
    )
    conversion_totals = conversions.aggregate(
        total=Count("pk"),
        flagged=Count("pk", filter=flagged),
        held_for_review=Count("pk", filter=Q(status_reason="fraud_review")),
        rejected=Count("pk", filter=Q(status_reason="fraud_blocked")),
    )
    risky = (
        conversions.values("partner__slug", "partner__name")
        .annotate(flagged=Count("pk", filter=flagged), total=Count("pk"))
        .filter(flagged__gt=0)
        .order_by("-flagged", "partner__slug")[:limit]
    )
    flagged_clicks = dict(
        clicks.filter(flagged)
        .values_list("partner__slug")
        .annotate(n=Count("pk"))
        .values_list("partner__slug", "n")
    )
    return {
        "period": period.as_dict(),
        "mode": brand.fraud_mode,
        "threshold": threshold,
        "clicks": click_totals,
        "conversions": conversion_totals,
        "top_risk_partners": [
            {
                "partner_id": row["partner__slug"],
                "name": row["partner__name"],
                "flagged_conversions": row["flagged"],
                "conversions": row["total"],
                "flagged_share": _ratio(row["flagged"], row["total"], "0.0001"),
                "flagged_clicks": flagged_clicks.get(row["partner__slug"], 0),
            }
            for row in risky
        ],
    }


# --- Reports: the period resolution plus the rows, one call for REST and MCP alike --------


def partner_report(
    *,
    actor: Actor,
    partner_id: str | None = None,
    days: int | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> dict[str, Any]:
    if partner_id:
        partner_get_for_actor(actor=actor, partner_id=partner_id)  # unknown id: say so, not []
    period = resolve_period(actor=actor, days=days, date_from=date_from, date_to=date_to)
    rows = performance(actor=actor, by="partner", period=period, partner_id=partner_id)
    return {"period": period.as_dict(), "results": rows}


def offer_report(
    *,
    actor: Actor,
    offer_id: str | None = None,
    days: int | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> dict[str, Any]:
    if offer_id:
        offer_get_for_actor(actor=actor, offer_id=offer_id)  # unknown id: say so, not []
    period = resolve_period(actor=actor, days=days, date_from=date_from, date_to=date_to)
    rows = performance(actor=actor, by="offer", period=period, offer_id=offer_id)
    return {"period": period.as_dict(), "results": rows}


def top_publishers_report(
    *,
    actor: Actor,
    metric: str = "revenue",
    limit: int = 10,
    days: int | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> dict[str, Any]:
    period = resolve_period(actor=actor, days=days, date_from=date_from, date_to=date_to)
    rows = top_publishers(actor=actor, period=period, metric=metric, limit=limit)
    return {"period": period.as_dict(), "metric": metric, "results": rows}


def fraud_summary_report(
    *,
    actor: Actor,
    days: int | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> dict[str, Any]:
    period = resolve_period(actor=actor, days=days, date_from=date_from, date_to=date_to)
    return fraud_summary(actor=actor, period=period)
