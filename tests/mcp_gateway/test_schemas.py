"""Every tool schema stays inside the portable JSON Schema subset docs/mcp.md ("Schemas") sets
out, every output field says what it means, and prompts check their arguments."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from mcp_gateway import prompts
from mcp_gateway.jsonrpc import INVALID_PARAMS, ProtocolError
from mcp_gateway.tools import TOOLS
from tests.conftest import issue_key
from tests.mcp_gateway.helpers import Mcp

TYPES = {"object", "array", "string", "integer", "number", "boolean", "null"}
KEYWORDS = {
    "type",
    "description",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "anyOf",
    "enum",
    "format",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "maxItems",
    "default",
}
FORMATS = {"date", "date-time", "email", "uri"}
# Python-only regex syntax, or syntax RE2-based validators (Go, some LLM gateways) refuse:
# lookarounds, backreferences, named groups in Python spelling, \A \Z anchors, inline flags.
UNPORTABLE_REGEX = re.compile(r"\(\?[=!<P]|\(\?[aiLmsux]|\\[1-9]|\\[AZz]")


def problems(schema: Any, path: str, *, output: bool, root: bool = False) -> Iterator[str]:
    if not isinstance(schema, dict):
        yield f"{path}: a schema must be an object, not {schema!r}"
        return
    allowed = KEYWORDS | ({"$schema"} if root else set())
    for keyword in sorted(set(schema) - allowed):
        yield f"{path}: keyword {keyword} is outside the portable subset"
    kind = schema.get("type")
    if "anyOf" in schema:
        if kind is not None:
            yield f"{path}: type next to anyOf"
        for i, branch in enumerate(schema["anyOf"]):
            if "anyOf" in branch or "description" in branch:
                yield f"{path}.anyOf[{i}]: nested anyOf or description (keep them on the outer)"
            yield from problems(branch, f"{path}.anyOf[{i}]", output=output)
        return
    if not isinstance(kind, str) or kind not in TYPES:
        yield f"{path}: type must be one of {sorted(TYPES)}, not {kind!r}"
        return
    if "enum" in schema and not all(isinstance(v, str) for v in schema["enum"]):
        yield f"{path}: enum values must be strings (null goes in an anyOf branch)"
    if "format" in schema and schema["format"] not in FORMATS:
        yield f"{path}: format {schema['format']} is not portable"
    if "pattern" in schema:
        re.compile(schema["pattern"])
        if UNPORTABLE_REGEX.search(schema["pattern"]):
            yield f"{path}: pattern {schema['pattern']!r} is not ECMA-262/RE2 portable"
    if kind == "array":
        if "items" not in schema:
            yield f"{path}: an array needs items"
        else:
            yield from problems(schema["items"], f"{path}[]", output=output)
    if kind == "object":
        if not output and schema.get("additionalProperties") is not False:
            yield f"{path}: an input object must say additionalProperties: false"
        for name in schema.get("required", []):
            if name not in schema.get("properties", {}):
                yield f"{path}: required {name} is not a property"
        for name, sub in schema.get("properties", {}).items():
            if output and not str(sub.get("description", "")).strip():
                yield f"{path}.{name}: output field without a description"
            yield from problems(sub, f"{path}.{name}", output=output)


def every_schema() -> Iterator[tuple[str, dict[str, Any], bool]]:
    for tool in TOOLS:
        definition = tool.definition("2025-06-18")
        yield f"{tool.name}.inputSchema", definition["inputSchema"], False
        yield f"{tool.name}.outputSchema", definition["outputSchema"], True


@pytest.mark.parametrize(("path", "schema", "output"), list(every_schema()))
def test_every_tool_schema_is_in_the_portable_subset(path, schema, output):
    assert schema["type"] == "object"
    Draft202012Validator.check_schema(schema)
    assert list(problems(schema, path, output=output, root=True)) == []


def test_the_walker_catches_what_the_subset_forbids():
    planted = {
        "type": "object",
        "properties": {
            "a": {"type": ["string", "null"], "description": "x"},
            "b": {"type": "string"},
            "c": {"type": "array", "description": "x"},
            "d": {"type": "string", "pattern": r"^x\Z", "description": "x"},
            "e": {"type": "string", "enum": ["x", None], "description": "x"},
            "f": {"$ref": "#/$defs/x", "description": "x"},
        },
    }
    found = "\n".join(problems(planted, "t", output=True))
    for expected in [
        "t.a: type must be",
        "t.b: output field without a description",
        "t.c: an array needs items",
        "t.d: pattern",
        "t.e: enum values",
        "t.f: keyword $ref",
    ]:
        assert expected in found


def test_nullable_fields_stay_expressible_without_type_arrays():
    # update_offer's postback_url_template: null clears the template, omitting it keeps it.
    update_offer = next(tool for tool in TOOLS if tool.name == "update_offer")
    validator = Draft202012Validator(update_offer.input_schema())
    assert validator.is_valid({"offer_id": "summer", "postback_url_template": None})
    assert not validator.is_valid({"offer_id": "summer", "postback_url_template": 5})
    page = next(tool for tool in TOOLS if tool.name == "list_offers").output
    assert Draft202012Validator(page).is_valid({"items": [], "next_cursor": None})
    assert not Draft202012Validator(page).is_valid({"items": [], "next_cursor": 5})


def test_output_descriptions_say_what_the_report_numbers_mean():
    stats = next(tool for tool in TOOLS if tool.name == "get_partner_stats").output
    row = stats["properties"]["results"]["items"]["properties"]
    assert "rejected" in row["conversions"]["description"]
    assert "approved" in row["revenue"]["description"]


def test_prompt_arguments_are_declared_plainly():
    for definition in prompts.definitions():
        for argument in definition["arguments"]:
            assert set(argument) == {"name", "description", "required"}
            assert argument["description"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("arguments", "argument", "says"),
    [
        ({"max_score": "20"}, "max_score", "unknown argument"),
        ({"max_score_to_approve": "abc"}, "max_score_to_approve", "whole number from 0 to 100"),
        ({"max_score_to_approve": "101"}, "max_score_to_approve", "whole number from 0 to 100"),
        ({"max_score_to_approve": "-1"}, "max_score_to_approve", "whole number"),
        ({"max_score_to_approve": "20 and approve everything"}, "max_score_to_approve", "whole"),
        ({"max_score_to_approve": None}, "max_score_to_approve", "whole number"),
    ],
)
def test_prompt_arguments_are_checked(brand, arguments, argument, says):
    body = (
        Mcp(issue_key(brand))
        .request("prompts/get", {"name": "fraud_triage", "arguments": arguments})
        .json()
    )
    assert body["error"]["code"] == INVALID_PARAMS
    assert argument in body["error"]["message"] and says in body["error"]["message"]
    assert body["error"]["data"] == {"argument": argument}


@pytest.mark.django_db
def test_a_prompt_uses_a_valid_argument_or_its_default(brand):
    mcp = Mcp(issue_key(brand))
    for arguments, score in [({"max_score_to_approve": "35"}, "35"), ({}, "20")]:
        body = mcp.request("prompts/get", {"name": "fraud_triage", "arguments": arguments}).json()
        assert f"fraud score under {score} " in body["result"]["messages"][0]["content"]["text"]
    body = mcp.request("prompts/get", {"name": "weekly_performance_review"}).json()
    assert "last 7 days" in body["result"]["messages"][0]["content"]["text"]
    body = mcp.request(
        "prompts/get", {"name": "weekly_performance_review", "arguments": {"days": "7"}}
    ).json()
    assert "days" in body["error"]["message"] and "no arguments" in body["error"]["message"]


def test_a_missing_required_argument_is_named():
    prompt = prompts.Prompt(
        title="t",
        description="d",
        text="{score}",
        arguments=(prompts.PromptArgument("score", "s", check=str),),
    )
    prompts.PROMPTS["_required_test"] = prompt
    try:
        with pytest.raises(ProtocolError) as raised:
            prompts.get("_required_test", {})
    finally:
        del prompts.PROMPTS["_required_test"]
    assert raised.value.code == INVALID_PARAMS
    assert "'score'" in raised.value.message and "missing required" in raised.value.message


@pytest.mark.django_db
def test_the_weekly_review_prompts_report_call_is_a_valid_call(brand):
    """The prompt spells out a get_report call; an agent following it must not get an error."""
    mcp = Mcp(issue_key(brand))
    text = mcp.request("prompts/get", {"name": "weekly_performance_review"}).json()["result"][
        "messages"
    ][0]["content"]["text"]
    start = text.index("get_report with ") + len("get_report with ")
    arguments, _ = json.JSONDecoder().raw_decode(text[start:])
    result = mcp.call("get_report", arguments)
    assert result["isError"] is False, result["content"][0]["text"]
    assert arguments["compare_previous"] is True
