"""Click rollups (``ClickRollup``): clicks per brand, day, offer, partner, country, device and
outcome, what ``get_report`` reads for click metrics by any dimension but sub ids.

Each click is counted at four **levels** (grains), so a report reads the smallest table slice
that holds its dimensions instead of scanning every cell:
- ``CELL`` (0): every dimension (offer, partner, country, device, outcome);
- ``GEO`` (1): partner left out (0) — by offer, country, device and outcome;
- ``SOURCE`` (2): country and device left out ("") — by offer, partner and outcome;
- ``PAIR`` (3): outcome left out too ("") — by offer and partner, refusals counted in
  ``refused_clicks`` (a report by day and partner needs their count, not their reasons).
A partner sends most of its clicks from few countries, but across partners the full cells are
many; the projections are one to two orders of magnitude smaller, and ``PAIR`` another three
to four times smaller than ``SOURCE`` (docs/performance.md).

The same rules as the daily rollups (``conversions.rollups``): written only by the one click
writer (``click_store.write_clicks``) in the transaction that inserts the clicks, as
increments; repaired by the rollup rebuild through corrections computed from one snapshot
(``raw_click_cells`` − ``click_cell_sums``), never by deletes. Every click has a row here,
refusals that named no known offer or partner included (offer or partner 0), so ``clicks``
counts every recorded click. Test clicks (``is_test``) never do.

A batch of clicks becomes one ``INSERT … ON CONFLICT DO UPDATE`` statement
(``core.db.increment_rows``), its rows in key order (so two writers lock shared rows in the
same order): one statement per batch, not one per cell. The stripe is the writing process's
(``process_stripe``), not a random one per batch as for ``DailyRollup``: this table is written
by the click writer only, whose concurrent writers are a few worker processes, so one stripe
per process removes their row-lock waits while a key keeps as many rows as there are
writers, not ``ROLLUP_STRIPES``, which would multiply what every report reads."""

from __future__ import annotations

import datetime as dt
import os
import random
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import Count, Q, Sum

from conversions.models import Click, ClickOutcome, ClickRollup
from core.db import increment_rows

# Rows per rollup key that new traffic spreads over, for both rollups (``DailyRollup`` too).
ROLLUP_STRIPES = 8
CELL, GEO, SOURCE, PAIR = 0, 1, 2, 3
LEVELS = (CELL, GEO, SOURCE, PAIR)
# The report dimensions each level keeps (time is every level's day; currency, its offer's).
LEVEL_DIMENSIONS = {
    CELL: frozenset({"offer", "partner", "country", "device", "outcome"}),
    GEO: frozenset({"offer", "country", "device", "outcome"}),
    SOURCE: frozenset({"offer", "partner", "outcome"}),
    PAIR: frozenset({"offer", "partner"}),
}
# Smallest first: the order ``level_for`` tries them in.
_BY_SIZE = (PAIR, SOURCE, GEO, CELL)
# (level, day, offer id, partner id, country, device, outcome): one row key of a brand.
Cell = tuple[int, dt.date, int, int, str, str, str]
COUNTERS = ("clicks", "billable_clicks", "refused_clicks")
_KEY_COLUMNS = (
    "brand_id",
    "level",
    "day",
    "offer_id",
    "partner_id",
    "country",
    "device",
    "outcome",
)


def level_for(dimensions: set[str]) -> int | None:
    """The smallest level holding every one of ``dimensions`` (None: no level holds them)."""
    for level in _BY_SIZE:
        if dimensions <= LEVEL_DIMENSIONS[level]:
            return level
    return None


def _project(cell: Cell, level: int) -> Cell:
    _, day, offer, partner, country, device, outcome = cell
    if level == GEO:
        return (GEO, day, offer, 0, country, device, outcome)
    if level == SOURCE:
        return (SOURCE, day, offer, partner, "", "", outcome)
    if level == PAIR:
        return (PAIR, day, offer, partner, "", "", "")
    return (CELL, day, offer, partner, country, device, outcome)


def cell_of(click: Click, tz: zoneinfo.ZoneInfo) -> Cell:
    """The click's level-``CELL`` key (``_project`` gives the others)."""
    return (
        CELL,
        click.created_at.astimezone(tz).date(),
        click.offer_id or 0,
        click.partner_id or 0,
        click.country,
        click.device_class,
        click.outcome,
    )


def _counts(click: Click) -> tuple[int, int, int]:
    accepted = click.outcome == ClickOutcome.ACCEPTED
    return 1, int(accepted and click.is_billable), int(not accepted)


def hot_path_stripe() -> int:
    # Not security-relevant: only spreads lock contention.
    return random.randrange(ROLLUP_STRIPES)  # noqa: S311


def process_stripe() -> int:
    """This process's stripe for click rollups (see the module's note)."""
    return os.getpid() % ROLLUP_STRIPES


