"""Rewrite the "## Tools" reference at the end of docs/mcp.md from the live registry and the
recorded examples (docs/mcp-examples.json).

Run: DEBUG=1 .venv/bin/python scripts/render_mcp_tool_docs.py  (the test suite fails when a
registered tool is missing from the doc, so a new tool reminds you to run this). The examples
are recorded by calling the tools (on PostgreSQL): TRCKER_RECORD_MCP_EXAMPLES=1 .venv/bin/pytest
tests/mcp_gateway/test_tool_examples.py (which renders this too); a tool without one is
rendered without an example, and that test names it."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trcker_site.settings")

import django  # noqa: E402

django.setup()

from mcp_gateway.tools import TOOLS  # noqa: E402

MARKER = "## Tools\n"
EXAMPLES = ROOT / "docs" / "mcp-examples.json"
WIDTH = 96  # a JSON value that fits on one line of this width stays on one line


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


def compact_json(value: Any, indent: int = 0, used: int = 0) -> str:
    """JSON indented by two, but an object or array that fits on the rest of its line stays on
    that line: a row of a list reads as one line, not twenty."""
    flat = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, dict | list) or not value or indent + used + len(flat) <= WIDTH:
        return flat
    inner = indent + 2
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            label = json.dumps(key, ensure_ascii=False) + ": "
            parts.append(" " * inner + label + compact_json(item, inner, len(label)))
        opening, closing = "{", "}"
    else:
        parts = [" " * inner + compact_json(item, inner) for item in value]
        opening, closing = "[", "]"
    return opening + "\n" + ",\n".join(parts) + "\n" + " " * indent + closing


def load_examples() -> dict[str, dict[str, Any]]:
    if not EXAMPLES.exists():
        return {}
    examples: dict[str, dict[str, Any]] = json.loads(EXAMPLES.read_text())["examples"]
    return examples


def example_block(name: str, example: dict[str, Any]) -> str:
    call = {"name": name, "arguments": example["arguments"]}
    return (
        "\nExample call (the `params` of `tools/call`):\n\n"
        f"```json\n{compact_json(call)}\n```\n\n"
        "Answer (`structuredContent`):\n\n"
        f"```json\n{compact_json(example['result'])}\n```\n"
    )


def heading(tool) -> str:
    return f"`{tool.name}` — {tool.title}"


def anchor(title: str) -> str:
    # GitHub's: lower case, punctuation (backticks, the dash) dropped, spaces to hyphens.
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def index() -> str:
    """A line of links per scope: with an example per tool the reference is long."""
    lines = []
    for scope in ("read", "write"):
        links = [f"[`{t.name}`](#{anchor(heading(t))})" for t in TOOLS if t.scope == scope]
        lines.append(f"- {scope.capitalize()}: " + ", ".join(links))
    return "### Index\n\n" + "\n".join(lines) + "\n"


def render() -> str:
    examples = load_examples()
    blocks = [index()]
    for tool in TOOLS:
        schema = tool.input_schema()
        required = set(schema.get("required", []))
        names = schema["properties"]
        args = ", ".join(f"`{n}`" if n in required else f"`{n}`?" for n in names) or "none"
        block = (
            f"### {heading(tool)}\n\n{tool.description}\n\n"
            f"- Arguments: {args}\n- Scope: {tool.scope}; hints: {hints(tool)}\n"
        )
        if tool.name in examples:
            block += example_block(tool.name, examples[tool.name])
        blocks.append(block)
    return "\n".join(blocks)


def main() -> None:
    doc = ROOT / "docs" / "mcp.md"
    text = doc.read_text()
    head, _, rest = text.partition(MARKER)
    intro = rest.split("\n### ", 1)[0]
    doc.write_text(head + MARKER + intro.rstrip("\n") + "\n\n" + render())


if __name__ == "__main__":
    main()
