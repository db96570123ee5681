"""Daily rollups, maintained by increments in the transaction of the change that moves them.

One statement per change: ``INSERT … ON CONFLICT (brand, day, offer, partner, stripe) DO
UPDATE SET col = col + excluded.col`` (PostgreSQL and SQLite alike), so concurrent writers
never read and rewrite a row. New traffic spreads over ``ROLLUP_STRIPES`` rows per key, so the
hot paths' writers do not queue on one row lock held until COMMIT: each new conversion, and
each batch of new clicks (the one click writer, ``click_store.write_clicks``, whether a worker
writes queued clicks or a request writes its own) per key, increments a stripe picked at
random (``click_rollups.hot_path_stripe``, the policy of both rollups). Later changes go to
stripe 0: status moves, a BotD verdict's flag, rebuild
corrections. Readers sum over the stripes. The rollup currency of a key is its offer's
currency, which ``offer_update`` freezes once the offer has traffic.

``rebuild_day`` / ``rebuild_brand`` repair rollups from raw rows by corrections: raw − rollups
read in one snapshot, then added through the same increment, so an increment committed after
the snapshot is neither counted in the correction nor undone by it. They delete nothing, and
a live writer waits on them only for the stripe-0 rows of the keys they correct, during one
short transaction, so they may run while traffic flows (the reasoning is on ``rebuild_day``).
Raw clicks are pruned after retention, conversions never: on a day ``prune_clicks`` has reached,
even in part (its ``ClickPruning`` mark, read in the same snapshot), a rebuild recomputes only
the conversion columns and leaves the click columns as the increments made them."""

from __future__ import annotations

import contextlib
import datetime as dt
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import TruncDate

from brands.models import Brand
from conversions.click_rollups import (
    apply_click_cell_corrections,
    click_day_corrections,
    click_rollups_added,
    hot_path_stripe,
)
from conversions.models import (
    Click,
    ClickOutcome,
    ClickPruning,
    ClickRollup,
    Conversion,
    ConversionStatus,
    DailyRollup,
)
from core.db import increment_rows

ZERO = Decimal("0")
STATUSES = tuple(ConversionStatus.values)
KEY_COLUMNS = ("brand_id", "day", "offer_id", "partner_id")
COUNTER_COLUMNS = tuple(
    field.name
    for field in DailyRollup._meta.fields
    if field.name not in ("id", "brand", "day", "offer", "partner", "currency", "stripe")
)
# The columns only raw clicks feed (``click_deltas``); every other counter comes from
# conversions.
CLICK_COLUMNS = ("clicks_gross", "clicks", "clicks_flagged", "clicks_fraud_refused")
CONVERSION_COLUMNS = tuple(column for column in COUNTER_COLUMNS if column not in CLICK_COLUMNS)


def rollup_add(
    *,
    brand_id: int,
    day: dt.date,
    offer_id: int,
    partner_id: int,
    currency: str,
    deltas: Mapping[str, int | Decimal],
    stripe: int = 0,
) -> None:
    """Apply one increment now (nothing when every delta is zero)."""
    _add_grouped({(brand_id, day, offer_id, partner_id, currency): deltas}, stripe=stripe)


RollupKey = tuple[int, dt.date, int, int, str]  # brand, day, offer, partner, currency


