"""The mechanics every database outbox shares (outbound postbacks and webhooks,
``conversions/outbox.py``; emails, ``mailer/sending.py``): claiming due rows one at a time and
the retry schedule.

A row is claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` in its own transaction, attempted
while the lock is held, and its new state committed with it: two workers never attempt the same
row, and a worker that dies mid-attempt leaves its row due again (PostgreSQL rolls the
transaction back when the connection drops), while every row it finished before stays
finished. SQLite ignores SKIP LOCKED: run one worker there."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TypeVar

from django.db import models, transaction

_M = TypeVar("_M", bound=models.Model)


def backoff(schedule: Sequence[timedelta], attempts: int) -> timedelta | None:
    """Delay after the ``attempts``-th failure, from ``schedule`` jittered ±10 %; None when the
    schedule is spent (``len(schedule) + 1`` attempts in all)."""
    if attempts > len(schedule):
        return None
    return schedule[attempts - 1] * random.uniform(0.9, 1.1)  # noqa: S311 - jitter, not security


def claim_one(due: models.QuerySet[_M], attempt: Callable[[_M], object]) -> _M | None:
    """Lock the first row of ``due`` (ordered by the caller) that no other transaction holds,
    run ``attempt`` on it and commit; None when no row is due."""
    with transaction.atomic():
        row = due.select_for_update(skip_locked=True).first()
        if row is None:
            return None
        attempt(row)
        return row


def claim_each(
    due: Callable[[], models.QuerySet[_M]],
    attempt: Callable[[_M], object],
    *,
    limit: int | None = None,
) -> int:
    """``claim_one`` until nothing is due or ``limit`` rows were attempted; how many were.
    ``due`` is called for each claim (a row just attempted may be due again later)."""
    tried = 0
    while limit is None or tried < limit:
        if claim_one(due(), attempt) is None:
            break
        tried += 1
    return tried
