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


def test_every_id_an_example_passes_is_one_another_example_answered():
    # A reader follows an id from one example to the next (list_pending_conversions, then
    # approve_conversion): a stand-in must stand for the same id everywhere, and no list may be
    # cut before the row a later call names.
    recorded = examples.read()
    answered = {name: json.dumps(example["result"]) for name, example in recorded.items()}
    orphans = []
    for name, example in recorded.items():
        passed = [
            match.group(0)
            for match in examples.RANDOM_ID.finditer(json.dumps(example["arguments"]))
        ]
        passed += [
            f'"{key}": {value}'
            for key, value in example["arguments"].items()
            if key.endswith("_id") and isinstance(value, int)
        ]
        orphans += [
            f"{name}: {value}"
            for value in passed
            if not any(value in text for other, text in answered.items() if other != name)
        ]
    assert orphans == [], (
        f"Ids no other example answered: {orphans}. Pass an id from a row an example shows, or "
        "show more rows (examples.ROWS_SHOWN); then re-record."
    )


def test_normalise_keeps_each_id_one_stand_in_and_database_keys_in_order():
    conv_a, conv_b = "conv_" + "a" * 22, "conv_" + "b" * 22
    secret = "whsec_" + "s" * 43
    records = [
        (
            "list_things",
            {},
            {
                "items": [
                    {"conversion_id": conv_a, "delivery_id": 907, "id": 31},
                    {"conversion_id": conv_b, "delivery_id": 905, "id": 30},
                    {"conversion_id": conv_b, "delivery_id": 906, "id": 29},
                ],
                "next_cursor": "raw-signed-cursor",
            },
        ),
        (
            "touch_thing",
            {"conversion_id": conv_b, "delivery_id": 907},
            {
                "txn_id": f"test-{conv_b}",
                "created_at": "2026-03-02T09:30:07.123456Z",
                "postback_secret": secret,
                "changes": [{"target_type": "delivery", "target_id": "907"}],
                "duration_ms": 17,
                "credential": "abcdefghij",
                "request_id": "0123456789abcdef0123456789abcdef",
            },
        ),
    ]
    listed, touched = (examples.normalise(records)[name] for name in ("list_things", "touch_thing"))
    rows = listed["result"]["items"]
    assert len(rows) == examples.ROWS_SHOWN == 2
    assert rows[0]["conversion_id"] != rows[1]["conversion_id"]
    stand_in = rows[1]["conversion_id"]
    assert stand_in != conv_b
    assert examples.RANDOM_ID.fullmatch(stand_in)
    assert touched["arguments"]["conversion_id"] == stand_in
    assert touched["result"]["txn_id"] == f"test-{stand_in}"
    # Ranks within a sequence: 905, 906, 907 -> 1, 2, 3, wherever the key appears.
    assert [row["delivery_id"] for row in rows] == [3, 1]
    assert touched["arguments"]["delivery_id"] == 3
    assert touched["result"]["changes"][0]["target_id"] == "3"
    assert [row["id"] for row in rows] == [3, 2]
    assert listed["result"]["next_cursor"] == examples.FIXED["next_cursor"]
    result = touched["result"]
    assert result["created_at"] == "2026-03-02T09:30:00Z"
    assert result["postback_secret"] != secret
    assert examples.POSTBACK_SECRET.fullmatch(result["postback_secret"])
    assert (result["duration_ms"], result["credential"]) == (4, examples.FIXED["credential"])
    assert result["request_id"] != records[1][2]["request_id"]
    assert examples.normalise(records) == examples.normalise(records)  # no state between runs


def _diff(name: str, recorded: object, live: object) -> str:
    def lines(value: object) -> list[str]:
        return json.dumps(value, indent=2, sort_keys=True).splitlines()

    diff = difflib.unified_diff(
        lines(recorded), lines(live), f"{name} recorded", f"{name} now", lineterm="", n=2
    )
    return "\n".join(list(diff)[:40])


# Recorded on PostgreSQL, what production runs: on SQLite a sum of amounts loses its scale
# (payouts_generate's audit shows "10" for "10.00"), so the answers differ there.
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_each_example_is_what_the_tool_answers_now(settings):
    # The calls go through /api/mcp (the view, its authentication, the protocol and the tool
    # call log), as an MCP client's would; the SDK client adds nothing to an answer's content.
    # Each request commits, as in production: what runs on commit (the tracking config cache
    # dropped after a write) runs before the next call. In one rolled-back transaction it would
    # not, and send_test_postback answered from the offer as it was before the writes
    # (unsigned, the old payout).
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