def _add_grouped(
    grouped: Mapping[RollupKey, Mapping[str, int | Decimal]],
    *,
    spread: bool = False,
    stripe: int = 0,
) -> None:
    """All the increments in one statement (``core.db.increment_rows``), rows in key order so
    two writers lock shared rows in the same order. ``spread``: each key on a random stripe
    (new clicks and conversions); else ``stripe`` (0: status moves). Keys that meet on one row
    (the same offer × partner day under two currency labels) are summed first: one statement
    may not touch a row twice, and the row keeps the label it was created with."""
    rows: dict[tuple[int, dt.date, int, int, int], tuple[str, defaultdict[str, Any]]] = {}
    for (brand_id, day, offer_id, partner_id, currency), deltas in sorted(grouped.items()):
        if not any(deltas.values()):
            continue
        row = (brand_id, day, offer_id, partner_id, hot_path_stripe() if spread else stripe)
        _, total = rows.setdefault(row, (currency, defaultdict(int)))
        for column, value in deltas.items():
            total[column] += value
    counters = sorted({c for _, deltas in rows.values() for c, value in deltas.items() if value})
    increment_rows(
        DailyRollup,
        key=(*KEY_COLUMNS, "stripe"),
        labels=("currency",),
        counters=counters,
        rows=[
            (*key, currency, *(deltas.get(column, 0) for column in counters))
            for key, (currency, deltas) in sorted(rows.items())
        ],
    )


def _grouped() -> defaultdict[RollupKey, defaultdict[str, Any]]:
    return defaultdict(lambda: defaultdict(int))


