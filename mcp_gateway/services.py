"""The MCP tool-call log (every call, reads included)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from audit.actor import Actor
from mcp_gateway.models import McpToolCall
from trcker_site.batch_writer import BatchWriter

REDACTED = "[redacted]"
_tool_call_log = BatchWriter(McpToolCall, delay=settings.TRCKER_TOOL_CALL_LOG_DELAY)


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
    """Logged whether or not the call's own write committed: outside any transaction the
    row joins this process's batch, written within TRCKER_TOOL_CALL_LOG_DELAY seconds by
    the batch writer (a log of reads too: one multi-row INSERT per batch, not a commit per
    call); inside one (tests, or a caller's larger write) it is written at once."""
    safe = {
        name: (REDACTED if name in secret_arguments else value) for name, value in arguments.items()
    }
    call = McpToolCall(
        brand_id=actor.brand_id,
        actor_label=actor.label,
        credential=str(actor.detail.get("api_key", ""))[:64],
        tool=tool[:64],
        arguments=safe,
        outcome=outcome[:64],
        is_error=is_error,
        duration_ms=duration_ms,
        request_id=actor.request_id[:64],
        ip=actor.ip,
        user_agent=actor.user_agent[:512],
    )
    _tool_call_log.add(call)
    return call


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
