"""The MCP tool-call log (every call, reads included)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from redis.exceptions import RedisError

from audit.actor import Actor
from core.db import atomic_without_disk_wait
from core.queue_redis import queue_client
from core.streams import Entry, Stream
from mcp_gateway.models import McpToolCall

logger = logging.getLogger(__name__)

REDACTED = "[redacted]"
TOOL_CALLS = Stream("tool-calls")
_ROW_FIELDS = (
    "brand_id",
    "created_at",
    "actor_label",
    "credential",
    "tool",
    "arguments",
    "outcome",
    "is_error",
    "duration_ms",
    "request_id",
    "ip",
    "user_agent",
)


def _loggable_text(value: str) -> str:
    # What a text or JSON column refuses: NUL (PostgreSQL) and lone surrogates (not UTF-8).
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def _loggable(value: Any) -> Any:
    """A tool's arguments as the log can store them: the caller's values, except what a JSON
    column refuses — NUL and lone surrogates in any string or key, NaN and infinities (kept as
    their names). The log of a refused call must not fail the call (a -32603)."""
    if isinstance(value, str):
        return _loggable_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {_loggable_text(str(key)): _loggable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_loggable(item) for item in value]
    return value


def tool_call_record(
    *,
    actor: Actor,
    tool: str,
    arguments: dict[str, Any],
    secret_arguments: frozenset[str],
    outcome: str,
    is_error: bool,
    duration_ms: int,
) -> McpToolCall:
    """Logged whether or not the call's own write committed. With a queue Redis the row is
    queued (one XADD) and a worker writes it, in batches, within the queue's lag; without one,
    or inside a transaction (tests, or a caller's larger write), it is written at once."""
    safe = {
        _loggable_text(name): (REDACTED if name in secret_arguments else _loggable(value))
        for name, value in arguments.items()
    }
    call = McpToolCall(
        brand_id=actor.brand_id,
        actor_label=actor.label,
        # The key's prefix: a brand key's, or a partner key's (trkp_<prefix>, "partner:<id>").
        credential=str(actor.detail.get("api_key") or actor.detail.get("partner_api_key", ""))[:64],
        tool=_loggable_text(tool)[:64],
        arguments=safe,
        outcome=_loggable_text(outcome)[:64],
        is_error=is_error,
        duration_ms=duration_ms,
        request_id=actor.request_id[:64],
        ip=actor.ip,
        user_agent=actor.user_agent[:512],
    )
    client = queue_client()
    if client is not None and not connection.in_atomic_block:
        record = {name: getattr(call, name) for name in _ROW_FIELDS}
        try:
            client.xadd(TOOL_CALLS.key, {"r": json.dumps(record, cls=DjangoJSONEncoder)})
            return call
        except RedisError:
            logger.warning("tool-call queue unavailable: writing the row directly")
    with atomic_without_disk_wait():
        call.save(force_insert=True)
    return call


def _decode_tool_call(entry: Entry) -> McpToolCall:
    record = json.loads(entry.fields["r"])
    if set(record) != set(_ROW_FIELDS):
        raise ValueError("not a tool-call record")
    record["created_at"] = dt.datetime.fromisoformat(record["created_at"])
    return McpToolCall(**record)


def tool_calls_process(entries: list[Entry]) -> dict[str, str]:
    """The worker's handler: write a batch of queued tool-call rows; {entry id: reason} for
    rows refused for good. At least once: a worker killed between its commit and its
    acknowledgement writes that batch again (a duplicate log line, never a lost one)."""
    refused: dict[str, str] = {}
    rows: list[tuple[str, McpToolCall]] = []
    for entry in entries:
        try:
            rows.append((entry.id, _decode_tool_call(entry)))
        except (ValueError, KeyError, TypeError) as exc:
            refused[entry.id] = f"not a tool-call record: {type(exc).__name__}: {exc}"
    try:
        with atomic_without_disk_wait():
            McpToolCall.objects.bulk_create([row for _, row in rows])
    except (OperationalError, InterfaceError):
        raise
    except DatabaseError:
        # A row the database refuses (its brand deleted meanwhile) holds back no other.
        for entry_id, row in rows:
            try:
                with atomic_without_disk_wait():
                    McpToolCall.objects.bulk_create([row])
            except (OperationalError, InterfaceError):
                raise
            except DatabaseError as exc:
                refused[entry_id] = f"refused by the database: {type(exc).__name__}: {exc}"
    return refused


def oauth_tokens_revoke(*, actor: Actor, tokens: list[Any], client_label: str) -> int:
    """Revoke OAuth access tokens (and their refresh tokens) bound to the actor's brand."""
    from django.db import transaction

    from audit.services import audit_record

    actor.require_write()
    brand_scope = f"brand:{actor.brand_slug}"
    mine = [token for token in tokens if brand_scope in token.scope.split()]
    if not mine:
        return 0
    with transaction.atomic():
        for token in mine:
            token.revoke()
        audit_record(
            actor=actor,
            action="oauth.revoke",
            target_type="oauth_client",
            target_id=client_label[:64],
            changes={"tokens_revoked": [None, len(mine)]},
        )
    return len(mine)
