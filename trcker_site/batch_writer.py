"""Rows written in batches by a background thread, off the request path.

For high-volume logs whose rows nobody reads within milliseconds of writing them (the MCP
tool-call log). A request appends the row to this process's queue; a writer thread inserts
what has queued every ``delay`` seconds as one multi-row INSERT in one transaction that does
not wait for the disk (see ``trcker_site.db``). What is risked is the last ``delay`` of rows
if the process is killed (a graceful exit flushes), or if PostgreSQL crashes.

Rows are written at once, in the caller's thread, when batching is off (delay 0) or the
caller is inside a transaction (a test's, or a larger write whose fate the row should
share). When the database refuses a batch, its rows go back to the queue (bounded) and are
retried on the next tick while the database is unreachable; a row the database itself
refuses is dropped (and logged) without holding back the others.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import deque

from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    connections,
    models,
)

from trcker_site.db import atomic_without_disk_wait, insert_statement, write_without_disk_wait

logger = logging.getLogger(__name__)


class BatchWriter:
    def __init__(self, model: type[models.Model], *, delay: float, max_queued: int = 50_000):
        self.model = model
        self.delay = delay
        self.max_queued = max_queued
        self._queue: deque[models.Model] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.name = model.__name__

    def add(self, row: models.Model) -> None:
        if self.delay <= 0 or connection.in_atomic_block:
            write_without_disk_wait([insert_statement(row)])
            return
        with self._lock:
            if len(self._queue) >= self.max_queued:
                self._queue.popleft()
                logger.warning("%s queue full: oldest row dropped", self.name)
            self._queue.append(row)
            if self._thread is None or not self._thread.is_alive():
                self._start()

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

    def _start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"batch-writer-{self.name}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stopping:
                self._wake.wait(self.delay)
                self._wake.clear()
                try:
                    self.flush()
                except Exception:  # never let the writer thread die with rows queued
                    logger.exception("%s batch writer tick failed", self.name)
        finally:
            connections.close_all()

    def close(self) -> None:
        """Stop the writer thread and write what is queued (at a graceful exit). A later
        add() starts a new thread."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread, self._stopping = None, False
        try:
            self.flush()
        except Exception:
            logger.warning("batch writer flush at exit failed", exc_info=True)


_writers: list[BatchWriter] = []


def batch_writer(model: type[models.Model], *, delay: float) -> BatchWriter:
    writer = BatchWriter(model, delay=delay)
    _writers.append(writer)
    return writer


@atexit.register
def close_all() -> None:
    """Flush and stop every writer of this process (at exit; tests between cases)."""
    for writer in _writers:
        writer.close()
