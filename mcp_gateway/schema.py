"""JSON Schema (2020-12) generated from the DRF serializers REST uses, so the MCP contract is
never written twice. SerializerMethodFields declare their type with drf-spectacular's
``extend_schema_field`` (which also feeds the OpenAPI document).

Only a portable subset is emitted (docs/mcp.md, "Schemas"; tests/mcp_gateway/test_schemas.py
enforces it): ``type`` is always one string, never an array, because several function-calling
clients (Gemini's schema subset, the MCP Inspector's strict check) refuse ``"type": [..]``; a
field that may be null is ``anyOf: [<schema>, {"type": "null"}]`` instead, which they all read."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from rest_framework import serializers

DECIMAL_PATTERN = r"^-?\d+(\.\d+)?$"
_OPENAPI_TYPES: dict[Any, dict[str, Any]] = {
    OpenApiTypes.BOOL: {"type": "boolean"},
    OpenApiTypes.STR: {"type": "string"},
    OpenApiTypes.URI: {"type": "string", "format": "uri"},
    OpenApiTypes.INT: {"type": "integer"},
    OpenApiTypes.DECIMAL: {"type": "string", "pattern": DECIMAL_PATTERN},
    OpenApiTypes.OBJECT: {"type": "object"},
}


NULL: dict[str, Any] = {"type": "null"}
# Annotations stay on the outer schema, next to anyOf, so a client that shows only the top
# level still reads what the field means and what omitting it does.
_ANNOTATIONS = ("description", "default")


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or null, without a type array."""
    outer = {key: schema.pop(key) for key in _ANNOTATIONS if key in schema}
    branches = schema["anyOf"] if set(schema) == {"anyOf"} else [schema]
    return {"anyOf": [*branches, NULL], **outer}


def _nullable(schema: dict[str, Any], field: serializers.Field) -> dict[str, Any]:
    if getattr(field, "allow_null", False) and ("type" in schema or "anyOf" in schema):
        return nullable(schema)
    return schema


def ecma_pattern(regex: str) -> str:
    """A Python regex as ECMA-262, the dialect JSON Schema's ``pattern`` uses: Python's ``\\A``
    and ``\\Z`` anchors are an error (or a literal letter) there, while ``^`` and ``$`` without
    the multiline flag mean exactly "start" and "end of input"."""
    return regex.replace(r"\A", "^").replace(r"\Z", "$")


def _method_field(field: serializers.SerializerMethodField) -> dict[str, Any]:
    method = getattr(field.parent, field.method_name, None)
    annotation = getattr(method, "_spectacular_annotation", None)
    if isinstance(annotation, serializers.Field):
        return field_schema(annotation, for_input=False)
    if isinstance(annotation, dict) and "field" in annotation:
        inner = annotation["field"]
        return (
            field_schema(inner, for_input=False)
            if isinstance(inner, serializers.Field)
            else dict(_OPENAPI_TYPES.get(inner, {}))
        )
    return dict(_OPENAPI_TYPES.get(annotation, {}))


def field_schema(field: serializers.Field, *, for_input: bool) -> dict[str, Any]:
    schema: dict[str, Any]
    if isinstance(field, serializers.SerializerMethodField):
        schema = _method_field(field)
    elif isinstance(field, serializers.ListSerializer) and isinstance(
        field.child, serializers.Serializer
    ):
        schema = {"type": "array", "items": serializer_schema(field.child, for_input=for_input)}
    elif isinstance(field, serializers.Serializer):
        schema = serializer_schema(field, for_input=for_input)
    elif isinstance(field, serializers.BooleanField):
        schema = {"type": "boolean"}
    elif isinstance(field, serializers.ChoiceField):
        schema = {"type": "string", "enum": [str(choice) for choice in field.choices]}
    elif isinstance(field, serializers.DecimalField):
        # Money travels as decimal strings; inputs also take JSON numbers.
        if for_input:
            schema = {"anyOf": [{"type": "string"}, {"type": "number"}]}
        else:
            schema = {"type": "string", "pattern": DECIMAL_PATTERN}
        if field.min_value is not None and for_input:
            schema["description"] = f'Decimal ≥ {field.min_value}, e.g. "12.50".'
    elif isinstance(field, serializers.IntegerField):
        schema = {"type": "integer"}
        if field.min_value is not None:
            schema["minimum"] = field.min_value
        if field.max_value is not None:
            schema["maximum"] = field.max_value
    elif isinstance(field, serializers.DateTimeField):
        schema = {"type": "string", "format": "date-time"}
    elif isinstance(field, serializers.DateField):
        schema = {"type": "string", "format": "date"}
    elif isinstance(field, serializers.ListField):
        schema = {"type": "array", "items": field_schema(field.child, for_input=for_input)}
        if field.max_length is not None:
            schema["maxItems"] = field.max_length
    elif isinstance(field, serializers.DictField | serializers.JSONField):
        schema = {"type": "object"}
    elif isinstance(field, serializers.IPAddressField):
        schema = {"type": "string"}
    elif isinstance(field, serializers.CharField):
        schema = {"type": "string"}
        if isinstance(field, serializers.EmailField):
            schema["format"] = "email"
        elif isinstance(field, serializers.URLField) and not for_input:
            # Not on inputs: destination and postback templates carry {PLACEHOLDERS}, which a
            # strict "uri" validator in a client would refuse.
            schema["format"] = "uri"
        elif isinstance(field, serializers.RegexField):
            regex = next((v.regex.pattern for v in field.validators if hasattr(v, "regex")), None)
            if regex:
                schema["pattern"] = ecma_pattern(regex)
        if field.max_length is not None:
            schema["maxLength"] = field.max_length
        if field.min_length is not None:
            schema["minLength"] = field.min_length
    else:
        schema = {}
    if field.help_text:
        schema["description"] = str(field.help_text)
    if for_input and field.default is not serializers.empty and not callable(field.default):
        schema["default"] = field.default
    return _nullable(schema, field)


def serializer_schema(
    serializer: serializers.Serializer | type[serializers.Serializer], *, for_input: bool
) -> dict[str, Any]:
    instance = serializer() if isinstance(serializer, type) else serializer
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, field in instance.fields.items():
        if for_input and field.read_only:
            continue
        if not for_input and field.write_only:
            continue
        properties[name] = field_schema(field, for_input=for_input)
        # An output field is always present unless it says required=False (a report row
        # carries only the metrics asked for).
        if field.required if for_input else field.required is not False:
            required.append(name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if for_input:
        schema["additionalProperties"] = False
    return schema
