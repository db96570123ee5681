"""Log rows a request answers with and the worker writes: one ``XADD`` per row in the request,
batched inserts in the worker (``workers.loop``). Used by the inbound postback log
(``conversions.postback_log``) and the integration webhooks' refused and duplicate deliveries
(``integrations.event_log``).

Without a queue Redis, or inside a transaction (tests, or a caller whose row must commit with
its own writes), the row is written at once. Recording never fails the request: a row that
cannot be queued is written directly, and one that cannot be written is a warning. At least
once: a worker killed between its commit and its acknowledgement writes its batch again (a
duplicate line, never a lost one)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from typing import Generic, TypeVar

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.db.models import Model
from redis.exceptions import RedisError

from core.db import atomic_without_disk_wait
from core.queue_redis import queue_client
from core.streams import Entry, Stream

logger = logging.getLogger(__name__)
RowT = TypeVar("RowT", bound=Model)


class RowQueue(Generic[RowT]):
    """Rows of ``model`` carried as their ``fields`` (JSON; ``times`` are ISO datetimes) on
    ``stream``; ``label`` names a record in dead-letter reasons and warnings."""

    def __init__(
        self,
        stream: Stream,
        model: type[RowT],
        fields: Iterable[str],
        *,
        times: Iterable[str],
        label: str,
    ) -> None:
        self.stream = stream
        self.model = model
        self.fields = tuple(fields)
        self.times = tuple(times)
        self.label = label

    def record(self, row: RowT) -> None:
        """Queue ``row`` (or write it now: no queue Redis, or a transaction is open). Never
        raises."""
        client = queue_client()
        if client is not None and not connection.in_atomic_block:
            record = {name: getattr(row, name) for name in self.fields}
            try:
                client.xadd(self.stream.key, {"r": json.dumps(record, cls=DjangoJSONEncoder)})
                return
            except RedisError:
                logger.warning("%s queue unavailable: writing the row directly", self.label)
        try:
            with atomic_without_disk_wait():
                row.save(force_insert=True)
        except (DatabaseError, InterfaceError):
            # The request's own answer stands (a 503 already says "retry" when the database is
            # down); only this log line is lost.
            logger.warning("%s not logged: database error", self.label, exc_info=True)

    def _decode(self, entry: Entry) -> RowT:
        record = json.loads(entry.fields["r"])
        if not isinstance(record, dict) or set(record) != set(self.fields):
            raise ValueError(f"not a {self.label} record")
        for name in self.times:
            record[name] = dt.datetime.fromisoformat(record[name])
        return self.model(**record)

    def process(self, entries: list[Entry]) -> dict[str, str]:
        """The worker's handler: write a batch of queued rows; {entry id: reason} for the
        records refused for good (undecodable, or a row the database refuses, e.g. its brand
        deleted meanwhile — alone, holding back no other)."""
        refused: dict[str, str] = {}
        rows: list[tuple[str, RowT]] = []
        for entry in entries:
            try:
                rows.append((entry.id, self._decode(entry)))
            except (ValueError, KeyError, TypeError) as exc:
                refused[entry.id] = f"not a {self.label} record: {type(exc).__name__}: {exc}"
        batches = [rows]
        while batches:
            batch = batches.pop()
            try:
                with atomic_without_disk_wait():
                    self.model._default_manager.bulk_create([row for _, row in batch])
            except (OperationalError, InterfaceError):
                raise
            except DatabaseError as exc:
                if len(batch) == 1:
                    refused[batch[0][0]] = f"refused by the database: {type(exc).__name__}: {exc}"
                else:
                    batches.extend([row] for row in batch)
        return refused
