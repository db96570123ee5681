"""Database helpers shared by the domain apps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def atomic_without_disk_wait() -> Iterator[None]:
    """A transaction whose COMMIT does not wait for the WAL flush (PostgreSQL's
    synchronous_commit off, for this transaction only).

    For high-volume records whose loss in a database *server* crash costs little — clicks, the
    MCP tool-call log — never for conversions, payouts or audit events. What is risked is the
    last fraction of a second of such rows if PostgreSQL itself crashes; never corruption,
    and an application crash loses nothing. Inside a larger transaction the setting is not
    applied: that transaction's own guarantee wins.
    """
    nested = connection.in_atomic_block
    with transaction.atomic():
        if not nested and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield
