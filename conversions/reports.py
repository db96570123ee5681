"""``get_report``: chosen metrics grouped by up to three dimensions, over a bounded period.

Metric definitions follow ``conversions.stats`` (conversions exclude rejected; EPC = payout ÷
billable clicks; CVR = conversions ÷ billable clicks; amounts per currency), plus:
- clicks: every recorded click, refusals included; billable_clicks: accepted and billable (what
  ``stats`` calls clicks); refused_clicks: outcome other than accepted;
- avg/max_fraud_score and flagged_conversions: over every conversion of the row, rejected
  included (rejection is often the fraud verdict itself).

Served from rollups where they hold the answer (``conversions.report_rollups``): click metrics
by every dimension but sub ids from ``ClickRollup``, conversion metrics by time, offer and
partner from ``DailyRollup``. Everything else comes from the raw rows, bounded: the period may
cover at most ``MAX_REPORT_DAYS`` days and each report is at most two grouped queries (clicks,
conversions) on the brand + created_at indexes, never a query per row. Test clicks and
conversions (``send_test_postback``) are never counted. Time buckets are the brand's local
day, ISO week (starting Monday) and month. A conversion takes country and device from its
click, copied at attribution (blank when it came by coupon), the click outcome from its click
(blank once the click is pruned) and its own sub ids.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Avg, Count, DateField, F, Max, Q, QuerySet, Sum
from django.db.models.functions import TruncDate, TruncMonth, TruncWeek

from audit.actor import Actor
from conversions.models import UNCOUNTED_STATUSES, Click, ClickOutcome, Conversion
from conversions.report_rollups import (
    click_rollup_served,
    conversion_rollup_served,
    rollup_clicks,
    rollup_conversions,
)
from conversions.stats import Period, resolve_period
from core.errors import ValidationError
from offers.selectors import offer_get_for_actor
from partners.selectors import partner_get_for_actor

MAX_REPORT_DAYS = 92
# Memory for one report's sorts and hashes (``_grouping_memory``): the largest grouping a
# report makes (a partner's month of raw clicks by sub id) fits in a hash table with room.
REPORT_WORK_MEM = "64MB"
MAX_GROUP_BY = 3
MAX_LIMIT = 1000
CENT = Decimal("0.01")
ZERO = Decimal("0")

TIME_DIMENSIONS = ("day", "week", "month")
SUB_DIMENSIONS = ("sub1", "sub2", "sub3", "sub4", "sub5")
# Only conversions carry these: a report grouped or filtered by them has no click metrics.
CONVERSION_DIMENSIONS = ("event_type", "status", "original_currency")
DIMENSIONS = (
    *TIME_DIMENSIONS,
    "offer",
    "partner",
    "event_type",
    "country",
    "device",
    *SUB_DIMENSIONS,
    "outcome",
    "status",
    "original_currency",
)
FILTERABLE = tuple(name for name in DIMENSIONS if name not in TIME_DIMENSIONS)
CLICK_METRICS = ("clicks", "billable_clicks", "refused_clicks", "epc", "cvr")
MONEY_METRICS = ("sale_amount", "revenue", "payout", "profit", "epc")
METRICS = (
    "clicks",
    "billable_clicks",
    "refused_clicks",
    "conversions",
    "sale_amount",
    "revenue",
    "payout",
    "profit",
    "epc",
    "cvr",
    "avg_fraud_score",
    "max_fraud_score",
    "flagged_conversions",
)
COUNTED = ~Q(status__in=UNCOUNTED_STATUSES)

_COMMON = {
    "offer": "offer__slug",
    "partner": "partner__slug",
    **{name: name for name in SUB_DIMENSIONS},
}
CLICK_COLUMNS = {
    **_COMMON,
    "country": "country",
    "device": "device_class",
    "outcome": "outcome",
    "currency": "offer__currency",
}
CONVERSION_COLUMNS = {
    **_COMMON,
    "country": "country",  # the click's, copied at attribution
    "device": "device_class",
    "outcome": "click__outcome",
    "event_type": "event_type",
    "status": "status",
    # The currency the sale was reported in (docs/currencies.md); amounts stay the offer's.
    "original_currency": "original_currency",
    "currency": "currency",
}
BUCKETS: dict[str, Callable[..., Any]] = {
    "day": TruncDate,
    "week": TruncWeek,
    "month": TruncMonth,
}


def _check(
    metrics: list[str], group_by: list[str], filters: dict[str, str], order_by: str | None
) -> None:
    """The contract's rules that span fields (the serializer checks each field alone)."""
    if len(group_by) > MAX_GROUP_BY or len(set(group_by)) != len(group_by):
        raise ValidationError(
            f"group_by takes at most {MAX_GROUP_BY} distinct dimensions.",
            fields={"group_by": ["Too many or repeated dimensions."]},
        )
    conversion_only = [name for name in (*group_by, *filters) if name in CONVERSION_DIMENSIONS]
    click_metrics = [name for name in metrics if name in CLICK_METRICS]
    if conversion_only and click_metrics:
        raise ValidationError(
            f"{', '.join(click_metrics)} cannot be reported by {', '.join(conversion_only)}: "
            "clicks have no event type or conversion status.",
            fields={"metrics": ["Click metrics with a conversion-only dimension."]},
        )
    subs = [name for name in dict.fromkeys((*group_by, *filters)) if name in SUB_DIMENSIONS]
    if subs and "partner" not in filters:
        # A sub id is a label each partner chooses for its own placements: "sub1=email" at one
        # partner and at another are different things, and summing them says nothing. Naming
        # the partner also bounds the raw scan a sub-id report needs (no rollup holds them).
        raise ValidationError(
            f"A report by {', '.join(subs)} needs filters.partner: sub ids are each partner's "
            "own labels, so they are reported one partner at a time.",
            fields={"filters": ["Name the partner whose sub ids to report."]},
        )
    if order_by is not None and order_by.lstrip("-") not in (*metrics, *group_by):
        raise ValidationError(
            "order_by must name a requested metric or group_by dimension, '-' for descending.",
            fields={"order_by": ["Not a requested metric or dimension."]},
        )