def local_day(moment: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.date:
    return moment.astimezone(tz).date()


def click_deltas(click: Click) -> dict[str, int]:
    accepted = click.outcome == ClickOutcome.ACCEPTED
    return {
        "clicks_gross": 1,
        "clicks": int(accepted and click.is_billable),
        "clicks_flagged": int(click.fraud_flagged),
        "clicks_fraud_refused": int(click.outcome == ClickOutcome.FRAUD_BLOCKED),
    }


def status_deltas(status: str, conversion: Any, sign: int = 1) -> dict[str, int | Decimal]:
    return {
        f"{status}_count": sign,
        f"{status}_payout": sign * conversion.payout,
        f"{status}_revenue": sign * conversion.revenue,
        f"{status}_sale": sign * conversion.sale_amount,
    }


def conversion_deltas(conversion: Conversion) -> dict[str, int | Decimal]:
    return {
        **status_deltas(conversion.status, conversion),
        "conversions_flagged": int(conversion.fraud_flagged),
        "conversions_fraud_review": int(conversion.status_reason == "fraud_review"),
        "conversions_fraud_rejected": int(conversion.status_reason == "fraud_blocked"),
    }


def rollup_clicks_added(clicks: Iterable[tuple[Click, zoneinfo.ZoneInfo, str]]) -> None:
    """The increments of new (click, brand time zone, currency), summed per rollup row, each
    row on a random stripe: the one stripe policy of the one click writer
    (``conversions.click_store.write_clicks``), for clicks written by a worker or directly.
    Both rollups: ``DailyRollup`` and ``ClickRollup``. Test clicks move neither."""
    clicks = [item for item in clicks if not item[0].is_test]
    click_rollups_added((click, tz) for click, tz, _ in clicks)
    grouped = _grouped()
    for click, tz, currency in clicks:
        if click.offer_id is None or click.partner_id is None:
            continue  # refused before an offer and a partner were known
        key = (click.brand_id, local_day(click.created_at, tz), click.offer_id, click.partner_id)
        for column, value in click_deltas(click).items():
            grouped[(*key, currency)][column] += value
    _add_grouped(grouped, spread=True)


def rollup_conversion_added(conversion: Conversion, *, tz: zoneinfo.ZoneInfo) -> None:
    if conversion.is_test:
        return
    rollup_add(
        brand_id=conversion.brand_id,
        day=local_day(conversion.created_at, tz),
        offer_id=conversion.offer_id,
        partner_id=conversion.partner_id,
        currency=conversion.currency,
        deltas=conversion_deltas(conversion),
        stripe=hot_path_stripe(),
    )


REASON_COLUMNS = {
    "fraud_review": "conversions_fraud_review",
    "fraud_blocked": "conversions_fraud_rejected",
}


def reason_deltas(old_reason: str, new_reason: str) -> dict[str, int]:
    deltas: dict[str, int] = defaultdict(int)
    if old_reason in REASON_COLUMNS:
        deltas[REASON_COLUMNS[old_reason]] -= 1
    if new_reason in REASON_COLUMNS:
        deltas[REASON_COLUMNS[new_reason]] += 1
    return dict(deltas)


def rollup_conversions_moved(
    conversions: Iterable[Any],
    *,
    tz: zoneinfo.ZoneInfo,
    old: str,
    new: str,
    old_reason: str = "",
    new_reason: str = "",
) -> None:
    """Move counts and amounts from one status column to another, grouped per rollup row."""
    grouped = _grouped()
    for conversion in conversions:
        if conversion.is_test:
            continue
        key = (
            conversion.brand_id,
            local_day(conversion.created_at, tz),
            conversion.offer_id,
            conversion.partner_id,
            conversion.currency,
        )
        for column, value in {
            **status_deltas(old, conversion, -1),
            **status_deltas(new, conversion),
            **reason_deltas(old_reason, new_reason),
        }.items():
            grouped[key][column] += value
    _add_grouped(grouped)


# --- rebuilding from raw rows ---------------------------------------------------------------


def day_start(day: dt.date, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=tz)


def raw_aggregates(
    *, brand_id: int, tz: zoneinfo.ZoneInfo, day: dt.date
) -> dict[tuple[int, int], dict[str, Any]]:
    """The rollup values of one brand and day, computed from raw clicks and conversions."""
    start = day_start(day, tz)
    end = day_start(day + dt.timedelta(days=1), tz)
    rows: dict[tuple[int, int], dict[str, Any]] = defaultdict(dict)
    clicks = (
        Click.objects.filter(
            brand_id=brand_id,
            created_at__gte=start,
            created_at__lt=end,
            offer__isnull=False,
            partner__isnull=False,
            is_test=False,
        )
        .values("offer_id", "partner_id", "offer__currency")
        .annotate(
            clicks_gross=Count("pk"),
            clicks=Count("pk", filter=Q(outcome=ClickOutcome.ACCEPTED, is_billable=True)),
            clicks_flagged=Count("pk", filter=Q(fraud_flagged=True)),
            clicks_fraud_refused=Count("pk", filter=Q(outcome=ClickOutcome.FRAUD_BLOCKED)),
        )
    )
    for row in clicks:
        key = (row.pop("offer_id"), row.pop("partner_id"))
        rows[key].update(row, currency=row.pop("offer__currency"))
    aggregates: dict[str, Any] = {
        "conversions_flagged": Count("pk", filter=Q(fraud_flagged=True)),
        "conversions_fraud_review": Count("pk", filter=Q(status_reason="fraud_review")),
        "conversions_fraud_rejected": Count("pk", filter=Q(status_reason="fraud_blocked")),
    }
    for status in STATUSES:
        only = Q(status=status)
        aggregates[f"{status}_count"] = Count("pk", filter=only)
        aggregates[f"{status}_payout"] = Sum("payout", filter=only)
        aggregates[f"{status}_revenue"] = Sum("revenue", filter=only)
        aggregates[f"{status}_sale"] = Sum("sale_amount", filter=only)
    conversions = (
        Conversion.objects.filter(
            brand_id=brand_id, created_at__gte=start, created_at__lt=end, is_test=False
        )
        .values("offer_id", "partner_id", "currency")
        .annotate(**aggregates)
    )
    for row in conversions:
        key = (row.pop("offer_id"), row.pop("partner_id"))
        rows[key].update({k: (v if v is not None else ZERO) for k, v in row.items()})
    return rows


def rollup_sums(*, brand_id: int, day: dt.date) -> dict[tuple[int, int], dict[str, Any]]:
    """The rollups of one brand and day per (offer, partner), summed over the stripes."""
    rows = (
        DailyRollup.objects.filter(brand_id=brand_id, day=day)
        .values("offer_id", "partner_id")
        .annotate(currency=Max("currency"), **{column: Sum(column) for column in COUNTER_COLUMNS})
        .order_by()
    )
    return {(row.pop("offer_id"), row.pop("partner_id")): row for row in rows}


CENT = Decimal("0.01")


def _number(value: Any) -> int | Decimal:
    # Money to the cent: SQLite sums NUMERIC as floating point, so a sum that should be 12.30
    # may read 12.299999999; both sides are rounded before they are compared.
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    return Decimal(str(value)).quantize(CENT) + 0  # + 0: no negative zero


def corrections(
    raw: Mapping[tuple[int, int], Mapping[str, Any]],
    current: Mapping[tuple[int, int], Mapping[str, Any]],
    columns: tuple[str, ...] = COUNTER_COLUMNS,
) -> dict[tuple[int, int], tuple[str, dict[str, int | Decimal]]]:
    """Per (offer, partner): its currency and raw − current for each of ``columns`` that
    differs."""
    result = {}
    for key in sorted(raw.keys() | current.keys()):
        want, have = raw.get(key, {}), current.get(key, {})
        deltas = {
            column: _number(want.get(column)) - _number(have.get(column)) for column in columns
        }
        deltas = {column: delta for column, delta in deltas.items() if delta}
        if deltas:
            # The key's existing label first, so its rows never disagree; rows of a key with
            # no raw rows left keep theirs (they go to zero, they are not deleted).
            currency = have.get("currency") or want.get("currency") or ""
            result[key] = (currency, deltas)
    return result


@contextlib.contextmanager
def _one_rebuild_at_a_time(brand_id: int, day: dt.date) -> Iterator[None]:
    # Two rebuilds of one brand-day reading the same snapshot would both add the same
    # correction. Only rebuilds take this lock; live writers never touch it. A session-level
    # advisory lock, because it must span the snapshot and the apply transaction. SQLite mode
    # is one process for development: run one rebuild at a time there.
    if connection.vendor != "postgresql":
        yield
        return
    key = f"rollup-rebuild:{brand_id}:{day.isoformat()}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [key])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])


def clicks_pruned(*, brand_id: int, tz: zoneinfo.ZoneInfo, day: dt.date) -> bool:
    """Whether ``prune_clicks`` may have deleted raw clicks of this brand-day: its mark is
    later than the day's first instant, so a partly pruned day counts as pruned. Read it in the
    same snapshot as the raw rows it speaks for."""
    pruned_before = (
        ClickPruning.objects.filter(brand_id=brand_id)
        .values_list("pruned_before", flat=True)
        .first()
    )
    return pruned_before is not None and day_start(day, tz) < pruned_before


_Snapshot = tuple[
    dict[tuple[int, int], dict[str, Any]],
    dict[tuple[int, int], dict[str, Any]],
    tuple[str, ...],
    dict[Any, dict[str, int]],
]


def _snapshot(*, brand_id: int, tz: zoneinfo.ZoneInfo, day: dt.date) -> _Snapshot:
    """Raw aggregates, rollup sums and the columns to rebuild of one brand-day, and the click
    rollups' corrections (none on a pruned day), read in one snapshot."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            # PostgreSQL takes a REPEATABLE READ snapshot at the first query of the
            # transaction, so both reads below see the same committed writers. Under READ
            # COMMITTED each statement would see a newer state and a writer committing
            # between them would be counted on one side only. SQLite: one transaction is
            # already a snapshot. Inside a caller's transaction (tests) that one applies.
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        pruned = clicks_pruned(brand_id=brand_id, tz=tz, day=day)
        raw = raw_aggregates(brand_id=brand_id, tz=tz, day=day)
        current = rollup_sums(brand_id=brand_id, day=day)
        end = day_start(day + dt.timedelta(days=1), tz)
        click_fixes = (
            {} if pruned else click_day_corrections(brand_id, day, day_start(day, tz), end)
        )
    # The click columns of a pruned day stay as the increments made them: the raw rows that
    # could correct them are gone, and recomputing from what is left would undercount.
    return raw, current, CONVERSION_COLUMNS if pruned else COUNTER_COLUMNS, click_fixes


def rebuild_day(*, brand_id: int, tz: zoneinfo.ZoneInfo, day: dt.date) -> int:
    """Bring one brand-day's rollups (``DailyRollup`` and ``ClickRollup``) to the raw rows by
    corrections; returns how many keys it corrected (0 when the rollups were already exact).

    1. In one snapshot (PostgreSQL: REPEATABLE READ; SQLite: one transaction) read the brand's
       ``ClickPruning`` mark, the raw aggregates and the current rollups summed over stripes;
       per key and column the correction is raw − current, over every column or, on a day the
       mark says may have lost clicks (``clicks_pruned``), over the conversion columns only
       (and no click rollup). 2. In a separate short transaction, apply the non-zero
       corrections with the ordinary increments (stripe 0), keys in order.

    Why this is exact while traffic flows: every live writer commits its raw change and its
    increment in one transaction, so it is either wholly inside the snapshot (in raw and in
    current, no correction for it) or wholly after it (in neither; its increment lands on the
    rollups on its own). The correction is therefore exactly the error that existed at the
    snapshot, and increments commute, so adding it later, on any stripe, in any order with
    other increments, leaves rollups = raw.

    Why pruning never makes it undercount: ``clicks_prune`` commits the mark with its first
    delete of a brand, later deletes only reach below a committed mark, and it moves no rollup.
    So the snapshot either sees none of the deletes below the mark (raw clicks complete: the
    correction is the error at the snapshot, and stays right if the prune commits before it
    is applied, since pruning changed no rollup) or sees the mark (click columns untouched).
    A click written late onto a pruned day (queued for longer than the retention) brings its
    own increment, and the next prune deletes its raw row; its count stays.

    Nothing is deleted (a key with no raw rows left is corrected to zero in the columns it
    rebuilds). The snapshot takes no row locks; the corrections lock the stripe-0 rows of the
    keys they correct until their one short transaction commits. Two rebuilds of one brand-day
    would both apply the same correction: an advisory lock only rebuilds take (PostgreSQL)
    serializes them."""
    with _one_rebuild_at_a_time(brand_id, day):
        raw, current, columns, click_fixes = _snapshot(brand_id=brand_id, tz=tz, day=day)
        fixes = corrections(raw, current, columns)
        with transaction.atomic():
            apply_click_cell_corrections(brand_id=brand_id, fixes=click_fixes)
            for (offer_id, partner_id), (currency, deltas) in fixes.items():
                rollup_add(
                    brand_id=brand_id,
                    day=day,
                    offer_id=offer_id,
                    partner_id=partner_id,
                    currency=currency,
                    deltas=deltas,
                )
    return len(fixes) + len(click_fixes)


def days_with_activity(
    *, brand_id: int, tz: zoneinfo.ZoneInfo, since: dt.date | None
) -> list[dt.date]:
    days: set[dt.date] = set()
    for model in (Click, Conversion):
        qs = model.objects.filter(brand_id=brand_id)
        if since:
            qs = qs.filter(created_at__gte=dt.datetime.combine(since, dt.time.min, tzinfo=tz))
        days |= set(
            qs.annotate(day=TruncDate("created_at", tzinfo=tz))
            .values_list("day", flat=True)
            .distinct()
        )
    for rollup in (DailyRollup, ClickRollup):
        rolled = rollup.objects.filter(brand_id=brand_id)
        if since:
            rolled = rolled.filter(day__gte=since)
        days |= set(rolled.values_list("day", flat=True).distinct())
    return sorted(days)


def rebuild_brand(*, brand_id: int, since: dt.date | None = None, progress: Any = None) -> int:
    """Correct every day with raw rows or rollups (from ``since``) for one brand, day by day
    (``rebuild_day``); returns how many days it looked at."""
    tz = zoneinfo.ZoneInfo(Brand.objects.values_list("timezone", flat=True).get(pk=brand_id))
    days = days_with_activity(brand_id=brand_id, tz=tz, since=since)
    for index, day in enumerate(days, 1):
        rebuild_day(brand_id=brand_id, tz=tz, day=day)
        if progress:
            progress(index, len(days))
    return len(days)
