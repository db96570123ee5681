"""docs/partners.md names every partner operation (REST route and MCP tool), so a new one
cannot ship undocumented; the tool reference of docs/mcp.md is the brand's."""

from __future__ import annotations

import re
from pathlib import Path

from operations.catalog import PARTNER_OPERATIONS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "partners.md").read_text()


def test_every_partner_route_and_tool_is_documented():
    table = DOC.split("## The partner API", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| ([A-Z]+) \| `([^`?]+)[^|]*\| (.*) \|$", table, re.MULTILINE)
    documented = {(method, path) for method, path, _ in rows}
    tools_section = DOC.split("## Partner MCP tools", 1)[1]
    for name, operation in PARTNER_OPERATIONS.items():
        if operation.rest:
            path = "/api/partner/v1/" + re.sub(r"<(\w+)>", r"{\1}", operation.rest.path)
            assert (operation.rest.method, path) in documented, name
            assert any(f"(`{name}`)" in what for _, _, what in rows), name
        if operation.tool:
            assert f"`{name}`" in tools_section, name
