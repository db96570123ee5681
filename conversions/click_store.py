"""How a click reaches the click table: one writer, a durable queue in front of it, and a
lookup for clicks still in the queue.

- **The writer** (``write_clicks``) inserts the clicks not stored yet and their rollup
  increments in one transaction (``INSERT … ON CONFLICT DO NOTHING RETURNING``: a click seen
  twice is written and counted once). Every path that writes a click uses it.
- **The queue** (with a queue Redis, ``TRCKER_CLICK_QUEUE`` on, the default): the click
  handler's only I/O is one Lua call on the queue's Redis that increments the click's fraud
  counters, ``XADD``s the click record to the ``trcker.queue.clicks`` stream and remembers the
  record's stream id under the click id. Worker processes (``manage.py run_workers``) read
  the stream through a consumer group, write batches with the writer and acknowledge them
  after commit (``core.streams``); a record the database refuses goes to the
  dead-letter stream with the reason and holds back nothing else.
- **Clicks not yet written**: a postback or bot verdict that names a click still in the
  queue finds its record by id and writes that click through the writer itself, so it is
  attributed exactly as if the worker had been first (the worker then writes nothing twice).

Without a queue Redis (the zero-setup SQLite mode), when the queue's Redis cannot be reached,
or inside a caller's transaction (tests), the click is written during its request.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from redis.exceptions import RedisError

from conversions.fraud import apply_velocity
from conversions.models import Click
from conversions.rollups import rollup_clicks_added
from core.cache import lua_script
from core.counters import COUNT_WINDOWS_LUA, count_in_windows
from core.db import atomic_without_disk_wait, insert_missing
from core.queue_redis import queue_client
from core.streams import Entry, Stream

logger = logging.getLogger(__name__)

CLICKS = Stream("clicks")
LOOKUP_PREFIX = "trcker.queue.click:"
# The lookup key is deleted when the worker acknowledges the record; this only bounds what an
# orphan (a record removed by hand) leaves behind.
LOOKUP_TTL_SECONDS = 7 * 24 * 3600
COUNTER_PREFIX = "trcker.count."


@dataclass(frozen=True)
class ClickContext:
    """What finishing and writing a click needs besides the row: the brand's time zone (the
    rollup day), the offer's currency, and the fraud settings its verdict was made under."""

    tz: zoneinfo.ZoneInfo
    currency: str
    fraud_mode: str
    fraud_threshold: int
    preview: bool


class QueueUnavailableError(Exception):
    """The queue's Redis did not take the click."""


def queue_enabled() -> bool:
    return bool(settings.TRCKER_CLICK_QUEUE and settings.TRCKER_QUEUE_REDIS_URL)


# --- the writer -----------------------------------------------------------------------------


def write_clicks(items: Sequence[tuple[Click, zoneinfo.ZoneInfo, str]]) -> set[str]:
    """Write the clicks not stored yet, with their rollup increments, in one transaction whose
    commit does not wait for the disk; the ids written by this call. A test click
    (``send_test_postback``) is written like any other but counted in no rollup."""
    if not items:
        return set()
    with atomic_without_disk_wait():
        written = insert_missing([click for click, _, _ in items])
        rollup_clicks_added(
            [item for item in items if item[0].pk in written and not item[0].is_test]
        )
    return written


# --- records --------------------------------------------------------------------------------

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


def encode(click: Click, context: ClickContext) -> str:
    record: dict[str, Any] = {name: getattr(click, name) for name in _FIELDS}
    record["created_at"] = click.created_at.isoformat()
    record["tz"] = context.tz.key
    record["currency"] = context.currency
    record["fraud_mode"] = context.fraud_mode
    record["fraud_threshold"] = context.fraud_threshold
    record["preview"] = context.preview
    return json.dumps(record, separators=(",", ":"))


def decode(fields: Mapping[str, str]) -> tuple[Click, ClickContext, list[int | None]]:
    """The click (as the handler built it, before its velocity verdict), its context and its
    counter values. Raises ValueError, KeyError or TypeError for a record that is not one."""
    record = json.loads(fields["r"])
    context = ClickContext(
        tz=zoneinfo.ZoneInfo(record.pop("tz")),
        currency=str(record.pop("currency")),
        fraud_mode=str(record.pop("fraud_mode")),
        fraud_threshold=int(record.pop("fraud_threshold")),
        preview=bool(record.pop("preview")),
    )
    record["created_at"] = dt.datetime.fromisoformat(record["created_at"])
    unknown = set(record) - {*_FIELDS, "created_at"}
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")
    counts = [int(part) for part in fields.get("c", "").split(",") if part]
    return Click(**record), context, list(counts)


def finish(click: Click, context: ClickContext, counts: Sequence[int | None]) -> None:
    apply_velocity(
        click,
        counts,
        fraud_mode=context.fraud_mode,
        threshold=context.fraud_threshold,
        preview=context.preview,
    )


