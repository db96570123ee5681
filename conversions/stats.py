"""Performance and fraud statistics, in the brand's time zone.

Metrics are defined once, here:
- clicks: accepted, billable clicks (previews, prefetches and refusals excluded);
- conversions: conversions neither rejected nor reversed (pending + pending_review + approved
  + paid);
- payout / revenue: sums over those conversions; profit = revenue − payout;
- EPC (earnings per click) = payout ÷ clicks; CVR (conversion rate) = conversions ÷ clicks.
Amounts are per currency: a partner with offers in two currencies has a row per currency.
Each report is two grouped queries (clicks, conversions), never a query per row.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, Max, Q, QuerySet, Sum
from django.utils import timezone

from audit.actor import Actor
from brands.models import Brand
from conversions.models import (
    UNCOUNTED_STATUSES,
    Click,
    Conversion,
    ConversionStatus,
    DailyRollup,
)
from core.errors import ValidationError
from offers.models import Offer
from offers.selectors import offer_get_for_actor
from partners.models import Partner
from partners.selectors import partner_get_for_actor

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
# What "conversions" and their amounts count (the module docstring): every status but rejected
# and reversed.
COUNTED = tuple(status for status in ConversionStatus.values if status not in UNCOUNTED_STATUSES)
MONEY_METRICS = ("revenue", "payout", "profit")


def _cents(value: Decimal | float) -> Decimal:
    # + 0 turns a negative zero into 0.00: on SQLite (floating-point NUMERIC sums) stripes
    # that cancel out can sum to -1e-14.
    return Decimal(value).quantize(CENT) + 0


MAX_RANGE_DAYS = 366
# Days a period may name: beyond them the date arithmetic below leaves Python's date range
# (0001-01-01 minus 29 days), and no tracking data is that old or that new anyway.
EARLIEST_DAY, LATEST_DAY = dt.date(2000, 1, 1), dt.date(2999, 12, 31)
METRICS = ("revenue", "conversions", "epc", "cvr", "profit")


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
    for name, day in (("date_from", date_from), ("date_to", date_to)):
        if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
            raise ValidationError(
                f"{name} must be between {EARLIEST_DAY} and {LATEST_DAY}.",
                fields={name: ["Out of range."]},
            )
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
        return Decimal(0).quantize(Decimal(places))  # no clicks: 0, not the smallest unit
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal(places))


def _rollup_sums() -> dict[str, Any]:
    # "agg_" keeps annotation names clear of the model's own field names.
    sums: dict[str, Any] = {"agg_clicks": Sum("clicks")}
    for status in ConversionStatus.values:
        for measure in ("count", "payout", "revenue", "sale"):
            sums[f"agg_{status}_{measure}"] = Sum(f"{status}_{measure}")
    return sums


def _rollups(actor: Actor, period: Period) -> QuerySet[DailyRollup]:
    return DailyRollup.objects.filter(
        brand_id=actor.brand_id, day__gte=period.date_from, day__lte=period.date_to
    )


def performance(
    *,
    actor: Actor,
    by: str,
    period: Period,
    offer_id: str | None = None,
    partner_id: str | None = None,
) -> list[dict[str, Any]]:
    """Rows of clicks, conversions by status, amounts, profit, EPC and CVR, grouped by
    ``by`` ("partner" or "offer") and currency — read from the daily rollups."""
    key = f"{by}_id"
    rows = _rollups(actor, period)
    if offer_id:
        rows = rows.filter(offer__slug=offer_id)
    if partner_id:
        rows = rows.filter(partner__slug=partner_id)
    grouped = list(
        rows.values(key, "currency").annotate(**_rollup_sums()).order_by(key, "currency")
    )
    model = Partner if by == "partner" else Offer
    names = {
        pk: (slug, name)
        for pk, slug, name in model.objects.filter(
            pk__in={row[key] for row in grouped}
        ).values_list("pk", "slug", "name")
    }
    return [_row(by, row[key], row["currency"], names, row) for row in grouped]


@dataclass(frozen=True)
class DailySeries:
    """One value per day of the period (brand time zone), days without traffic as zero.
    Amounts are per currency: ``money[currency][metric]`` for revenue, payout and profit."""

    days: list[dt.date]
    clicks: list[int]
    conversions: list[int]
    money: dict[str, dict[str, list[Decimal]]]

    def totals(self) -> dict[str, Any]:
        return {
            "clicks": sum(self.clicks),
            "conversions": sum(self.conversions),
            "money": {
                currency: {metric: sum(values, ZERO) for metric, values in metrics.items()}
                for currency, metrics in self.money.items()
            },
        }


def daily_series(*, actor: Actor, period: Period) -> DailySeries:
    """Clicks, conversions, revenue, payout and profit per day, summed over offers and
    partners from the daily rollups — one grouped query; the dashboard charts it."""
    rows = (
        _rollups(actor, period)
        .values("day", "currency")
        .annotate(**_rollup_sums())
        .order_by("day", "currency")
    )
    days = [
        period.date_from + dt.timedelta(days=offset)
        for offset in range((period.date_to - period.date_from).days + 1)
    ]
    index = {day: position for position, day in enumerate(days)}
    clicks = [0] * len(days)
    conversions = [0] * len(days)
    money: dict[str, dict[str, list[Decimal]]] = defaultdict(
        lambda: {metric: [ZERO] * len(days) for metric in MONEY_METRICS}
    )
    for row in rows:
        at = index[row["day"]]
        clicks[at] += row["agg_clicks"] or 0
        count = sum(row[f"agg_{status}_count"] or 0 for status in COUNTED)
        payout = sum((row[f"agg_{status}_payout"] or ZERO for status in COUNTED), ZERO)
        revenue = sum((row[f"agg_{status}_revenue"] or ZERO for status in COUNTED), ZERO)
        conversions[at] += count
        metrics = money[row["currency"]]
        metrics["revenue"][at] += Decimal(revenue)
        metrics["payout"][at] += Decimal(payout)
        metrics["profit"][at] += Decimal(revenue) - Decimal(payout)
    quantized = {
        currency: {
            metric: [value.quantize(CENT) for value in values] for metric, values in metrics.items()
        }
        for currency, metrics in money.items()
    }
    return DailySeries(days=days, clicks=clicks, conversions=conversions, money=quantized)


def _row(
    by: str, pk: int, currency: str, names: dict[int, tuple[str, str]], agg: dict[str, Any]
) -> dict[str, Any]:
    slug, name = names.get(pk, (None, None))
    clicks = agg.get("agg_clicks") or 0
    by_status = {
        status: {
            "count": agg.get(f"agg_{status}_count") or 0,
            "payout": agg.get(f"agg_{status}_payout") or ZERO,
        }
        for status in ConversionStatus.values
    }
    conversions = sum(by_status[status]["count"] for status in COUNTED)
    payout = sum((agg.get(f"agg_{status}_payout") or ZERO for status in COUNTED), ZERO)
    revenue = sum((agg.get(f"agg_{status}_revenue") or ZERO for status in COUNTED), ZERO)
    sale_amount = sum((agg.get(f"agg_{status}_sale") or ZERO for status in COUNTED), ZERO)
    return {
        f"{by}_id": slug,
        "name": name,
        "currency": currency,
        "clicks": clicks,
        "conversions": conversions,
        "by_status": by_status,
        "sale_amount": _cents(sale_amount),
        "payout": _cents(payout),
        "revenue": _cents(revenue),
        "profit": _cents(revenue - payout),
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


SCORE_RANK_LIMIT = 10
HISTOGRAM_BUCKETS = [(low, low + 9) for low in range(0, 90, 10)] + [(90, 100)]


def _scored(model: type[Click] | type[Conversion], actor: Actor, period: Period) -> Any:
    # Raw rows, not the rollups (they keep no score sums): the clicks with a known partner
    # (the ones scoring sees) and every conversion, recorded in the period, tests left out.
    return model.objects.filter(
        brand_id=actor.brand_id,
        partner__isnull=False,
        created_at__gte=period.start,
        created_at__lt=period.end,
        is_test=False,
    )


def fraud_scores(*, actor: Actor, period: Period, limit: int = SCORE_RANK_LIMIT) -> dict[str, Any]:
    """Partners ranked by their average, then maximum, fraud score over all their scored clicks
    and conversions in the period (flagged or not), and a histogram of the scores. Four
    grouped queries (per partner and histogram, clicks and conversions), none per row."""
    per_partner: dict[int, dict[str, Any]] = {}
    histogram = {low: {"clicks": 0, "conversions": 0} for low, _ in HISTOGRAM_BUCKETS}
    for kind, model in (("clicks", Click), ("conversions", Conversion)):
        rows = _scored(model, actor, period)
        grouped = rows.values("partner_id", "partner__slug", "partner__name").annotate(
            n=Count("pk"), total=Sum("fraud_score"), top=Max("fraud_score")
        )
        for row in grouped.order_by():
            entry = per_partner.setdefault(
                row["partner_id"],
                {"partner_id": row["partner__slug"], "name": row["partner__name"], "sum": 0},
            )
            entry[kind], entry["sum"] = row["n"], entry["sum"] + (row["total"] or 0)
            entry[f"{kind}_max_score"] = row["top"] or 0
            entry[f"{kind}_avg_score"] = _ratio(row["total"] or 0, row["n"], "0.01")
        counts = rows.aggregate(
            **{
                f"b{low}": Count("pk", filter=Q(fraud_score__gte=low, fraud_score__lte=high))
                for low, high in HISTOGRAM_BUCKETS
            }
        )
        for low, _ in HISTOGRAM_BUCKETS:
            histogram[low][kind] = counts[f"b{low}"]
    ranked = []
    for entry in per_partner.values():
        scored = entry.get("clicks", 0) + entry.get("conversions", 0)
        ranked.append(
            {
                "partner_id": entry["partner_id"],
                "name": entry["name"],
                "avg_score": _ratio(entry.pop("sum"), scored, "0.01"),
                "max_score": max(
                    entry.get("clicks_max_score", 0), entry.get("conversions_max_score", 0)
                ),
                **{
                    f"{kind}{suffix}": entry.get(f"{kind}{suffix}", default)
                    for kind in ("clicks", "conversions")
                    for suffix, default in (("", 0), ("_avg_score", None), ("_max_score", None))
                },
            }
        )
    ranked.sort(key=lambda row: (-row["avg_score"], -row["max_score"], row["partner_id"]))
    return {
        "partners_by_score": ranked[:limit],
        "score_histogram": [
            {"score_from": low, "score_to": high, **histogram[low]}
            for low, high in HISTOGRAM_BUCKETS
        ],
    }


def fraud_summary(*, actor: Actor, period: Period, limit: int = 5) -> dict[str, Any]:
    """Flagged (score at or above the brand threshold when scored) clicks and conversions, and
    the partners with the most flagged conversions — from the daily rollups; plus the ranking
    by score over all scored traffic (``fraud_scores``, from the raw rows)."""
    brand = Brand.objects.get(pk=actor.brand_id)
    sums = {
        "clicks_total": Sum("clicks_gross"),
        "clicks_flagged_sum": Sum("clicks_flagged"),
        "clicks_refused": Sum("clicks_fraud_refused"),
        "conversions_flagged_sum": Sum("conversions_flagged"),
        "held": Sum("conversions_fraud_review"),
        "rejected": Sum("conversions_fraud_rejected"),
        **{f"{status}_total": Sum(f"{status}_count") for status in ConversionStatus.values},
    }
    rows = _rollups(actor, period)
    totals = rows.aggregate(**sums)
    per_partner = (
        rows.values("partner__slug", "partner__name")
        .annotate(**sums)
        .order_by("-conversions_flagged_sum", "partner__slug")
    )

    def conversions_of(row: dict[str, Any]) -> int:
        return sum(row.get(f"{status}_total") or 0 for status in ConversionStatus.values)

    risky = [
        row
        for row in per_partner
        if (row["conversions_flagged_sum"] or 0) or (row["clicks_flagged_sum"] or 0)
    ]
    risky.sort(
        key=lambda row: (
            -(row["conversions_flagged_sum"] or 0),
            -(row["clicks_flagged_sum"] or 0),
            row["partner__slug"],
        )
    )
    return {
        "period": period.as_dict(),
        "mode": brand.fraud_mode,
        "threshold": brand.fraud_threshold,
        "clicks": {
            "total": totals["clicks_total"] or 0,
            "flagged": totals["clicks_flagged_sum"] or 0,
            "refused": totals["clicks_refused"] or 0,
        },
        "conversions": {
            "total": conversions_of(totals),
            "flagged": totals["conversions_flagged_sum"] or 0,
            "held_for_review": totals["held"] or 0,
            "rejected": totals["rejected"] or 0,
        },
        "top_risk_partners": [
            {
                "partner_id": row["partner__slug"],
                "name": row["partner__name"],
                "flagged_conversions": row["conversions_flagged_sum"] or 0,
                "conversions": conversions_of(row),
                "flagged_share": _ratio(
                    row["conversions_flagged_sum"] or 0, conversions_of(row), "0.0001"
                ),
                "flagged_clicks": row["clicks_flagged_sum"] or 0,
            }
            for row in risky[:limit]
        ],
        **fraud_scores(actor=actor, period=period),
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
