"""The MCP tool-call log in the admin: each brand's staff can read theirs; nobody writes."""

from __future__ import annotations

from django.contrib import admin

from mcp_gateway.models import McpToolCall
from trcker_site.admin_base import ReadOnlyBrandAdmin, brand_list_filter


@admin.register(McpToolCall)
class McpToolCallAdmin(ReadOnlyBrandAdmin):
    list_display = (
        "created_at",
        "brand",
        "tool",
        "outcome",
        "duration_ms",
        "actor_label",
        "credential",
        "ip",
    )
    list_select_related = ("brand",)
    list_filter = ("is_error", "tool", brand_list_filter())
    search_fields = ("tool", "outcome", "=request_id", "credential")
    ordering = ("-created_at", "-id")
    date_hierarchy = "created_at"
