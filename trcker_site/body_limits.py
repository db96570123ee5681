"""Limits on request bodies, in one place rather than per view.

Size: bodies over DATA_UPLOAD_MAX_MEMORY_SIZE on API paths (/api/…) answer 413 in the
endpoint's own error shape (ApiBodyLimitMiddleware). Depth: REST bodies are parsed by
BoundedJSONParser (core/json_limits.py), so deep nesting is a 400, not a 500.

Without this, Django raises RequestDataTooBig when a view reads ``request.body`` and answers
its HTML 400 page, and DRF's parser reads the stream directly, which skips the limit
altogether. The declared Content-Length is checked before anything reads the body, so an
oversize request costs one comparison; RequestDataTooBig from a body read later (a limit
lowered at run time, or a view that reads more than its header declared) is caught too.
A request without Content-Length (chunked) reads as empty in Django's WSGI handler, so it
cannot bring a larger body in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions
from rest_framework.parsers import JSONParser, get_encoding  # type: ignore[attr-defined]  # DRF 3.16+, not in its stubs yet
from rest_framework.utils.json import strict_constant

from core.json_limits import JsonTooDeep, loads_bounded
from mcp_gateway.jsonrpc import INVALID_REQUEST
from mcp_gateway.transport import error_reply

MCP_PATH = "/api/mcp"


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0  # what Django's WSGIRequest reads for a malformed header


def body_too_large(request: HttpRequest) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    message = f"Request body too large: at most {limit} bytes."
    if request.path == MCP_PATH:
        reply = error_reply(413, INVALID_REQUEST, message)
        response: HttpResponse = JsonResponse(reply.payload, status=413)
        response["Cache-Control"] = "no-store"
    else:
        response = JsonResponse(
            {"error": {"code": "body_too_large", "message": message}}, status=413
        )
    return response


class ApiBodyLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if (
            limit is not None
            and request.path.startswith("/api/")
            and _declared_length(request) > limit
        ):
            return body_too_large(request)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RequestDataTooBig) and request.path.startswith("/api/"):
            return body_too_large(request)
        return None


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with the nesting bound of core/json_limits.py: a deeply nested
    body is a 400, never the RecursionError (500) of json.loads."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = get_encoding(parser_context or {})
        raw = stream.read() if stream is not None else b""
        try:
            return loads_bounded(
                raw.decode(encoding), parse_constant=strict_constant if self.strict else None
            )
        except JsonTooDeep as exc:
            raise exceptions.ParseError(str(exc), code="json_too_deep") from None
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
