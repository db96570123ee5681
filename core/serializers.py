"""Input contracts shared by every interface (REST bodies, query strings, MCP arguments):
strict about unknown fields and JSON types, with integers bounded by their database column."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.http import QueryDict
from rest_framework import serializers


class QueryParams(dict[str, Any]):
    """A query string read as a plain dict; its values are strings by nature, so the JSON type
    rules of StrictSerializer do not apply to it."""


# The narrowest integer column an input may land in: PostgreSQL's "integer", behind Django's
# IntegerField and PositiveIntegerField (caps, coupon max uses, seconds). A larger number would
# pass validation and then fail the write with a DataError (a 500).
COLUMN_INT_MIN = -(2**31)
COLUMN_INT_MAX = 2**31 - 1


def bound_to_column(field: serializers.Field[Any, Any, Any, Any]) -> None:
    """Give an IntegerField without its own bounds the column's range, with DRF's messages (so
    an out-of-range number is a 422 naming the field), and the JSON Schema / OpenAPI generated
    from the field the same minimum and maximum. Recurses into list and dict children."""
    if isinstance(field, serializers.ListField | serializers.DictField):
        bound_to_column(field.child)
    elif isinstance(field, serializers.IntegerField):
        if field.max_value is None:
            field.max_value = COLUMN_INT_MAX
            message = field.error_messages["max_value"].format(max_value=COLUMN_INT_MAX)
            field.validators.append(MaxValueValidator(COLUMN_INT_MAX, message=message))
        if field.min_value is None:
            field.min_value = COLUMN_INT_MIN
            message = field.error_messages["min_value"].format(min_value=COLUMN_INT_MIN)
            field.validators.append(MinValueValidator(COLUMN_INT_MIN, message=message))
    elif isinstance(field, serializers.DecimalField) and field.max_digits is None:
        # DRF checks max_digits/decimal_places itself; a money input without them would reach
        # a numeric(14, 2) column unchecked.
        raise TypeError(f"DecimalField {field.field_name!r} of an input needs max_digits.")


class StrictSerializer(serializers.Serializer[Any]):
    """Input contract that refuses unknown fields: no mass assignment of brand, id, status,
    counters, or anything a later version might add. Integer fields are bounded by the range
    of their database column (bound_to_column)."""

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        for field in fields.values():
            bound_to_column(field)
        return fields

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field; it cannot be set here."] for name in unknown}
                )
            if not isinstance(data, QueryDict | QueryParams):
                wrong = _wrong_json_types(self.fields, data)
                if wrong:
                    raise serializers.ValidationError(wrong)
        return super().to_internal_value(data)


def _wrong_json_types(fields: Any, data: dict[str, Any]) -> dict[str, list[str]]:
    """JSON bodies and MCP arguments must use the JSON type the schema declares: DRF would
    otherwise read 0 as false and "5" as 5, and a client that sent the wrong type would never
    learn that its payload is not what it thinks."""
    wrong: dict[str, list[str]] = {}
    for name, field in fields.items():
        if name not in data or data[name] is None or field.read_only:
            continue
        value = data[name]
        if isinstance(field, serializers.BooleanField) and not isinstance(value, bool):
            wrong[name] = ["Must be a JSON boolean (true or false)."]
        elif isinstance(field, serializers.IntegerField) and (
            isinstance(value, bool) or not isinstance(value, int)
        ):
            wrong[name] = ["Must be a JSON integer."]
        elif (
            isinstance(field, serializers.CharField | serializers.ChoiceField)
            and not isinstance(field, serializers.MultipleChoiceField)
            and not isinstance(value, str)
        ):
            wrong[name] = ["Must be a JSON string."]
    return wrong


class PageArguments(StrictSerializer):
    """The two arguments of every keyset-paged list (core.keyset), REST and MCP alike."""

    limit = serializers.IntegerField(
        min_value=1,
        max_value=settings.TRCKER_MAX_PAGE_SIZE,
        required=False,
        help_text=f"Rows per page (default {settings.TRCKER_PAGE_SIZE}, "
        f"max {settings.TRCKER_MAX_PAGE_SIZE}).",
    )
    cursor = serializers.CharField(
        required=False,
        max_length=1000,
        help_text="The next_cursor of the previous page of the same list, with the same filters.",
    )
