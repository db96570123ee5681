"""Clicks taken while the database is unreachable.

A click whose offer and partner config is already in the process cache does not need the
database to be answered: when writing it fails, the click is pushed, whole, onto a list in
Redis and the visitor is redirected as usual. The postback worker (`deliver_postbacks`)
drains the list once the database answers again: each click is inserted with its rollup
increment in one transaction, skipped if its id is already stored (so a drain interrupted
between inserting and trimming the list writes nothing twice), and one drainer runs at a time
(a Redis lock). Without Redis there is nowhere safe to keep a click, and the click endpoint
answers 503 as before. Offers with caps are not spooled: a cap cannot be checked without the
database, so their clicks go to the offer's fallback (refused as ``cap_reached``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import zoneinfo

from django.db import IntegrityError, transaction
from redis.exceptions import RedisError

from conversions.models import Click
from conversions.rollups import rollup_click
from trcker_site.counters import redis_client, redis_key

logger = logging.getLogger(__name__)

SPOOL_KEY = "trcker:click-spool"
DRAIN_LOCK_KEY = "trcker:click-spool-drain"
_FIELDS = (
    "id",
    "brand_id",
    "offer_id",
    "partner_id",
    "ip",
    "user_agent",
    "country",
    "device_class",
    "referrer",
    "sub1",
    "sub2",
    "sub3",
    "sub4",
    "sub5",
    "outcome",
    "is_billable",
    "fraud_score",
    "fraud_signals",
    "fraud_flagged",
)


class SpoolUnavailableError(Exception):
    """No shared Redis to keep the click in."""


def _client():
    client = redis_client()
    if client is None:
        raise SpoolUnavailableError("the click spool needs Redis (REDIS_URL)")
    return client


def push(click: Click, *, tz: zoneinfo.ZoneInfo, currency: str) -> None:
    """Keep an unsaved click until the database is back. Raises SpoolUnavailableError."""
    record = {name: getattr(click, name) for name in _FIELDS}
    record["created_at"] = click.created_at.isoformat()
    record["tz"] = tz.key
    record["currency"] = currency
    try:
        _client().rpush(redis_key(SPOOL_KEY), json.dumps(record))
    except SpoolUnavailableError:
        raise
    except Exception as exc:
        raise SpoolUnavailableError(str(exc)) from exc
    logger.warning("database unavailable: click %s spooled", click.id)


def pending() -> int:
    try:
        return int(_client().llen(redis_key(SPOOL_KEY)))
    except SpoolUnavailableError:
        return 0


def drain(batch: int = 500) -> int:
    """Write spooled clicks to the database; the number written. Raises DatabaseError when
    the database is still down (nothing is lost: the list is trimmed only after writing)."""
    try:
        client = _client()
    except SpoolUnavailableError:
        return 0
    key = redis_key(SPOOL_KEY)
    written = 0
    try:
        if not client.llen(key):
            return 0
        lock = client.lock(redis_key(DRAIN_LOCK_KEY), timeout=300, blocking=False)
        if not lock.acquire():
            return 0  # another drainer is at work
        try:
            while True:
                items = client.lrange(key, 0, batch - 1)
                if not items:
                    break
                for raw in items:
                    written += _write(_decode(raw))
                # Producers only append, so the first len(items) entries are the ones written.
                client.ltrim(key, len(items), -1)
        finally:
            with contextlib.suppress(RedisError):
                lock.release()
    except RedisError:
        # Redis went away: what was written stays (ids are skipped next time), the rest
        # stays in the list; the worker carries on with postbacks and tries again later.
        logger.warning("click spool unavailable; will retry", exc_info=True)
    if written:
        logger.info("wrote %s spooled clicks", written)
    return written


def _decode(raw: bytes) -> dict:
    return json.loads(raw)


def _write(record: dict) -> int:
    tz = zoneinfo.ZoneInfo(record.pop("tz"))
    currency = record.pop("currency")
    record["created_at"] = dt.datetime.fromisoformat(record["created_at"])
    click = Click(**record)
    try:
        with transaction.atomic():
            if Click.objects.filter(pk=click.pk).exists():
                return 0  # written by a drain that stopped before trimming the list
            click.save(force_insert=True)
            rollup_click(click, tz=tz, currency=currency)
    except IntegrityError:
        return 0
    return 1
