"""Hostile characters refused once, at the edge, before any view sees the request.

PostgreSQL refuses a NUL in a query parameter, so a NUL that reaches a lookup (a slug or an
id from the URL, a filter from the query string, an admin search) is a DataError and a 500;
patching each view would leave the next view open. This middleware answers 400 instead when

- the path (percent-decoded, ``request.path``) holds a C0 control or DEL, or its bytes are
  not UTF-8 (Django re-percent-encodes them into a path that names nothing but still reaches
  the view);
- a query string name or value holds a C0 control other than tab, line feed and carriage
  return (a textarea submitted by GET carries those; none of them troubles the database), or
  its percent-decoded bytes are not UTF-8 (Django would read them as U+FFFD, silently);
- a header value holds a C0 control other than tab (HTTP forbids them; a server in front
  normally refuses them first, but nothing here should rely on which server runs it).

The click redirect (/c/…) and the inbound postback are left alone: they clean sub ids, user
agents and referrers themselves (core/edge_text.py) and must still redirect a visitor
or record a sale whose tracking parameters carry junk (issue 11); a path slug that is not a
slug is their "unknown link" / unknown_offer 404 without a query (is_slug), which their
callers already handle.

The answer is in the endpoint's own error shape: a JSON-RPC error on /api/mcp, the REST error
JSON elsewhere under /api/, Django's plain 400 page everywhere else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import bad_request

from mcp_gateway.jsonrpc import INVALID_REQUEST
from mcp_gateway.transport import error_reply

CODE = "invalid_characters"
_PATH_UNSAFE = re.compile("[\x00-\x1f\x7f]")
_QUERY_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HEADER_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
_REPERCENTED_BYTE = re.compile("%[89A-F][0-9A-F]")
# Endpoints that guard their own input (edge_text.py) rather than have it refused here.
_CLEANED_BY_VIEW = ("/c/", "/api/postback/")


def _path_was_utf8(path: str) -> bool:
    # WSGIRequest overwrites environ["PATH_INFO"] with the decoded path, so the raw bytes are
    # gone by the time a middleware runs; what remains is Django's repair: each byte of an
    # invalid UTF-8 sequence re-percent-encoded, in upper case, and always >= %80. A path that
    # legitimately decodes to such text (a "%25FF" on the wire) is refused too; no route of
    # this site takes a "%" in a path.
    return _REPERCENTED_BYTE.search(path) is None


def _query_problem(query_string: str) -> str | None:
    # QUERY_STRING is still percent-encoded; under WSGI its raw bytes are read as latin-1.
    raw = query_string.encode("latin-1", "replace")
    for piece in raw.split(b"&"):
        try:
            text = unquote_to_bytes(piece.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            return "The query string is not valid UTF-8."
        if _QUERY_UNSAFE.search(text):
            return "The query string contains control characters (e.g. NUL)."
    return None


def refusal(request: HttpRequest) -> str | None:
    """Why ``request`` is refused at the edge, or None when it may go on."""
    if request.path.startswith(_CLEANED_BY_VIEW):
        return None
    if _PATH_UNSAFE.search(request.path) or not _path_was_utf8(request.path):
        return "The URL path contains control characters (e.g. NUL) or invalid UTF-8."
    problem = _query_problem(request.META.get("QUERY_STRING", ""))
    if problem:
        return problem
    for name, value in request.META.items():
        if (
            (name.startswith("HTTP_") or name in ("CONTENT_TYPE", "CONTENT_LENGTH"))
            and isinstance(value, str)
            and _HEADER_UNSAFE.search(value)
        ):
            return "A header value contains control characters."
    return None


def refuse(request: HttpRequest, message: str) -> HttpResponse:
    path = request.path
    if path.startswith("/api/mcp") and not path.startswith("/api/mcp/"):
        reply = error_reply(400, INVALID_REQUEST, f"Invalid Request: {message}")
        response: HttpResponse = JsonResponse(reply.payload, status=400)
        response["Cache-Control"] = "no-store"
        return response
    if path.startswith("/api/"):
        return JsonResponse({"error": {"code": CODE, "message": message}}, status=400)
    # Django's own page (templates/400.html if a project adds one); nothing of the request
    # is echoed back (the view does not render the exception either).
    return bad_request(request, BadRequest(message))


class EdgeCharactersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        message = refusal(request)
        if message is not None:
            return refuse(request, message)
        return self.get_response(request)
