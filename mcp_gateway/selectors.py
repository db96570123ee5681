"""Reads of the MCP tool-call log, scoped to the actor's brand."""

from __future__ import annotations

from django.db.models import QuerySet

from audit.actor import Actor
from mcp_gateway.models import McpToolCall


def tool_call_list(*, actor: Actor, tool: str | None = None) -> QuerySet[McpToolCall]:
    qs = McpToolCall.objects.filter(brand_id=actor.brand_id)
    if tool:
        qs = qs.filter(tool=tool)
    return qs.order_by("-created_at", "-pk")
