"""Rows written in batches by a background thread, off the request path.

For high-volume logs whose rows nobody reads within milliseconds of writing them (the MCP
tool-call log). A request appends the row to this process's queue; a writer thread inserts
what has queued every ``delay`` seconds as one multi-row INSERT in one transaction that does
not wait for the disk (see ``trcker_site.db``). What is risked is the last ``delay`` of rows
if the process is killed (a graceful exit flushes), or if PostgreSQL crashes.

Rows are written at once, in the caller's thread, when batching is off (delay 0), on SQLite,
or when the caller is inside a transaction (a test's, or a larger write whose fate the row should
share). When the database refuses a batch, its rows go back to the queue (bounded) and are
retried on the next tick while the database is unreachable; a row the database itself
refuses is dropped (and logged) without holding back the others.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    models,
)

from trcker_site.background import Ticker
from trcker_site.db import atomic_without_disk_wait, insert_statement, write_without_disk_wait

logger = logging.getLogger(__name__)


class BatchWriter:
    def __init__(self, model: type[models.Model], *, delay: float, max_queued: int = 50_000):
        self.model = model
        self.name = model.__name__
        self.delay = delay
        self.max_queued = max_queued
        self._queue: deque[models.Model] = deque()
        self._lock = threading.Lock()
        self.ticker = Ticker(f"batch-writer-{self.name}", self.flush, delay=delay)

    def add(self, row: models.Model) -> None:
        # SQLite (the zero-setup mode) has one writer at a time: a second writing thread only
        # adds lock waits (and "table is locked" errors on a shared in-memory database).
        if self.delay <= 0 or connection.in_atomic_block or connection.vendor == "sqlite":
            write_without_disk_wait([insert_statement(row)])
            return
        with self._lock:
            if len(self._queue) >= self.max_queued:
                self._queue.popleft()
                logger.warning("%s queue full: oldest row dropped", self.name)
            self._queue.append(row)
        self.ticker.ensure_running()

    def close(self) -> None:
        self.ticker.close()

    def flush(self) -> int:
        """Insert everything queued so far; returns how many rows were written."""
        with self._lock:
            rows = list(self._queue)
            self._queue.clear()
        if not rows:
            return 0
        try:
            with atomic_without_disk_wait():
                self.model.objects.bulk_create(rows, batch_size=1000)
        except (OperationalError, InterfaceError):
            self._keep_for_retry(rows)
            return 0
        except DatabaseError:
            # One row the database refuses (e.g. its brand was deleted meanwhile) must not
            # hold back the rest: write them one by one, dropping only what is refused.
            return self._write_one_by_one(rows)
        return len(rows)

    def _keep_for_retry(self, rows: list[models.Model]) -> None:
        # The database is unreachable: keep the rows (bounded) for the next tick.
        logger.warning("could not write %d %s rows; will retry", len(rows), self.name)
        close_old_connections()
        with self._lock:
            room = max(0, self.max_queued - len(self._queue))
            self._queue.extendleft(reversed(rows[-room:] if room else []))

    def _write_one_by_one(self, rows: list[models.Model]) -> int:
        written = 0
        for index, row in enumerate(rows):
            try:
                with atomic_without_disk_wait():
                    self.model.objects.bulk_create([row])
                written += 1
            except (OperationalError, InterfaceError):
                self._keep_for_retry(rows[index:])
                break
            except DatabaseError:
                logger.error("%s row refused by the database, dropped", self.name, exc_info=True)
        return written
