"""The worker process: the one owner of every kind of deferred work.

Each pass, in order: records in the queue streams (clicks, MCP tool-call rows, inbound
postback and refused integration-webhook log rows) — batches held
from a failed pass first, then records dead workers held, then new ones — audit events to
link into their brands' chains, due outbound postbacks, due emails (``mailer.sending``, the
only code that talks to an SMTP server), (about once a minute) conversions whose hold has
passed (``conversions.auto_approval``), and (about hourly) inbound postback log rows past
``TRCKER_POSTBACK_LOG_DAYS`` and finished emails past ``TRCKER_EMAIL_KEEP_DAYS``. An idle
worker blocks on the streams for up to ``TRCKER_WORKER_IDLE_SECONDS``, so a queued record is
written within milliseconds of its request and the database-side work waits at most that
long. Several workers may run at once: the consumer group hands each record to one of them,
the audit linker locks per brand, deliveries and emails are claimed with SKIP LOCKED
(PostgreSQL; on SQLite run one). Nothing here runs inside a web process.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections
from django.utils import timezone

from audit.services import audit_chain_link_all
from conversions import click_store
from conversions.auto_approval import AUTO_APPROVE_BATCH, conversions_auto_approve
from conversions.outbox import drain as deliver_due_postbacks
from conversions.postback_log import (
    POSTBACK_ATTEMPTS,
    postback_attempts_process,
    postback_attempts_prune,
)
from core.queue_redis import configuration_problems, configuration_problems_cached, queue_client
from core.streams import Entry, Stream, read_new
from integrations.event_log import (
    INTEGRATION_EVENTS,
    integration_events_process,
    integration_events_prune,
)
from mailer.sending import emails_prune, emails_send_due
from mcp_gateway.services import TOOL_CALLS, tool_calls_process

logger = logging.getLogger(__name__)

DELIVERIES_PER_PASS = 100
EMAILS_PER_PASS = 100
DATABASE_ERRORS = (OperationalError, InterfaceError)


@dataclass(frozen=True)
class Queue:
    stream: Stream
    handler: Callable[[list[Entry]], Mapping[str, str]]
    cleanup: Callable[[Any, list[Entry]], None] | None = None


QUEUES = (
    Queue(click_store.CLICKS, click_store.process, click_store.forget_lookups),
    Queue(TOOL_CALLS, tool_calls_process),
    Queue(POSTBACK_ATTEMPTS, postback_attempts_process),
    Queue(INTEGRATION_EVENTS, integration_events_process),
)
# How often a worker deletes postback-log rows past TRCKER_POSTBACK_LOG_DAYS (sooner while a
# prune still leaves some: it deletes a bounded number per pass).
POSTBACK_LOG_PRUNE_SECONDS = 3600
# How often a worker approves conversions whose hold has passed (conversions.auto_approval;
# sooner while a run was full: it approves a bounded batch per run).
AUTO_APPROVE_SECONDS = 60


class Worker:
    def __init__(self, name: str | None = None) -> None:
        self.consumer = name or f"{socket.gethostname()}-{os.getpid()}"
        self.batch = settings.TRCKER_QUEUE_BATCH
        self.idle_seconds = settings.TRCKER_WORKER_IDLE_SECONDS
        self.linger_seconds = settings.TRCKER_WORKER_LINGER_SECONDS
        self._held: dict[Stream, list[Entry]] = {}
        self.totals: Counter[str] = Counter()  # items handled, by kind (for --once's report)
        self._next_claim = 0.0
        self._next_log_prune = 0.0
        self._next_auto_approve = 0.0
        self._groups_ready = False

    # --- the queues ---------------------------------------------------------------------------

    def _ensure_groups(self, client: redis.Redis) -> None:
        if not self._groups_ready:
            for queue in QUEUES:
                queue.stream.ensure_group(client)
            self._groups_ready = True

    def _process(self, client: redis.Redis, queue: Queue, entries: list[Entry]) -> int:
        if not entries:
            return 0
        try:
            refused = queue.handler(entries)
            queue.stream.settle(client, entries, refused=refused, cleanup=queue.cleanup)
        except (*DATABASE_ERRORS, redis.RedisError):
            # Kept in this process and retried next pass: the handler is idempotent.
            self._held[queue.stream] = entries
            raise
        self._held.pop(queue.stream, None)
        self.totals[queue.stream.name] += len(entries) - len(refused)
        self.totals[f"{queue.stream.name} dead-lettered"] += len(refused)
        if refused:
            logger.error(
                "%d %s record(s) moved to %s",
                len(refused),
                queue.stream.name,
                queue.stream.dead_key,
            )
        return len(entries)

    def _queues(self, block_ms: int | None) -> int:
        client = queue_client()
        if client is None:
            return 0
        self._ensure_groups(client)
        done = 0
        for queue in QUEUES:
            held = self._held.get(queue.stream)
            if held:
                queue.stream.refresh_claim(client, self.consumer, held)
                done += self._process(client, queue, held)
        if time.monotonic() >= self._next_claim:
            min_idle_ms = int(settings.TRCKER_QUEUE_CLAIM_IDLE_SECONDS * 1000)
            for queue in QUEUES:
                stale = queue.stream.claim_stale(
                    client, self.consumer, min_idle_ms=min_idle_ms, count=self.batch
                )
                done += self._process(client, queue, stale)
            self._next_claim = time.monotonic() + max(
                0.5, settings.TRCKER_QUEUE_CLAIM_IDLE_SECONDS / 4
            )
        try:
            found = read_new(
                client,
                self.consumer,
                [queue.stream for queue in QUEUES],
                count=self.batch,
                block_ms=None if done else block_ms,
            )
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self._groups_ready = False  # the stream was deleted (by hand): made again next pass
            return done
        for queue in QUEUES:
            done += self._process(client, queue, found.get(queue.stream, []))
        return done

    # --- one pass, and the loop ---------------------------------------------------------------

    def run_once(self, *, block_ms: int | None = None, queues_only: bool = False) -> int:
        """One pass over every kind of deferred work (or only the queue streams); how many
        items it handled."""
        done = self._queues(block_ms)
        if not queues_only:
            linked = audit_chain_link_all()
            delivered = deliver_due_postbacks(limit=DELIVERIES_PER_PASS)
            emailed = emails_send_due(limit=EMAILS_PER_PASS)
            self.totals["audit events linked"] += linked
            self.totals["deliveries attempted"] += delivered
            self.totals["emails attempted"] += emailed
            done += linked + delivered + emailed + self._prune_postback_log() + self._auto_approve()
        return done

    def _auto_approve(self) -> int:
        if time.monotonic() < self._next_auto_approve:
            return 0
        approved = conversions_auto_approve(limit=AUTO_APPROVE_BATCH)
        self.totals["conversions auto-approved"] += approved
        full = approved >= AUTO_APPROVE_BATCH
        self._next_auto_approve = time.monotonic() + (0 if full else AUTO_APPROVE_SECONDS)
        return approved

    def _prune_postback_log(self) -> int:
        if time.monotonic() < self._next_log_prune:
            return 0
        cutoff = timezone.now() - dt.timedelta(days=settings.TRCKER_POSTBACK_LOG_DAYS)
        pruned = postback_attempts_prune(before=cutoff)
        self.totals["postback attempts pruned"] += pruned
        events = integration_events_prune(before=cutoff)
        self.totals["integration events pruned"] += events
        emails = emails_prune(
            before=timezone.now() - dt.timedelta(days=settings.TRCKER_EMAIL_KEEP_DAYS)
        )
        self.totals["emails pruned"] += emails
        pruned += events + emails
        self._next_log_prune = time.monotonic() + (0 if pruned else POSTBACK_LOG_PRUNE_SECONDS)
        return pruned

    def run_until_idle(self, *, max_passes: int = 1000, queues_only: bool = False) -> int:
        """Passes until one finds nothing to do (``--once``, and tests); the items handled."""
        total = 0
        for _ in range(max_passes):
            done = self.run_once(queues_only=queues_only)
            total += done
            if not done:
                break
        return total

    def check_configuration(self) -> list[str]:
        try:
            problems = configuration_problems()
        except redis.RedisError as exc:
            problems = [f"queue Redis unreachable: {type(exc).__name__}: {exc}"]
        for problem in problems:
            logger.warning("queue Redis: %s", problem)
        return problems

    def run(self, should_stop: Callable[[], bool]) -> None:
        idle = False
        while not should_stop():
            try:
                # Below the queue client's socket timeout (2 s), so a block never reads as a
                # dead connection.
                block_ms = int(min(self.idle_seconds, 1.0) * 1000) if idle else None
                done = self.run_once(block_ms=block_ms)
            except DATABASE_ERRORS:
                logger.warning("database unavailable; retrying in 1 s")
                close_old_connections()
                time.sleep(1)
                continue
            except redis.RedisError:
                logger.warning("queue Redis unavailable; retrying in 1 s", exc_info=True)
                time.sleep(1)
                continue
            idle = not done
            if idle and queue_client() is None:
                time.sleep(self.idle_seconds)  # nothing to block on: poll the database
            elif 0 < done < self.batch:
                # A short batch: let the next one fill for a moment. A worker that wakes on
                # every record writes one click per transaction, and under load that costs
                # the database (and the web processes sharing its CPUs) more than the linger
                # costs in lag (measured in docs/performance.md).
                time.sleep(self.linger_seconds)


def queue_status() -> dict[str, Any]:
    """What health probes and the dashboard show of the queues: per stream, records waiting,
    dead letters and the age of the oldest waiting record; and what is wrong with the queue
    server's configuration. Raises redis errors when the queue's Redis does not answer."""
    client = queue_client()
    if client is None:
        return {"enabled": False}
    now_ms = int(time.time() * 1000)
    streams = {
        queue.stream.name: {
            "waiting": queue.stream.depth(client),
            "dead_letters": queue.stream.dead_count(client),
            "oldest_seconds": round(queue.stream.oldest_age_seconds(client, now_ms), 3),
        }
        for queue in QUEUES
    }
    return {"enabled": True, "streams": streams, "problems": configuration_problems_cached()}
