"""Database helpers shared by the domain apps."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
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


def increment_rows(
    model: type[models.Model],
    *,
    key: Sequence[str],
    counters: Sequence[str],
    rows: Sequence[Sequence[Any]],
    labels: Sequence[str] = (),
) -> None:
    """Add counters to rows in one statement, creating the missing ones: ``INSERT … ON
    CONFLICT (key) DO UPDATE SET c = c + excluded.c`` for each counter; ``labels`` are written
    on insert and left as they are on conflict. Each row holds the values of ``key``, then
    ``labels``, then ``counters`` (column names); no key may repeat within one call. Rows are
    written in the order given: callers sort them so two writers lock shared rows in the same
    order. Runs in the caller's transaction."""
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = [*key, *labels, *counters]
    head = f"INSERT INTO {table} ({', '.join(quote(c) for c in columns)}) "
    updates = ", ".join(f"{quote(c)} = {table}.{quote(c)} + excluded.{quote(c)}" for c in counters)
    tail = f" ON CONFLICT ({', '.join(quote(c) for c in key)}) DO UPDATE SET {updates}"
    if connection.vendor == "postgresql":
        # One array per column, as in insert_missing: a short statement whatever the number of
        # rows (a VALUES list costs the writer more in client-side preparation).
        fields = {field.column: field for field in model._meta.concrete_fields}
        casts = ", ".join(f"%s::{fields[c].db_type(connection)}[]" for c in columns)
        sql = f"{head}SELECT * FROM unnest({casts}){tail}"  # noqa: S608
        params: list[Any] = [list(column) for column in zip(*rows, strict=True)]
    else:
        one = "(" + ", ".join(["%s"] * len(columns)) + ")"
        sql = f"{head}VALUES {', '.join([one] * len(rows))}{tail}"
        # SQLite has no decimal type: money goes as text, which its arithmetic converts exactly
        # enough for 2-decimal sums stored as NUMERIC.
        params = [str(v) if isinstance(v, Decimal) else v for row in rows for v in row]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
