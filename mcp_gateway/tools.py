"""The MCP tools: the operations declared with a ToolSpec (operations/), nothing of their own."""

from __future__ import annotations

from mcp_gateway.registry import ToolRegistry
from operations.catalog import OPERATIONS, PARTNER_OPERATIONS

TOOLS = ToolRegistry(OPERATIONS.values())
# What a partner key (trkp_…) is offered instead: its own tools, and no brand tool at all.
PARTNER_TOOLS = ToolRegistry(PARTNER_OPERATIONS.values())
