"""Opaque cursors for MCP list tools: a signed offset, so a client cannot forge or tamper
with one (an invalid cursor is a clear error, not a silent restart)."""

from __future__ import annotations

from typing import Any

from django.core.signing import BadSignature, Signer
from django.db.models import QuerySet

from core.errors import ValidationError

_signer = Signer(salt="trcker.mcp.cursor")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def paginate(
    queryset: QuerySet[Any], *, limit: int | None, cursor: str | None
) -> tuple[list[Any], str | None]:
    limit = limit or DEFAULT_LIMIT
    offset = 0
    if cursor:
        try:
            offset = int(_signer.unsign(cursor))
        except (BadSignature, ValueError):
            raise ValidationError(
                "cursor is not valid: pass next_cursor exactly as a previous call returned it.",
                code="invalid_cursor",
                fields={"cursor": ["Invalid cursor."]},
            ) from None
    rows = list(queryset[offset : offset + limit + 1])
    next_cursor = _signer.sign(str(offset + limit)) if len(rows) > limit else None
    return rows[:limit], next_cursor
