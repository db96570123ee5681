"""The MCP view of the operations: every operation declared with a ``ToolSpec`` is a tool, with
its JSON Schemas generated from the operation's serializers (never written twice)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from audit.actor import Actor, Scope
from mcp_gateway.schema import field_schema, serializer_schema
from operations.declaration import Annotations, Operation, answer_serializer, write_answer_fields

NEXT_CURSOR_SCHEMA = {
    "anyOf": [{"type": "string"}, {"type": "null"}],
    "description": "Pass as cursor, with the same filters, to get the next page; null on the "
    "last page.",
}


class Tool:
    """One operation as an MCP tool."""

    def __init__(self, operation: Operation) -> None:
        if operation.tool is None:
            raise ValueError(f"{operation.name} is not declared as a tool")
        self.operation = operation
        self.name = operation.name
        self.title = operation.tool.title
        self.description = operation.description
        self.scope: Scope = operation.scope
        self.annotations: Annotations = operation.tool.annotations
        self.secret_arguments = operation.secret_arguments
        self.output = output_schema(operation)

    def input_schema(self) -> dict[str, Any]:
        schema = serializer_schema(self.operation.contract, for_input=True)
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


def output_schema(operation: Operation) -> dict[str, Any]:
    """structuredContent is always an object: the row, or ``items`` (plus ``next_cursor`` for a
    keyset page)."""
    if operation.shape == "one":
        return serializer_schema(answer_serializer(operation), for_input=False)
    row = serializer_schema(operation.output, for_input=False)
    properties: dict[str, Any] = {
        "items": {
            "type": "array",
            "items": row,
            "description": "The rows (a page of them if paged).",
        }
    }
    if operation.shape == "page":
        properties["next_cursor"] = NEXT_CURSOR_SCHEMA
    if operation.is_write:
        for name, answer_field in write_answer_fields().items():
            properties[name] = field_schema(answer_field, for_input=False)
    return {"type": "object", "properties": properties, "required": sorted(properties)}


class ToolRegistry:
    def __init__(self, operations: Iterable[Operation]) -> None:
        self._tools = [Tool(operation) for operation in operations if operation.tool]
        self._by_name = {tool.name: tool for tool in self._tools}

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools)

    def __len__(self) -> int:
        return len(self._tools)

    def get(self, name: str) -> Tool | None:
        return self._by_name.get(name)

    def visible_to(self, actor: Actor) -> list[Tool]:
        return [tool for tool in self._tools if tool.scope in actor.scopes]
