"""The audit trail and the MCP tool-call log."""

from __future__ import annotations

from rest_framework import serializers

from audit import selectors
from audit.actor import Scope
from audit.serializers import AuditEventListFilters, AuditEventOutput
from core.serializers import PageArguments, StrictSerializer
from mcp_gateway.selectors import tool_call_list
from mcp_gateway.serializers import ToolCallOutput
from operations.declaration import READ, Operation, RestRoute, ToolSpec


class AuditEventRef(StrictSerializer):
    event_id = serializers.IntegerField(min_value=1)


class ToolCallListFilters(PageArguments):
    tool = serializers.RegexField(
        r"^[a-z0-9_]{1,64}$", required=False, help_text="Only calls of this tool, e.g. list_offers."
    )


OPERATIONS = [
    Operation(
        name="get_audit_log",
        description="Audited writes, newest first: who (actor, e.g. mcp:acme or user:4), what "
        "(action, e.g. offer.pause; or a prefix like offer), on which target, with old and new "
        "values. Filters: action, target_type, target_id, actor, channel (admin, rest, mcp, "
        "apply, postback, cli, worker), since, until. Every MCP tool call, reads included, is in "
        "list_tool_calls.",
        input=AuditEventListFilters,
        run=selectors.audit_event_list,
        output=AuditEventOutput,
        shape="page",
        scope=Scope.READ,
        rest=RestRoute("GET", "audit-events/", "audit-event-list", "audit"),
        tool=ToolSpec("Audit log", READ),
    ),
    Operation(
        name="get_audit_event",
        description="One audit event with its chain hash.",
        input=AuditEventRef,
        run=selectors.audit_event_get_for_actor,
        output=AuditEventOutput,
        scope=Scope.READ,
        rest=RestRoute("GET", "audit-events/<int:event_id>/", "audit-event-detail", "audit"),
    ),
    Operation(
        name="list_tool_calls",
        description="Every MCP tool call, reads included, newest first: tool, arguments (secrets "
        "redacted), outcome, duration, actor and credential. Filter one tool with tool.",
        input=ToolCallListFilters,
        run=tool_call_list,
        output=ToolCallOutput,
        shape="page",
        scope=Scope.READ,
        rest=RestRoute("GET", "tool-calls/", "tool-call-list", "audit"),
        tool=ToolSpec("Tool-call log", READ),
    ),
]
