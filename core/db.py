"""Database helpers shared by the domain apps."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connection, models, transaction


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


Statement = tuple[str, Sequence[Any]]


def insert_missing(instances: Sequence[models.Model]) -> set[Any]:
    """INSERT the rows whose primary key is not stored yet, in one statement (``ON CONFLICT
    (pk) DO NOTHING``), and return the primary keys actually inserted: a writer that may see
    the same row twice (a queue redelivers what a dead worker held) counts each row once.
    Primary keys must be set (client-generated ids); runs in the caller's transaction."""
    if not instances:
        return set()
    opts = instances[0]._meta
    fields = [
        field for field in opts.local_concrete_fields if not getattr(field, "generated", False)
    ]
    quote = connection.ops.quote_name
    head = f"INSERT INTO {quote(opts.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
    tail = f"ON CONFLICT ({quote(opts.pk.column)}) DO NOTHING RETURNING {quote(opts.pk.column)}"
    if connection.vendor == "postgresql":
        # One array per column through unnest(): a short statement whatever the batch size.
        # A VALUES list of rows × columns placeholders cost more in client-side parsing and
        # per-value preparation than the database's own work: 0.75 ms of worker CPU per
        # queued click, 0.26 ms this way (docs/performance.md).
        casts = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
        sql = f"{head}SELECT * FROM unnest({casts}) {tail}"  # noqa: S608
        params = [_column(field, instances) for field in fields]
    else:
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        sql = f"{head}VALUES {', '.join([row] * len(instances))} {tail}"
        params = [
            field.get_db_prep_save(getattr(instance, field.attname), connection)
            for instance in instances
            for field in fields
        ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {pk for (pk,) in cursor.fetchall()}


# Values psycopg adapts as they are, cast by the statement: no per-value preparation needed.
_PLAIN_FIELDS = (
    models.CharField,
    models.TextField,
    models.IntegerField,  # and its Big/Small/Positive kinds
    models.BooleanField,
    models.GenericIPAddressField,
    models.ForeignKey,
)


def _column(field: models.Field[Any, Any], instances: Sequence[models.Model]) -> list[Any]:
    values = [getattr(instance, field.attname) for instance in instances]
    if isinstance(field, _PLAIN_FIELDS) or (
        isinstance(field, models.DateTimeField)
        and all(value is None or value.tzinfo is not None for value in values)
    ):
        return values
    return [field.get_db_prep_save(value, connection) for value in values]