def _grouped(
    queryset: QuerySet[Any],
    columns: dict[str, str],
    keys: list[str],
    tz: zoneinfo.ZoneInfo,
    aggregates: dict[str, Any],
) -> dict[tuple[Any, ...], dict[str, Any]]:
    annotations = {
        f"key_{name}": BUCKETS[name]("created_at", output_field=DateField(), tzinfo=tz)
        if name in BUCKETS
        else F(columns[name])
        for name in keys
    }
    aggregates = {"n_rows": Count("pk"), **aggregates}
    if not keys:
        # values() with no field would group by every column: one total row, or none.
        total = queryset.aggregate(**aggregates)
        return {(): total} if total["n_rows"] else {}
    rows = queryset.annotate(**annotations).values(*annotations).annotate(**aggregates).order_by()
    return {tuple(row[f"key_{name}"] for name in keys): row for row in rows}


# Offer and partner filters reach the queries as ids (``report`` resolves the slugs once): on
# the id column PostgreSQL estimates from that column's own statistics, where a join on the slug
# left it guessing (a top partner's 570,000 clicks were planned as 17,000, sorted on disk).
_ID_FILTERS = {"offer": "offer_id", "partner": "partner_id"}


def _filtered(
    queryset: QuerySet[Any], columns: dict[str, str], filters: dict[str, Any]
) -> QuerySet[Any]:
    for name, value in filters.items():
        queryset = queryset.filter(**{_ID_FILTERS.get(name, columns[name]): value})
    return queryset


RATIO = Decimal("0.0001")


def _ratio(numerator: Decimal | int, denominator: int) -> Decimal:
    if not denominator:
        return ZERO.quantize(RATIO)
    return (Decimal(numerator) / denominator).quantize(RATIO)


def _cents(value: Any) -> Decimal:
    return Decimal(value or 0).quantize(CENT) + 0


def _score(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(CENT)


# Each metric from a row key's click sums and conversion sums (either may be empty). Only the
# requested ones are computed: a report of thousands of rows spends its time here otherwise.
Sums = dict[str, Any]
METRIC_VALUES: dict[str, Callable[[Sums, Sums], Any]] = {
    "clicks": lambda click, _: click.get("n_clicks", 0),
    "billable_clicks": lambda click, _: click.get("n_billable", 0),
    "refused_clicks": lambda click, _: click.get("n_refused", 0),
    "conversions": lambda _, conv: conv.get("n_conversions", 0),
    "sale_amount": lambda _, conv: _cents(conv.get("s_sale")),
    "revenue": lambda _, conv: _cents(conv.get("s_revenue")),
    "payout": lambda _, conv: _cents(conv.get("s_payout")),
    "profit": lambda _, conv: _cents(conv.get("s_revenue")) - _cents(conv.get("s_payout")),
    "epc": lambda click, conv: _ratio(_cents(conv.get("s_payout")), click.get("n_billable", 0)),
    "cvr": lambda click, conv: _ratio(conv.get("n_conversions", 0), click.get("n_billable", 0)),
    "avg_fraud_score": lambda _, conv: _score(conv.get("avg_score")),
    "max_fraud_score": lambda _, conv: conv.get("max_score"),
    "flagged_conversions": lambda _, conv: conv.get("n_flagged", 0),
}


def _aggregate(
    *,
    actor: Actor,
    period: Period,
    metrics: list[str],
    keys: list[str],
    filters: dict[str, Any],
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Per row key, the requested metrics over the period: a clicks query (when a click metric
    is asked for) and a conversions query, both grouped in the database."""
    tz = zoneinfo.ZoneInfo(period.timezone)
    window: dict[str, Any] = {"brand_id": actor.brand_id, "created_at__gte": period.start}
    window.update(created_at__lt=period.end, is_test=False)
    clicks: dict[tuple[Any, ...], dict[str, Any]] = {}
    wants_clicks = any(name in CLICK_METRICS for name in metrics)
    if wants_clicks and click_rollup_served(keys, filters):
        clicks = rollup_clicks(actor=actor, period=period, keys=keys, filters=filters)
    elif wants_clicks:
        accepted = Q(outcome=ClickOutcome.ACCEPTED)
        clicks = _grouped(
            _filtered(Click.objects.filter(**window), CLICK_COLUMNS, filters),
            CLICK_COLUMNS,
            keys,
            tz,
            {
                "n_clicks": Count("pk"),
                "n_billable": Count("pk", filter=accepted & Q(is_billable=True)),
                "n_refused": Count("pk", filter=~accepted),
            },
        )
    conversions: dict[tuple[Any, ...], dict[str, Any]] = {}
    wants_conversions = any(
        name not in ("clicks", "billable_clicks", "refused_clicks") for name in metrics
    )
    if wants_conversions and conversion_rollup_served(metrics, keys, filters):
        conversions = rollup_conversions(actor=actor, period=period, keys=keys, filters=filters)
    elif wants_conversions:
        conversions = _grouped(
            _filtered(Conversion.objects.filter(**window), CONVERSION_COLUMNS, filters),
            CONVERSION_COLUMNS,
            keys,
            tz,
            {
                "n_conversions": Count("pk", filter=COUNTED),
                "s_sale": Sum("sale_amount", filter=COUNTED),
                "s_revenue": Sum("revenue", filter=COUNTED),
                "s_payout": Sum("payout", filter=COUNTED),
                "avg_score": Avg("fraud_score"),
                "max_score": Max("fraud_score"),
                "n_flagged": Count("pk", filter=Q(fraud_flagged=True)),
            },
        )
    getters = [(name, METRIC_VALUES[name]) for name in metrics]
    empty: Sums = {}
    return {
        key: {
            name: get(clicks.get(key, empty), conversions.get(key, empty)) for name, get in getters
        }
        for key in clicks.keys() | conversions.keys()
    }


@contextmanager
def _grouping_memory() -> Iterator[None]:
    """On PostgreSQL, the report's queries run with ``REPORT_WORK_MEM`` for their sorts and
    hashes, set for this transaction only. With the server's default (4 MB) a grouping of raw
    rows by sub id (10,000 values over a partner's month) was planned as an external merge
    sort on disk; with room for a hash table it is one pass (docs/performance.md)."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        # set_config(…, is_local => true): SET LOCAL that takes a bound parameter
        cursor.execute("SELECT set_config('work_mem', %s, true)", [REPORT_WORK_MEM])
        yield


def _previous(period: Period) -> Period:
    """The equally long period just before ``period``, in the same time zone."""
    length = period.date_to - period.date_from + dt.timedelta(days=1)
    date_from = period.date_from - length
    date_to = period.date_from - dt.timedelta(days=1)
    tz = zoneinfo.ZoneInfo(period.timezone)
    start = dt.datetime.combine(date_from, dt.time.min, tzinfo=tz)
    return Period(date_from, date_to, start, period.start, period.timezone)


def _change(current: Any, previous: Any) -> Any:
    if current is None or previous is None:
        return None
    return current - previous


def _sort_key(order_by: str) -> Callable[[dict[str, Any]], Any]:
    field = order_by.lstrip("-")

    def key(row: dict[str, Any]) -> Any:
        value = row[field]
        # None sorts as lowest; the sort is stable, so ties keep the key order from before.
        return (value is not None, value if value is not None else 0)

    return key


def report(
    *,
    actor: Actor,
    metrics: list[str],
    group_by: list[str] | None = None,
    filters: dict[str, str] | None = None,
    days: int | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    compare_previous: bool = False,
    order_by: str | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    """Rows keyed by ``group_by`` (plus currency when a money metric is asked for), each with
    the requested ``metrics``; with ``compare_previous`` also the equally long period just
    before and the change (current − previous). Ordered by ``order_by`` (default: the keys
    ascending), at most ``limit`` rows; ``truncated`` says whether rows were left out."""
    group_by, filters = list(group_by or []), dict(filters or {})
    metrics = list(dict.fromkeys(metrics))
    _check(metrics, group_by, filters, order_by)
    if compare_previous and any(name in TIME_DIMENSIONS for name in group_by):
        raise ValidationError(
            "compare_previous compares whole periods; it cannot be grouped by day, week or month.",
            fields={"compare_previous": ["Not with a time dimension."]},
        )
    # A slug of another brand names nothing: "not found", as for any foreign id. The queries
    # filter on the ids found (``_ID_FILTERS``).
    resolved: dict[str, Any] = dict(filters)
    if "offer" in filters:
        resolved["offer"] = offer_get_for_actor(actor=actor, offer_id=filters["offer"]).pk
    if "partner" in filters:
        resolved["partner"] = partner_get_for_actor(actor=actor, partner_id=filters["partner"]).pk
    period = resolve_period(actor=actor, days=days, date_from=date_from, date_to=date_to)
    if (period.date_to - period.date_from).days >= MAX_REPORT_DAYS:
        raise ValidationError(
            f"A report may cover at most {MAX_REPORT_DAYS} days.",
            fields={"date_from": ["Range too long."]},
        )
    keys = [*group_by, *(["currency"] if any(m in MONEY_METRICS for m in metrics) else [])]
    previous: dict[tuple[Any, ...], dict[str, Any]] = {}
    with _grouping_memory():
        current = _aggregate(
            actor=actor, period=period, metrics=metrics, keys=keys, filters=resolved
        )
        if compare_previous:
            previous = _aggregate(
                actor=actor, period=_previous(period), metrics=metrics, keys=keys, filters=resolved
            )
    empty = _aggregate_empty(metrics)
    rows = []
    for key in current.keys() | previous.keys():
        row: dict[str, Any] = dict(zip(keys, key, strict=True))
        row.update(current.get(key, empty))
        if compare_previous:
            before = previous.get(key, empty)
            row["previous"] = before
            row["change"] = {name: _change(row[name], before[name]) for name in metrics}
        rows.append(row)
    rows.sort(key=lambda row: tuple((row[k] is not None, row[k] or "") for k in keys))
    if order_by:
        rows.sort(key=_sort_key(order_by), reverse=order_by.startswith("-"))
    return {
        "period": period.as_dict(),
        "metrics": metrics,
        "group_by": keys,
        "rows": rows[:limit],
        "truncated": len(rows) > limit,
    }


def _aggregate_empty(metrics: list[str]) -> dict[str, Any]:
    """A key with no rows in a period: counts and amounts zero, scores unknown (None)."""
    zero: dict[str, Any] = {
        "sale_amount": ZERO.quantize(CENT),
        "revenue": ZERO.quantize(CENT),
        "payout": ZERO.quantize(CENT),
        "profit": ZERO.quantize(CENT),
        "epc": ZERO.quantize(Decimal("0.0001")),
        "cvr": ZERO.quantize(Decimal("0.0001")),
        "avg_fraud_score": None,
        "max_fraud_score": None,
    }
    return {name: zero.get(name, 0) for name in metrics}
