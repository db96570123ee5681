"""The MCP tool-call log (every call, reads included)."""

from __future__ import annotations

from typing import Any

from audit.actor import Actor
from mcp_gateway.models import McpToolCall
from trcker_site.db import insert_statement, write_without_disk_wait

REDACTED = "[redacted]"


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
    """Its own transaction on purpose: the call is logged whether or not its own write
    committed; a log of reads too, so its commit does not wait for the disk (and on
    PostgreSQL the whole write is one round trip)."""
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
    write_without_disk_wait([insert_statement(call)])
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
