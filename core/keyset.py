"""Keyset pagination with one cursor format for every list, REST and MCP alike.

A page is read with ``WHERE (ordering columns) after (the last row's values)`` in the
queryset's own ordering (the selector's ``order_by``, which must end with the primary key so
that every row has one place), never with OFFSET: rows inserted or deleted while a client pages
do not shift the rows it has not read yet, and reading page 500 costs what reading page 1 does.

A cursor is a signed, compact JSON document naming the operation it belongs to, a digest of
the filters it was made with, the direction and the boundary row's ordering values. It cannot
be forged or edited (bad signature → ``invalid_cursor``), and a cursor of one list passed to
another list, or with other filters, is refused instead of silently skipping rows."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core import signing
from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Field, Model, Q, QuerySet

from core.errors import ValidationError

SALT = "trcker.keyset-cursor"
DEFAULT_LIMIT: int = settings.TRCKER_PAGE_SIZE
MAX_LIMIT: int = settings.TRCKER_MAX_PAGE_SIZE
MAX_CURSOR_LENGTH = 1000
UNIQUE_TAIL = {"pk", "id"}


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_cursor: str | None
    previous_cursor: str | None


def _invalid(reason: str) -> ValidationError:
    return ValidationError(
        f"cursor is not valid: {reason}",
        code="invalid_cursor",
        fields={"cursor": [reason]},
    )


def filters_digest(operation: str, filters: dict[str, Any]) -> str:
    text = json.dumps(filters, sort_keys=True, cls=DjangoJSONEncoder, default=str)
    return hashlib.sha256(f"{operation}\x00{text}".encode()).hexdigest()[:16]


def _ordering(queryset: QuerySet[Any]) -> list[tuple[str, bool]]:
    """(field, descending) pairs of the queryset's ordering; the last must be unique."""
    order = [str(term) for term in queryset.query.order_by]
    if not order or order[-1].lstrip("-") not in UNIQUE_TAIL:
        raise TypeError(
            f"keyset pagination needs an ordering that ends with the primary key, got {order}"
        )
    return [(term.lstrip("-"), term.startswith("-")) for term in order]


def _value_of(row: Model, name: str) -> Any:
    return row.pk if name == "pk" else getattr(row, name)


def _python_value(model: type[Model], name: str, raw: Any) -> Any:
    try:
        field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    except FieldDoesNotExist:
        raise _invalid("it does not match this list.") from None
    if not isinstance(field, Field):  # a relation's reverse side: no column to order by
        raise _invalid("it does not match this list.")
    try:
        return field.to_python(raw)
    except (DjangoValidationError, TypeError, ValueError):
        raise _invalid("its position is not readable.") from None


def _after(ordering: list[tuple[str, bool]], values: list[Any], *, forward: bool) -> Q:
    """Rows strictly after ``values`` in the ordering (or strictly before, going back)."""
    condition = Q()
    for index, (name, descending) in enumerate(ordering):
        greater = forward != descending  # forward on an ascending column means "greater"
        step = Q(**{f"{name}__{'gt' if greater else 'lt'}": values[index]})
        for (earlier, _), value in zip(ordering[:index], values[:index], strict=True):
            step &= Q(**{earlier: value})
        condition |= step
    return condition


def _jsonable(value: Any) -> Any:
    # Full precision: DjangoJSONEncoder cuts datetimes to milliseconds, and two rows created in
    # the same millisecond would then share a position (one of them skipped or repeated).
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    return value


def _encode(operation: str, digest: str, direction: str, values: list[Any]) -> str:
    payload = [_jsonable(value) for value in values]
    return signing.dumps({"o": operation, "f": digest, "d": direction, "v": payload}, salt=SALT)


def _decode(cursor: str, operation: str, digest: str, width: int) -> tuple[str, list[Any]]:
    try:
        payload = signing.loads(cursor, salt=SALT)
    except signing.BadSignature:
        raise _invalid("pass next_cursor exactly as a previous call returned it.") from None
    if not isinstance(payload, dict) or payload.get("o") != operation:
        raise _invalid("it belongs to another list; start this list without a cursor.")
    if payload.get("f") != digest:
        raise _invalid("it was made with other filters; repeat the same filters or start over.")
    direction, values = payload.get("d"), payload.get("v")
    if direction not in ("after", "before") or not isinstance(values, list) or len(values) != width:
        raise _invalid("it does not match this list.")
    return direction, values


def page(
    queryset: QuerySet[Any],
    *,
    operation: str,
    filters: dict[str, Any],
    limit: int | None,
    cursor: str | None,
) -> Page:
    """One page of ``queryset`` in its own ordering, after (or before) the cursor's row."""
    limit = min(limit or DEFAULT_LIMIT, MAX_LIMIT)
    ordering = _ordering(queryset)
    digest = filters_digest(operation, filters)
    forward, anchored = True, False
    if cursor:
        direction, raw = _decode(cursor, operation, digest, len(ordering))
        forward, anchored = direction == "after", True
        values = [
            _python_value(queryset.model, name, value)
            for (name, _), value in zip(ordering, raw, strict=True)
        ]
        queryset = queryset.filter(_after(ordering, values, forward=forward))
    if not forward:
        queryset = queryset.reverse()
    rows = list(queryset[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    if not forward:
        rows.reverse()

    def boundary(row: Model, direction: str) -> str:
        return _encode(operation, digest, direction, [_value_of(row, n) for n, _ in ordering])

    if forward:
        next_cursor = boundary(rows[-1], "after") if more and rows else None
        previous_cursor = boundary(rows[0], "before") if anchored and rows else None
    else:
        next_cursor = boundary(rows[-1], "after") if rows else None
        previous_cursor = boundary(rows[0], "before") if more and rows else None
    return Page(rows=rows, next_cursor=next_cursor, previous_cursor=previous_cursor)
