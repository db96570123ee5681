"""Conversion caps per day/week/month in the brand's time zone, exact under concurrency.

A conversion takes a slot with one conditional UPDATE per capped period
(``count = count + 1 WHERE count < cap``); under READ COMMITTED PostgreSQL re-checks the
WHERE clause against the committed row, so concurrent writers can never overshoot. Periods
are taken all-or-nothing inside a savepoint. A cap set or lowered mid-period starts from what
the period already holds (``offers.cap_counters.cap_counters_seed``)."""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from django.db import transaction
from django.db.models import F

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


def cap_try_take(offer: OfferConfig, *, now: datetime, tz: zoneinfo.ZoneInfo) -> bool:
    """Take one slot in every capped period, or none. Must run in the caller's transaction."""
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
    try:
        with transaction.atomic():
            for period, cap in caps.items():
                taken = OfferCapCounter.objects.filter(
                    offer_id=offer.id, period=period, period_start=starts[period], count__lt=cap
                ).update(count=F("count") + 1)
                if taken != 1:
                    raise _CapFull
    except _CapFull:
        return False
    return True


class _CapFull(Exception):  # noqa: N818 - private control flow
    pass