def _add(brand_cells: Mapping[tuple[int, Cell], Mapping[str, int]], *, spread: bool) -> None:
    """One statement: each (brand, cell) row incremented by its deltas, on this process's
    stripe (``spread``, new clicks) or stripe 0 (rebuild corrections)."""
    stripe = process_stripe() if spread else 0
    rows: list[tuple[Any, ...]] = [
        (brand_id, *cell, stripe, *(deltas.get(c, 0) for c in COUNTERS))
        for (brand_id, cell), deltas in sorted(brand_cells.items())
        if any(deltas.values())
    ]
    increment_rows(ClickRollup, key=(*_KEY_COLUMNS, "stripe"), counters=COUNTERS, rows=rows)


def click_rollups_added(clicks: Iterable[tuple[Click, zoneinfo.ZoneInfo]]) -> None:
    """The increments of newly written (click, brand time zone); the caller
    (``rollups.rollup_clicks_added``) has left test clicks out."""
    cells: defaultdict[tuple[int, Cell], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(COUNTERS, 0)
    )
    for click, tz in clicks:
        every, billable, refused = _counts(click)
        cell = cell_of(click, tz)
        for level in LEVELS:
            counts = cells[(click.brand_id, _project(cell, level))]
            counts["clicks"] += every
            counts["billable_clicks"] += billable
            counts["refused_clicks"] += refused
    _add(cells, spread=True)


# --- rebuilding -----------------------------------------------------------------------------


def raw_click_cells(
    *, brand_id: int, day: dt.date, start: dt.datetime, end: dt.datetime
) -> dict[Cell, dict[str, int]]:
    """One brand-day's row keys at every level, computed from raw clicks (``start``–``end``:
    the day's instants in the brand's zone): one grouped query, projected here."""
    rows = (
        Click.objects.filter(
            brand_id=brand_id, created_at__gte=start, created_at__lt=end, is_test=False
        )
        .values("offer_id", "partner_id", "country", "device_class", "outcome")
        .annotate(
            n_clicks=Count("pk"),
            n_billable=Count("pk", filter=Q(outcome=ClickOutcome.ACCEPTED, is_billable=True)),
        )
        .order_by()
    )
    cells: defaultdict[Cell, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTERS, 0))
    for row in rows:
        cell = (
            CELL,
            day,
            row["offer_id"] or 0,
            row["partner_id"] or 0,
            row["country"],
            row["device_class"],
            row["outcome"],
        )
        refused = 0 if row["outcome"] == ClickOutcome.ACCEPTED else row["n_clicks"]
        for level in LEVELS:
            counts = cells[_project(cell, level)]
            counts["clicks"] += row["n_clicks"]
            counts["billable_clicks"] += row["n_billable"]
            counts["refused_clicks"] += refused
    return dict(cells)


def click_cell_sums(*, brand_id: int, day: dt.date) -> dict[Cell, dict[str, int]]:
    """One brand-day's row keys at every level as the rollups hold them, summed over the
    stripes."""
    rows = (
        ClickRollup.objects.filter(brand_id=brand_id, day=day)
        .values("level", "offer_id", "partner_id", "country", "device", "outcome")
        .annotate(
            n_clicks=Sum("clicks"),
            n_billable=Sum("billable_clicks"),
            n_refused=Sum("refused_clicks"),
        )
        .order_by()
    )
    return {
        (
            row["level"],
            day,
            row["offer_id"],
            row["partner_id"],
            row["country"],
            row["device"],
            row["outcome"],
        ): {
            "clicks": row["n_clicks"],
            "billable_clicks": row["n_billable"],
            "refused_clicks": row["n_refused"],
        }
        for row in rows
    }


def click_cell_corrections(
    raw: Mapping[Cell, Mapping[str, int]], current: Mapping[Cell, Mapping[str, int]]
) -> dict[Cell, dict[str, int]]:
    """Per cell, raw − current for each counter that differs."""
    fixes = {}
    for cell in raw.keys() | current.keys():
        want, have = raw.get(cell, {}), current.get(cell, {})
        deltas = {c: want.get(c, 0) - have.get(c, 0) for c in COUNTERS}
        if any(deltas.values()):
            fixes[cell] = deltas
    return fixes


def click_day_corrections(
    brand_id: int, day: dt.date, start: dt.datetime, end: dt.datetime
) -> dict[Cell, dict[str, int]]:
    """One brand-day's corrections, raw − rollups: call it inside the rebuild's snapshot."""
    return click_cell_corrections(
        raw_click_cells(brand_id=brand_id, day=day, start=start, end=end),
        click_cell_sums(brand_id=brand_id, day=day),
    )


def apply_click_cell_corrections(*, brand_id: int, fixes: Mapping[Cell, Mapping[str, int]]) -> None:
    """Add the corrections on stripe 0, in the caller's transaction."""
    _add({(brand_id, cell): deltas for cell, deltas in fixes.items()}, spread=False)
