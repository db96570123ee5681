"""The MCP tools: the operations declared with a ToolSpec (operations/), nothing of their own."""

from __future__ import annotations

from mcp_gateway.registry import ToolRegistry
from operations.catalog import OPERATIONS

TOOLS = ToolRegistry(OPERATIONS.values())
