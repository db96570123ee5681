"""The cap counters' periods, and seeding them when a cap is set or changed mid-period.

``conversions.caps`` counts a conversion against the caps with one conditional UPDATE of an
``OfferCapCounter`` row per capped period — but only while the offer has a cap: an uncapped
offer's conversions take no slot (no write per postback for nothing). So when a cap is set
(or lowered) mid-period, the current periods' counters may hold fewer than the conversions
the period already has. ``cap_counters_seed`` raises each to what the period holds, in the
cap change's transaction, so "daily 1 after one sale" refuses the next click at once. The
click path is unchanged: it still reads the counters, one query per capped click.

What a period holds is what would have taken a slot: the offer's conversions created in it
(brand time zone) that are not tests, not rejected, and not held for being over a cap.
Seeding only ever raises a counter (GREATEST), so a slot taken concurrently is never lost.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.db.models import F
from django.db.models.functions import Greatest

from offers.models import CapPeriod, Offer, OfferCapCounter

# Conversion status and reason strings (conversions.models sits a layer above offers).
REJECTED = "rejected"
CAP_EXCEEDED = "cap_exceeded"


def period_starts(now: dt.datetime, tz: zoneinfo.ZoneInfo) -> dict[str, dt.date]:
    local = now.astimezone(tz).date()
    return {
        CapPeriod.DAY: local,
        CapPeriod.WEEK: local - dt.timedelta(days=local.weekday()),  # ISO weeks start Monday
        CapPeriod.MONTH: local.replace(day=1),
    }


def offer_caps(offer: Offer) -> dict[str, int]:
    caps = {
        CapPeriod.DAY: offer.daily_cap,
        CapPeriod.WEEK: offer.weekly_cap,
        CapPeriod.MONTH: offer.monthly_cap,
    }
    return {period: cap for period, cap in caps.items() if cap is not None}


def cap_counters_seed(offer: Offer, *, now: dt.datetime, tz: zoneinfo.ZoneInfo) -> dict[str, int]:
    """Raise the current periods' counters of ``offer``'s caps to the conversions each period
    already holds; {period: count} as seeded. Run in the cap change's transaction."""
    caps = offer_caps(offer)
    if not caps:
        return {}
    starts = period_starts(now, tz)
    OfferCapCounter.objects.bulk_create(
        [
            OfferCapCounter(offer=offer, period=period, period_start=starts[period])
            for period in caps
        ],
        ignore_conflicts=True,
    )
    # The reverse relation conversions.models declares: conversions sits above offers.
    counted = offer.conversions.filter(is_test=False).exclude(status=REJECTED)
    counted = counted.exclude(status_reason=CAP_EXCEEDED)
    seeded = {}
    for period in caps:
        start = starts[period]
        since = dt.datetime(start.year, start.month, start.day, tzinfo=tz)
        held = counted.filter(created_at__gte=since).count()
        OfferCapCounter.objects.filter(offer=offer, period=period, period_start=start).update(
            count=Greatest(F("count"), held)
        )
        seeded[period] = held
    return seeded
