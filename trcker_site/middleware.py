"""Request id and client IP, available to logs and to the audit actor; HEAD answers without
a body."""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from core.client_ip import client_ip

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# An incoming X-Request-ID is kept only if it looks like an id, so logs cannot be forged
# with newlines or giant values.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


class RequestContextMiddleware:
    """Gives the request its id (the caller's X-Request-ID when it looks like one) for every
    log line it causes, and answers with it in X-Request-ID.

    The id stays set until the response is closed (``request_finished``), not only while
    the middleware chain runs: Django logs a 4xx/5xx answer ("Not Found: /x") after every
    middleware has returned, and the WSGI server writes the body after that; both belong to
    this request. The next request in the thread sets its own id either way."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        # Our own attributes on Django's request, read back with getattr by logs and actors.
        request.request_id = request_id  # type: ignore[attr-defined]  # see above
        request.client_ip = client_ip(request)  # type: ignore[attr-defined]  # see above
        request_id_var.set(request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


def _forget_request_id(**_: Any) -> None:
    request_id_var.set("-")


request_finished.connect(_forget_request_id, dispatch_uid="trcker-forget-request-id")


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class HeadWithoutBodyMiddleware:
    """A HEAD answer carries the headers of the GET answer (Content-Length included) and no
    body. Views answer HEAD as GET, and Django leaves dropping the body to the WSGI server;
    gunicorn then drops it with a warning per request ("WSGI app sent body bytes on a
    no-body response"), which is noise for a probe as ordinary as ``curl -I``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.method != "HEAD":
            return response
        if isinstance(response, StreamingHttpResponse):
            # What it would stream stays unread; its closers (a file) still run on close().
            response.streaming_content = iter(())
        elif response.content:
            if not response.has_header("Content-Length"):
                response["Content-Length"] = str(len(response.content))
            response.content = b""
        return response