# --- the click handler's side ---------------------------------------------------------------

_ENQUEUE = (
    COUNT_WINDOWS_LUA
    + f"""
-- KEYS: stream, lookup key, counters…; ARGV: record, click id, then each counter's window at
-- its counter's index (ARGV[3] for KEYS[3], …).
local counts = count_windows(3)
local id = redis.call('XADD', KEYS[1], '*', 'r', ARGV[1], 'k', ARGV[2],
                      'c', table.concat(counts, ','))
redis.call('SET', KEYS[2], id, 'EX', {LOOKUP_TTL_SECONDS})
return counts
"""
)


def enqueue(
    click: Click, context: ClickContext, counters: Sequence[tuple[str, int]]
) -> list[int | None]:
    """Count the click's fraud counters and queue it, in one round trip; the counts.
    Raises QueueUnavailableError when the queue's Redis does not take it."""
    client = queue_client()
    if client is None:
        raise QueueUnavailableError("no queue Redis (TRCKER_QUEUE_REDIS_URL)")
    keys = [CLICKS.key, LOOKUP_PREFIX + click.pk, *(COUNTER_PREFIX + key for key, _ in counters)]
    args: list[Any] = [encode(click, context), click.pk]
    args += [window for _, window in counters]
    try:
        counts = lua_script(client, _ENQUEUE)(keys=keys, args=args)
    except RedisError as exc:
        raise QueueUnavailableError(str(exc)) from exc
    return [int(count) for count in counts]


def store(click: Click, context: ClickContext, counters: Sequence[tuple[str, int]]) -> None:
    """Count, finish and keep the click: through the queue when there is one (no database
    round trip), else written now. Raises DatabaseError when neither store takes it."""
    if queue_enabled() and not connection.in_atomic_block:
        try:
            finish(click, context, enqueue(click, context, counters))
            return
        except QueueUnavailableError:
            logger.warning("click queue unavailable: writing click %s directly", click.pk)
    finish(click, context, count_in_windows(list(counters)) if counters else [])
    write_clicks([(click, context.tz, context.currency)])


def queued_click(click_id: str) -> tuple[Click, ClickContext] | None:
    """The click ``click_id`` as the worker will write it (its velocity verdict applied), if
    it is still in the queue; None otherwise. Reads only: ``trace_click`` shows a click its
    worker has not written yet through this."""
    client = queue_client() if queue_enabled() else None
    if client is None:
        return None
    try:
        entry_id = client.get(LOOKUP_PREFIX + click_id)  # bytes: the queue client doesn't decode
        entry = CLICKS.get(client, entry_id.decode()) if isinstance(entry_id, bytes) else None
    except RedisError:
        logger.warning("click queue unreachable looking up %s", click_id, exc_info=True)
        return None
    if entry is None:
        return None
    try:
        click, context, counts = decode(entry.fields)
    except (ValueError, KeyError, TypeError):
        return None  # the worker will dead-letter it
    finish(click, context, counts)
    return click, context


def write_queued(click_id: str) -> bool:
    """Write the click ``click_id`` from its queued record if it is still in the queue;
    whether there was one. For a request that names one click (a postback, a bot verdict)
    and may have beaten its worker: it writes that click, nothing else, and waits for
    nothing."""
    found = queued_click(click_id)
    if found is None:
        return False
    click, context = found
    write_clicks([(click, context.tz, context.currency)])
    return True


# --- the worker's side ----------------------------------------------------------------------


def process(entries: list[Entry]) -> dict[str, str]:
    """Write a batch of queued clicks; {entry id: reason} for records refused for good.
    Raises OperationalError/InterfaceError while the database is unreachable."""
    refused: dict[str, str] = {}
    batch: list[tuple[str, tuple[Click, zoneinfo.ZoneInfo, str]]] = []
    for entry in entries:
        try:
            click, context, counts = decode(entry.fields)
            finish(click, context, counts)
        except (ValueError, KeyError, TypeError) as exc:
            refused[entry.id] = f"not a click record: {type(exc).__name__}: {exc}"
            continue
        batch.append((entry.id, (click, context.tz, context.currency)))
    try:
        write_clicks([item for _, item in batch])
    except (OperationalError, InterfaceError):
        raise
    except DatabaseError:
        # One record the database refuses must not hold back the others: one at a time.
        for entry_id, item in batch:
            try:
                write_clicks([item])
            except (OperationalError, InterfaceError):
                raise
            except DatabaseError as exc:
                logger.error("queued click %s refused by the database", item[0].pk)
                refused[entry_id] = f"refused by the database: {type(exc).__name__}: {exc}"
    return refused


def forget_lookups(pipe: Any, entries: list[Entry]) -> None:
    """In the acknowledging MULTI: the processed clicks no longer need their lookup key."""
    keys = [LOOKUP_PREFIX + entry.fields["k"] for entry in entries if entry.fields.get("k")]
    if keys:
        pipe.delete(*keys)
