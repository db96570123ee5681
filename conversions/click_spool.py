"""The click spool: clicks kept in Redis on their way to the database.

Two uses, one list:

- **Write-behind** (the normal path with Redis, ``TRCKER_CLICK_WRITE_BEHIND``): the redirect
  queues the finished click in its process instead of writing it to PostgreSQL; a thread
  pushes the queue onto a list in Redis every ``TRCKER_CLICK_PUSH_DELAY`` seconds (one
  pipelined command), and a thread in every web process drains the list every
  ``TRCKER_CLICK_DRAIN_DELAY`` seconds, writing each batch as one multi-row INSERT plus one
  rollup increment per (day, offer, partner) in one transaction. A postback or bot verdict
  that arrives before its click is written, and every reader of clicks or rollups, drains
  the list first (``settle()``).
- **Database down**: a click whose offer and partner config is already in the process cache
  does not need the database to be answered; when writing it fails it is pushed the same way
  and written once the database answers again. Offers with caps are not spooled on that
  path: a cap cannot be checked without the database, so their clicks go to the offer's
  fallback (refused as ``cap_reached``).

One drainer at a time (a Redis lock) takes a batch from the head of the list, skips ids
already stored (a drain interrupted between writing and trimming writes nothing twice),
writes the rest, then trims the batch off the list. Without Redis there is nowhere to keep a
click: clicks are written during the request, and with the database down too the click
endpoint answers 503.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import threading
import time
import zoneinfo
from collections import deque
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from redis.exceptions import RedisError

from conversions.models import Click
from conversions.rollups import rollup_clicks_added
from trcker_site.background import Ticker
from trcker_site.counters import redis_client, redis_key
from trcker_site.db import atomic_without_disk_wait

logger = logging.getLogger(__name__)
T = TypeVar("T")

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


def _record(click: Click, *, tz: zoneinfo.ZoneInfo, currency: str) -> str:
    record = {name: getattr(click, name) for name in _FIELDS}
    record["created_at"] = click.created_at.isoformat()
    record["tz"] = tz.key
    record["currency"] = currency
    return json.dumps(record)


def push(click: Click, *, tz: zoneinfo.ZoneInfo, currency: str) -> None:
    """Keep an unsaved click until it is written. Raises SpoolUnavailableError."""
    try:
        _client().rpush(redis_key(SPOOL_KEY), _record(click, tz=tz, currency=currency))
    except SpoolUnavailableError:
        raise
    except Exception as exc:
        raise SpoolUnavailableError(str(exc)) from exc


# --- the push buffer: write-behind clicks reach Redis in pipelined batches -------------------

_buffer: deque[str] = deque()
_buffer_lock = threading.Lock()
MAX_BUFFERED = 100_000


def push_buffered(click: Click, *, tz: zoneinfo.ZoneInfo, currency: str) -> None:
    """Queue the click in this process; the buffer thread pushes what has queued every
    TRCKER_CLICK_PUSH_DELAY seconds in one round trip (a click handler then makes no Redis
    round trip of its own for it). A process killed outright loses what is queued, at most
    that interval of its clicks; a graceful exit flushes."""
    record = _record(click, tz=tz, currency=currency)
    with _buffer_lock:
        if len(_buffer) >= MAX_BUFFERED:
            _buffer.popleft()
            logger.error("click push buffer full: oldest click dropped")
        _buffer.append(record)
    _pusher.ensure_running()


def flush_buffer() -> int:
    """Push this process's queued clicks to the spool (or, without Redis, write them to the
    database); the number moved."""
    with _buffer_lock:
        records = list(_buffer)
        _buffer.clear()
    if not records:
        return 0
    try:
        client = _client()
        pipe = client.pipeline(transaction=False)
        pipe.rpush(redis_key(SPOOL_KEY), *records)
        pipe.execute()
    except Exception:
        logger.warning("click spool unavailable: writing %d clicks directly", len(records))
        try:
            _write_batch([json.loads(record) for record in records])
        except Exception:
            with _buffer_lock:  # neither store answers: keep them (bounded) for the next tick
                room = max(0, MAX_BUFFERED - len(_buffer))
                _buffer.extendleft(reversed(records[-room:] if room else []))
            raise
        return len(records)
    _drainer.ensure_running()
    return len(records)


def pending() -> int:
    try:
        return int(_client().llen(redis_key(SPOOL_KEY)))
    except SpoolUnavailableError:
        return 0


def drain(batch: int = 500, *, wait: bool = False) -> int:
    """Write spooled clicks to the database; the number written. With ``wait``, wait (up to
    a few seconds) for a drain already running instead of leaving the list to it, so the
    caller knows every click pushed before the call is written. Raises DatabaseError when
    the database is down (nothing is lost: the list is trimmed only after writing)."""
    try:
        client = _client()
    except SpoolUnavailableError:
        return 0
    key = redis_key(SPOOL_KEY)
    written = 0
    try:
        if not client.llen(key):
            return 0
        lock = client.lock(
            redis_key(DRAIN_LOCK_KEY), timeout=300, blocking=wait, blocking_timeout=5
        )
        if not lock.acquire():
            return 0  # another drainer is at work
        try:
            # What was pushed before now, not what keeps arriving: under steady traffic an
            # open-ended loop would hold the lock (and keep a waiting reader) for ever.
            remaining = int(client.llen(key))
            while remaining > 0:
                items = client.lrange(key, 0, min(batch, remaining) - 1)
                if not items:
                    break
                written += _write_batch([_decode(raw) for raw in items])
                # Producers only append, so the first len(items) entries are the ones written.
                client.ltrim(key, len(items), -1)
                remaining -= len(items)
        finally:
            with contextlib.suppress(RedisError):
                lock.release()
    except RedisError:
        # Redis went away: what was written stays (ids are skipped next time), the rest
        # stays in the list; the caller carries on and tries again later.
        logger.warning("click spool unavailable; will retry", exc_info=True)
    return written


def settle() -> None:
    """Write every click pushed so far before reading clicks or rollups (waiting for a drain
    already running). Not inside a caller's transaction: clicks trimmed from the spool must
    not be rolled back with someone else's work (and in one, clicks were written directly)."""
    if connection.in_atomic_block:
        return
    try:
        flush_buffer()
        drain(wait=True)
    except DatabaseError:
        close_old_connections()  # the reader reports the database error itself


