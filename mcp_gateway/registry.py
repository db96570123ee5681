"""The tool table's building blocks: one explicit entry per tool, naming its contract, the
domain function it calls, the id lookups it needs, its scope and its annotations."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rest_framework import serializers

from audit.actor import Actor, Scope
from mcp_gateway.schema import serializer_schema

TOOL_NAME = re.compile(r"^[a-z0-9_]{1,64}$")


@dataclass(frozen=True)
class Lookup:
    """Turn an id argument into a row through a selector (tenant scoping included)."""

    argument: str  # e.g. "offer_id"
    parameter: str  # the service's keyword, e.g. "offer"
    selector: Callable[..., Any]  # e.g. offers.selectors.offer_get_for_actor
    required: bool = True


@dataclass(frozen=True)
class Annotations:
    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool

    def as_dict(self, title: str) -> dict[str, Any]:
        return {
            "title": title,
            "readOnlyHint": self.read_only,
            "destructiveHint": self.destructive,
            "idempotentHint": self.idempotent,
            "openWorldHint": self.open_world,
        }


READ = Annotations(read_only=True, destructive=False, idempotent=True, open_world=False)


@dataclass(frozen=True)
class Tool:
    name: str
    title: str
    description: str
    input: type[serializers.Serializer]
    run: Callable[..., Any]  # the service or selector: run(actor=…, **arguments)
    render: Callable[[Any], Any]  # domain result → structured JSON (the REST output serializer)
    output: dict[str, Any]  # JSON Schema of ``render``'s result (generated from serializers)
    scope: Scope
    annotations: Annotations
    lookups: tuple[Lookup, ...] = ()
    # Arguments that are interface-only (pagination) and not passed to ``run``.
    interface_arguments: frozenset[str] = field(default_factory=frozenset)
    secret_arguments: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not TOOL_NAME.match(self.name):
            raise ValueError(f"tool name {self.name!r} must match {TOOL_NAME.pattern}")

    def input_schema(self) -> dict[str, Any]:
        schema = serializer_schema(self.input, for_input=True)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        return schema

    def definition(self, version: str) -> dict[str, Any]:
        definition: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "inputSchema": self.input_schema(),
        }
        if version >= "2025-03-26":
            definition["annotations"] = self.annotations.as_dict(self.title)
        if version >= "2025-06-18":
            definition["title"] = self.title
            definition["outputSchema"] = self.output
        return definition

    def bind(self, actor: Actor, arguments: Mapping[str, Any]) -> dict[str, Any]:
        kwargs = {
            name: value for name, value in arguments.items() if name not in self.interface_arguments
        }
        for lookup in self.lookups:
            value = kwargs.pop(lookup.argument, None)
            if value is None:
                if lookup.required:
                    raise KeyError(lookup.argument)
                kwargs[lookup.parameter] = None
                continue
            kwargs[lookup.parameter] = lookup.selector(actor=actor, **{lookup.argument: value})
        return kwargs


def object_output(serializer: type[serializers.Serializer]) -> dict[str, Any]:
    return serializer_schema(serializer, for_input=False)


def list_output(*row_serializers: type[serializers.Serializer]) -> dict[str, Any]:
    rows = [serializer_schema(serializer, for_input=False) for serializer in row_serializers]
    return {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": rows[0] if len(rows) == 1 else {"anyOf": rows}},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Pass as cursor to get the next page; null on the last page.",
            },
        },
        "required": ["items", "next_cursor"],
    }


class ToolRegistry:
    def __init__(self, tools: list[Tool]) -> None:
        names = [tool.name for tool in tools]
        duplicates = {name for name in names if names.count(name) > 1}
        if duplicates:
            raise ValueError(f"duplicate tool names: {sorted(duplicates)}")
        self._tools = list(tools)
        self._by_name = {tool.name: tool for tool in tools}

    def __iter__(self):
        return iter(self._tools)

    def __len__(self) -> int:
        return len(self._tools)

    def get(self, name: str) -> Tool | None:
        return self._by_name.get(name)

    def visible_to(self, actor: Actor) -> list[Tool]:
        return [tool for tool in self._tools if tool.scope in actor.scopes]
