"""A durable work queue on Redis Streams with a consumer group: records are acknowledged only
after their effect has committed, records a dead worker held are claimed by another, and
records that can never be processed go to a dead-letter stream with the reason.

Life of a record:

1. A producer ``XADD``s it (usually inside a Lua script that does the rest of its request's
   Redis work in the same round trip; see ``conversions.click_store``).
2. A worker reads it with ``XREADGROUP … >`` (it is now pending for that worker).
3. The worker's handler commits its effect to the database and says which records it
   refused; the worker then, in one MULTI, ``XACK``s and ``XDEL``s the processed ones and
   moves the refused ones to ``<stream>.dead`` (with the reason). A record is removed only
   after its row committed; handlers are idempotent (a worker killed between its commit and
   its acknowledgement leaves records that are processed again and change nothing).
4. While the database is unreachable the worker keeps its batch and retries it, refreshing
   its claim (``XCLAIM … JUSTID``, which does not count as a delivery) so no other worker
   takes it over.
5. A record pending longer than ``TRCKER_QUEUE_CLAIM_IDLE_SECONDS`` belongs to a worker that
   died: ``XAUTOCLAIM`` hands it to a live one. A record claimed more than
   ``MAX_DELIVERIES`` times has killed its workers repeatedly and is dead-lettered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import redis
from redis.typing import EncodableT, FieldT

logger = logging.getLogger(__name__)

GROUP = "workers"
MAX_DELIVERIES = 5
DEAD_LETTER_MAXLEN = 1_000_000  # approximate; far above anything a live system should hold


@dataclass(frozen=True)
class Entry:
    id: str
    fields: dict[str, str] = field(default_factory=dict)


# A handler commits the effect of a batch and returns {entry id: reason} for the records it
# refused for good. It raises on a transient failure (database unreachable): nothing is
# acknowledged and the worker retries the same batch.
Handler = Callable[[list[Entry]], Mapping[str, str]]


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _entries(raw: Iterable[Any]) -> list[Entry]:
    entries = []
    for entry_id, fields in raw:
        entries.append(
            Entry(_text(entry_id), {_text(k): _text(v) for k, v in (fields or {}).items()})
        )
    return entries


class Stream:
    """One named stream, its consumer group and its dead-letter stream."""

    def __init__(self, name: str) -> None:
        self.name = name
        # Not under the cache's key prefix: nothing the cache does (clear, evict) matches it.
        self.key = f"trcker.queue.{name}"
        self.dead_key = f"{self.key}.dead"

    def __repr__(self) -> str:
        return f"Stream({self.name!r})"

    def ensure_group(self, client: redis.Redis) -> None:
        try:
            # From the start of the stream: records added before any worker existed count.
            client.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def claim_stale(
        self, client: redis.Redis, consumer: str, *, min_idle_ms: int, count: int
    ) -> list[Entry]:
        """Take over records that dead workers held; dead-letter those claimed too often."""
        _next, raw, _deleted = client.xautoclaim(
            self.key, GROUP, consumer, min_idle_time=min_idle_ms, start_id="0-0", count=count
        )
        claimed = _entries(raw)
        if not claimed:
            return []
        deliveries = {
            _text(row["message_id"]): int(row["times_delivered"])
            for row in client.xpending_range(
                self.key, GROUP, min="-", max="+", count=count * 4, consumername=consumer
            )
        }
        keep, poisoned = [], {}
        for entry in claimed:
            if deliveries.get(entry.id, 0) > MAX_DELIVERIES:
                poisoned[entry.id] = (
                    f"taken {deliveries[entry.id]} times by workers that stopped before "
                    "acknowledging it"
                )
            else:
                keep.append(entry)
        if poisoned:
            self.settle(client, [e for e in claimed if e.id in poisoned], refused=poisoned)
        return keep

    def refresh_claim(self, client: redis.Redis, consumer: str, entries: list[Entry]) -> None:
        """Reset the idle time of records this worker still holds (JUSTID: not a delivery)."""
        if entries:
            client.xclaim(
                self.key,
                GROUP,
                consumer,
                min_idle_time=0,
                message_ids=[e.id for e in entries],
                justid=True,
            )

    def settle(
        self,
        client: redis.Redis,
        entries: list[Entry],
        *,
        refused: Mapping[str, str],
        cleanup: Callable[[Any, list[Entry]], None] | None = None,
    ) -> None:
        """Acknowledge and delete ``entries``; the ``refused`` ones are first copied to the
        dead-letter stream with their reason. One MULTI: all of it or none."""
        if not entries:
            return
        pipe = client.pipeline(transaction=True)
        for entry in entries:
            reason = refused.get(entry.id)
            if reason is not None:
                # Built from items(): redis-py's hint is its own (invariant) dict type.
                record: dict[FieldT, EncodableT] = dict(entry.fields.items())
                record.update(reason=reason[:1000], source_id=entry.id)
                pipe.xadd(
                    self.dead_key,
                    record,
                    maxlen=DEAD_LETTER_MAXLEN,
                    approximate=True,
                )
        ids = [entry.id for entry in entries]
        pipe.xack(self.key, GROUP, *ids)
        pipe.xdel(self.key, *ids)
        if cleanup is not None:
            cleanup(pipe, entries)
        pipe.execute()

    def depth(self, client: redis.Redis) -> int:
        """Records not yet processed (processed ones are deleted)."""
        return int(client.xlen(self.key))

    def dead_count(self, client: redis.Redis) -> int:
        return int(client.xlen(self.dead_key))

    def dead_letters(self, client: redis.Redis, count: int = 20) -> list[Entry]:
        """The newest dead letters, newest first."""
        return _entries(client.xrevrange(self.dead_key, count=count) or [])

    def oldest_age_seconds(self, client: redis.Redis, now_ms: int) -> float:
        """How long the oldest unprocessed record has waited (the queue's lag)."""
        first = client.xrange(self.key, count=1)
        if not first:
            return 0.0
        stamp = int(_text(first[0][0]).split("-", 1)[0])
        return max(0.0, (now_ms - stamp) / 1000)

    def get(self, client: redis.Redis, entry_id: str) -> Entry | None:
        found = client.xrange(self.key, min=entry_id, max=entry_id, count=1)
        return _entries(found)[0] if found else None


def read_new(
    client: redis.Redis,
    consumer: str,
    streams: list[Stream],
    *,
    count: int,
    block_ms: int | None,
) -> dict[Stream, list[Entry]]:
    """New records of several streams in one call, blocking up to ``block_ms`` when there
    are none (None: don't block)."""
    by_key = {stream.key: stream for stream in streams}
    raw = client.xreadgroup(
        GROUP, consumer, {stream.key: ">" for stream in streams}, count=count, block=block_ms
    )
    found: dict[Stream, list[Entry]] = {}
    # RESP2, which our clients speak: a list of [stream key, records] (RESP3 would be a dict).
    for key, records in cast("list[list[Any]] | None", raw) or []:
        found[by_key[_text(key)]] = _entries(records)
    return found
