"""Conversion caps per day/week/month in the brand's time zone, exact under concurrency.

A conversion takes a slot with one conditional UPDATE per capped period
(``count = count + 1 WHERE count < cap``); under READ COMMITTED PostgreSQL re-checks the
WHERE clause against the committed row, so concurrent writers can never overshoot. Periods
are taken all-or-nothing inside a savepoint. A cap set or lowered mid-period starts from what
the period already holds (``offers.cap_counters.cap_counters_seed``)."""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from django.db import connection, transaction

from brands import events
from conversions.tracking_config import OfferConfig
from offers.cap_counters import period_starts
from offers.models import CapPeriod, OfferCapCounter

__all__ = ["cap_reached", "cap_try_take", "period_starts"]


def _caps(offer: OfferConfig) -> dict[str, int]:
    caps = {
        CapPeriod.DAY: offer.daily_cap,
        CapPeriod.WEEK: offer.weekly_cap,
        CapPeriod.MONTH: offer.monthly_cap,
    }
    return {period: cap for period, cap in caps.items() if cap is not None}


def cap_reached(offer: OfferConfig, *, now: datetime, tz: zoneinfo.ZoneInfo) -> bool:
    """Is any cap of the current periods full? One query, only for capped offers."""
    caps = _caps(offer)
    if not caps:
        return False
    if 0 in caps.values():
        return True
    starts = period_starts(now, tz)
    counts = (
        OfferCapCounter.objects.filter(offer_id=offer.id, period__in=list(caps))
        .filter(period_start__in={starts[period] for period in caps})
        .values_list("period", "period_start", "count")
    )
    return any(start == starts[period] and count >= caps[period] for period, start, count in counts)


def cap_try_take(
    offer: OfferConfig, *, now: datetime, tz: zoneinfo.ZoneInfo, brand_id: int | None = None
) -> bool:
    """Take one slot in every capped period, or none. Must run in the caller's transaction.
    The conversion that takes a period's last slot announces ``cap.reached`` (brands.events)
    in that transaction: exactly once per filled period, and no extra query — the UPDATE
    answers the new count (RETURNING)."""
    caps = _caps(offer)
    if not caps:
        return True
    starts = period_starts(now, tz)
    OfferCapCounter.objects.bulk_create(
        [
            OfferCapCounter(offer_id=offer.id, period=period, period_start=starts[period])
            for period in caps
        ],
        ignore_conflicts=True,
    )
    filled = []
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            for period, cap in caps.items():
                cursor.execute(TAKE_SLOT, [offer.id, period, starts[period], cap])
                row = cursor.fetchone()
                if row is None:
                    raise _CapFull
                if row[0] >= cap:
                    filled.append(period)
    except _CapFull:
        return False
    if brand_id is None:
        return True
    for period in filled:
        events.emit(
            brand_id=brand_id,
            event=events.CAP_REACHED,
            data={
                "offer_id": offer.slug,
                "period": period,
                "period_start": starts[period],
                "cap": caps[period],
                "cap_mode": offer.cap_mode,
            },
        )
    return True


_TABLE = OfferCapCounter._meta.db_table
# The conditional increment: under READ COMMITTED PostgreSQL re-checks ``count < cap`` against
# the committed row, so concurrent writers never overshoot; no row back means the cap is full.
TAKE_SLOT = (
    f"UPDATE {_TABLE} SET count = count + 1 "  # noqa: S608 - the table name is ours
    "WHERE offer_id = %s AND period = %s AND period_start = %s AND count < %s RETURNING count"
)


class _CapFull(Exception):  # noqa: N818 - private control flow
    pass
