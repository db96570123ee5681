"""docs/mcp.md shows every tool with an example call and its answer (issue 14). The examples
live in docs/mcp-examples.json, are recorded by calling the tools (examples.py), and stay true:
every tool has one, each fits the tool's published schemas, and each is what the tool answers
today — a tool whose answer changes fails here until its example is re-recorded."""

from __future__ import annotations

import difflib
import importlib.util
import json
import os

import pytest
from jsonschema import Draft202012Validator

from mcp_gateway.tools import TOOLS
from tests.mcp_gateway import examples
from tests.mcp_gateway.examples import RECORD_COMMAND

RECORDING = os.environ.get("TRCKER_RECORD_MCP_EXAMPLES") == "1"
HOW = (
    f"Re-record the examples (docs/mcp-examples.json, and docs/mcp.md with them): {RECORD_COMMAND}"
    " — then read the diff: it is what the tools now answer."
)


def test_every_tool_has_an_example_and_every_example_a_tool():
    recorded = examples.read()
    missing = [tool.name for tool in TOOLS if tool.name not in recorded]
    assert missing == [], f"No example in docs/mcp-examples.json for {missing}. {HOW}"
    unknown = sorted(set(recorded) - {tool.name for tool in TOOLS})
    assert unknown == [], f"Examples of tools that no longer exist: {unknown}. {HOW}"


@pytest.mark.parametrize("tool", list(TOOLS), ids=lambda tool: tool.name)
def test_each_example_fits_the_tools_published_schemas(tool):
    example = examples.read().get(tool.name)
    if example is None:
        pytest.fail(f"{tool.name} has no example. {HOW}")
    definition = tool.definition("2025-06-18")  # the first version with outputSchema
    checker = Draft202012Validator.FORMAT_CHECKER
    for part, schema in (("arguments", "inputSchema"), ("result", "outputSchema")):
        validator = Draft202012Validator(definition[schema], format_checker=checker)
        errors = [
            f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
            for error in validator.iter_errors(example[part])
        ]
        assert errors == [], f"{tool.name}'s example {part} does not fit its {schema}: {errors}"


def _diff(name: str, recorded: object, live: object) -> str:
    def lines(value: object) -> list[str]:
        return json.dumps(value, indent=2, sort_keys=True).splitlines()

    diff = difflib.unified_diff(
        lines(recorded), lines(live), f"{name} recorded", f"{name} now", lineterm="", n=2
    )
    return "\n".join(list(diff)[:40])


@pytest.mark.django_db
def test_each_example_is_what_the_tool_answers_now(settings):
    # The calls go through /api/mcp (the view, its authentication, the protocol and the tool
    # call log), as an MCP client's would; the SDK client adds nothing to an answer's content.
    settings.TRCKER_PUBLIC_URL = examples.PUBLIC_URL
    settings.TRCKER_QUEUE_REDIS_URL = ""  # each request writes its rows (run_every_tool)
    settings.TRCKER_CLICK_QUEUE = False
    live = examples.normalise(examples.run_every_tool())
    if RECORDING:
        examples.write(live, (tool.name for tool in TOOLS))
        _render_docs()
        return
    recorded = examples.read()
    changed = [name for name in live if recorded.get(name) != live[name]]
    details = "\n\n".join(_diff(name, recorded.get(name), live[name]) for name in changed[:3])
    assert changed == [], (
        f"These tools no longer answer their recorded example: {changed}.\n{HOW}\n"
        f"If a value differs on every run, give it a stand-in in examples.normalise.\n{details}"
    )


def _render_docs() -> None:
    spec = importlib.util.spec_from_file_location(
        "render_mcp_tool_docs", examples.ROOT / "scripts" / "render_mcp_tool_docs.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.main()