def write_behind() -> bool:
    """Whether clicks go through the spool (outside a caller's transaction)."""
    return bool(settings.TRCKER_CLICK_WRITE_BEHIND and settings.REDIS_URL)


def settle_for(lookup: Callable[[], T | None]) -> T | None:
    """``lookup()``'s answer, settling the spool first if it finds nothing: for a request
    that names one click (a postback, a bot verdict) and may have beaten its write. The click
    may still be queued in another web process, for at most one push interval: wait that
    long once more before answering that it does not exist."""
    found = lookup()
    if found is not None or connection.in_atomic_block:
        return found
    settle()
    found = lookup()
    if found is None and write_behind():
        time.sleep(3 * settings.TRCKER_CLICK_PUSH_DELAY)
        settle()
        found = lookup()
    return found


def _decode(raw: bytes) -> dict:
    return json.loads(raw)


def _write_batch(records: list[dict]) -> int:
    """One transaction: the clicks not stored yet, and their rollup increments summed per
    rollup row. Its commit does not wait for the disk, as for clicks written directly."""
    pending: list[tuple[Click, zoneinfo.ZoneInfo, str]] = []
    for record in records:
        tz = zoneinfo.ZoneInfo(record.pop("tz"))
        currency = record.pop("currency")
        record["created_at"] = dt.datetime.fromisoformat(record["created_at"])
        pending.append((Click(**record), tz, currency))
    with atomic_without_disk_wait():
        # Ids stored by a drain that stopped before trimming the list are not written twice.
        stored = set(
            Click.objects.filter(pk__in=[click.pk for click, _, _ in pending]).values_list(
                "pk", flat=True
            )
        )
        new = [(click, tz, currency) for click, tz, currency in pending if click.pk not in stored]
        Click.objects.bulk_create([click for click, _, _ in new], batch_size=1000)
        rollup_clicks_added(new)
    return len(new)


def _drain_tick() -> None:
    try:
        drain()
    except DatabaseError:
        # The database is down: the clicks stay in the list; the next tick tries again.
        close_old_connections()


def _push_tick() -> None:
    try:
        flush_buffer()
    except DatabaseError:
        close_old_connections()


# Every web process pushes what it has queued, and drains (one at a time, by the lock).
_pusher = Ticker("click-push-buffer", _push_tick, delay=settings.TRCKER_CLICK_PUSH_DELAY)
_drainer = Ticker("click-spool-drainer", _drain_tick, delay=settings.TRCKER_CLICK_DRAIN_DELAY)
