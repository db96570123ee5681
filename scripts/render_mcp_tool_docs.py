"""Rewrite the "## Tools" reference at the end of docs/mcp.md from the live registry.

Run: DEBUG=1 .venv/bin/python scripts/render_mcp_tool_docs.py  (the test suite fails when a
registered tool is missing from the doc, so a new tool reminds you to run this)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trcker_site.settings")

import django  # noqa: E402

django.setup()

from mcp_gateway.tools import TOOLS  # noqa: E402

MARKER = "## Tools\n"


def hints(tool) -> str:
    a = tool.annotations
    if a.read_only:
        return "read-only"
    parts = [
        "destructive" if a.destructive else "additive",
        "idempotent" if a.idempotent else "not idempotent",
    ]
    if a.open_world:
        parts.append("reaches outside Trcker")
    return ", ".join(parts)


def render() -> str:
    blocks = []
    for tool in TOOLS:
        schema = tool.input_schema()
        required = set(schema.get("required", []))
        names = schema["properties"]
        args = ", ".join(f"`{n}`" if n in required else f"`{n}`?" for n in names) or "none"
        blocks.append(
            f"### `{tool.name}` — {tool.title}\n\n{tool.description}\n\n"
            f"- Arguments: {args}\n- Scope: {tool.scope}; hints: {hints(tool)}\n"
        )
    return "\n".join(blocks)


def main() -> None:
    doc = ROOT / "docs" / "mcp.md"
    text = doc.read_text()
    head, _, rest = text.partition(MARKER)
    intro = rest.split("\n### ", 1)[0]
    doc.write_text(head + MARKER + intro.rstrip("\n") + "\n\n" + render())


if __name__ == "__main__":
    main()
