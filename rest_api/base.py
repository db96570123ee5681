"""REST plumbing shared by every app: the error renderer, the tenant base view, pagination,
and the per-key rate limit (the JSON parser with a depth bound is in body_limits.py, where
DRF can import it while this module is still loading)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from audit.actor import Actor, Channel
from brands.authentication import actor_for_api_key
from brands.models import ApiKey
from core.errors import DomainError, RateLimitedError
from core.rate_limits import count_request

logger = logging.getLogger("trcker.api")


class RatelimitedException(exceptions.Throttled):
    """What django-ratelimit raises when a decorated view is over its limit."""


# A lone surrogate from a JSON body ("\\ud800") echoed in an error message ("… is not a valid
# choice", an unknown field's name) cannot be encoded as UTF-8: the renderer would raise and
# turn a 422 into a 500.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _printable(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_printable(key): _printable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_printable(item) for item in value]
    return value


def _error(
    status: int, code: str, message: str, fields: Any = None, headers: dict[str, str] | None = None
) -> Response:
    body: dict[str, Any] = {"code": code, "message": _printable(message)}
    if fields:
        body["fields"] = _printable(fields)
    response = Response({"error": body}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _field_errors(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {
            str(name): [
                str(item) for item in (messages if isinstance(messages, list) else [messages])
            ]
            for name, messages in detail.items()
        }
    return {
        "non_field_errors": [str(item) for item in detail]
        if isinstance(detail, list)
        else [str(detail)]
    }


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """One shape for every REST error: ``{"error": {"code", "message", "fields"?}}``."""
    if isinstance(exc, DomainError):
        headers = (
            {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimitedError) else None
        )
        return _error(exc.http_status, exc.code, exc.message, exc.fields, headers)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=serializers.as_serializer_error(exc))
    if isinstance(exc, Http404):
        return _error(404, "not_found", "Not found.")
    if isinstance(exc, exceptions.ValidationError):
        fields = _field_errors(exc.detail)
        first_field, first_messages = next(iter(fields.items()))
        message = (
            first_messages[0]
            if first_field == "non_field_errors"
            else f"{first_field}: {first_messages[0]}"
        )
        return _error(422, "invalid_input", message, fields)
    if isinstance(exc, exceptions.NotAuthenticated):
        return _error(
            401,
            "unauthenticated",
            "Authentication required: send Authorization: Bearer trk_…",
            headers={"WWW-Authenticate": 'Bearer realm="trcker"'},
        )
    if isinstance(exc, exceptions.AuthenticationFailed):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "invalid_api_key"
        if code == "authentication_failed":
            code = "invalid_api_key"
        return _error(
            401, code, str(exc.detail), headers={"WWW-Authenticate": 'Bearer realm="trcker"'}
        )
    if isinstance(exc, exceptions.Throttled):
        wait = int(getattr(exc, "wait", None) or 60)
        return _error(
            429,
            "rate_limited",
            f"Too many requests; retry in {wait} s.",
            headers={"Retry-After": str(wait)},
        )
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        return _error(exc.status_code, code, str(exc.detail))
    return None  # unexpected: Django's 500 handler logs it with the request id


# The one budget of an API credential, shared by REST and MCP (docs/api.md: TRCKER_API_RATE
# requests per key, whichever interface they use).
CREDENTIAL_BUDGET = "credential"


class ApiKeyRateThrottle(BaseThrottle):
    """TRCKER_API_RATE per API key in a sliding window (core/rate_limits.py), counted in
    the shared cache (Redis in production) so the limit holds across processes, and in the
    same budget as the key's MCP calls."""

    def allow_request(self, request: Request, view: APIView) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return True
        # The body is parsed first, so a body refused as malformed or too deep raises its 400
        # here and is never charged (request.data caches the parse for the view).
        request.data  # noqa: B018 - evaluated for the parse
        usage = count_request(
            request,
            group="api",
            budget=CREDENTIAL_BUDGET,
            key=f"key:{key.pk}",
            rate=settings.TRCKER_API_RATE,
        )
        self._wait = None if usage is None else usage.reset_seconds
        return usage is None or not usage.limited

    def wait(self) -> float | None:
        return self._wait


class TenantApi(APIView):
    """Base of every brand-scoped REST view: ``self.actor`` is built from the credential, and
    rows are reached only through selectors (subclasses may not define querysets)."""

    throttle_classes: Sequence[type[BaseThrottle]] = [ApiKeyRateThrottle]
    actor: Actor

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for forbidden in ("get_queryset", "get_object", "queryset"):
            if forbidden in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__} defines {forbidden}; read through a selector instead."
                )

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        key = request.auth
        if not isinstance(key, ApiKey):  # the permission check has refused anything else
            raise exceptions.NotAuthenticated()
        self.actor = actor_for_api_key(key, channel=Channel.REST, request=request)


def paginated(serializer: type[serializers.Serializer], *, name: str) -> Any:
    """The OpenAPI shape of one keyset page of ``serializer`` rows (rest_api.operations)."""
    from drf_spectacular.utils import inline_serializer

    return inline_serializer(
        name=name,
        fields={
            "next": serializers.CharField(allow_null=True),
            "previous": serializers.CharField(allow_null=True),
            "results": serializer(many=True),
        },
    )


ERROR_RESPONSES = {
    "400": "Malformed request body (e.g. invalid JSON).",
    "401": "Missing, invalid or revoked API key.",
    "403": "The key is read-only (on a write).",
    "404": "No such object in your brand.",
    "409": "Conflict: a duplicate id, or a transition the object's state does not allow.",
    "422": "Invalid input; `fields` names each problem.",
    "429": "Rate limit exceeded; see Retry-After.",
}


def decimal_inputs_take_numbers(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: a decimal input (an amount, a rate) is documented
    as what DRF's DecimalField accepts, a decimal string or a JSON number, instead of a string
    only. The contract was wider than the document: schemathesis sent ``0`` to a body of one
    amount field, got 200, and called it a schema-violating request accepted."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if not name.endswith("Request"):
            continue  # answers carry decimal strings only
        properties = component.get("properties", {})
        for field, schema in list(properties.items()):
            if schema.get("type") == "string" and schema.get("format") == "decimal":
                description = schema.pop("description", None)
                widened: dict[str, Any] = {"oneOf": [schema, {"type": "number"}]}
                if description:
                    widened["description"] = description
                properties[field] = widened
    return result


def add_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: document the one error shape on every operation."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "description": "stable snake_case code"},
                    "message": {"type": "string"},
                    "fields": {
                        "type": "object",
                        "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    },
                },
            }
        },
    }
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_RESPONSES.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    },
                )
    return result


def api_not_found(request: Any, exception: Exception | None = None) -> Any:
    """404 for URLs that match no route: JSON under /api/, the HTML page elsewhere."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": {"code": "not_found", "message": "No such endpoint or object."}}, status=404
        )
    return page_not_found(request, exception)
