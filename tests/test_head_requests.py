"""A HEAD request gets the GET answer's status and headers and no body, on every kind of
route, so the WSGI server has nothing to drop (gunicorn logs "WSGI app sent body bytes on a
no-body response" for each HEAD answer with a body).

Django's test client removes HEAD bodies itself, which would hide exactly this; these tests
call the WSGI application as a server does. tests/test_request_id_logs.py sends HEAD requests
through a real gunicorn and reads its log."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import RequestFactory

from tests.conftest import issue_key
from tests.factories import OfferFactory, PartnerFactory


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body


@pytest.fixture
def wsgi() -> Iterator[WSGIHandler]:
    # As Django's test client does: a request must not close the test's database connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def call(app: WSGIHandler, method: str, path: str, **headers: str) -> Answer:
    environ = RequestFactory().generic(method, path, **headers).environ
    answer = Answer(0, {}, b"")

    def start_response(status: str, response_headers: list[tuple[str, str]], *_: object) -> None:
        answer.status = int(status.split()[0])
        answer.headers = dict(response_headers)

    result = app(environ, start_response)
    try:
        answer.body = b"".join(result)
    finally:
        result.close()
    return answer


@pytest.fixture
def world(brand):
    offer = OfferFactory(brand=brand, slug="spring-sale")
    PartnerFactory(brand=brand, slug="abc-123")
    return {"key": issue_key(brand), "brand": brand.slug, "offer": offer.slug}


# Routes that answer GET: HEAD gets the same status and headers, an empty body, no warning.
READABLE = [
    ("home", "/", {}),
    ("health", "/api/health", {}),
    ("discovery", "/api/mcp/server-card", {}),
    ("REST list", "/api/v1/offers/", {"key": True}),
    ("REST docs", "/api/docs", {}),
    ("click", "/c/{brand}/{offer}/abc-123", {}),
    ("partner page", "/p/{brand}/apply", {}),
    ("admin login", "/admin/login/", {}),
]


@pytest.mark.parametrize(("kind", "path", "options"), READABLE, ids=[r[0] for r in READABLE])
def test_head_answers_like_get_without_a_body(db, wsgi, world, caplog, kind, path, options):
    path = path.format(**world)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {world['key']}"} if options.get("key") else {}
    get = call(wsgi, "GET", path, **headers)
    assert get.status < 400, (kind, get.status)
    caplog.clear()
    caplog.set_level(logging.INFO)

    head = call(wsgi, "HEAD", path, **headers)

    assert (head.status, head.body) == (get.status, b"")
    if get.body and "Content-Length" in get.headers:
        # The length GET would send (RFC 9110 §8.6), not the empty body's 0; not compared
        # with GET's own, which may differ a little (the health answer carries timings).
        assert int(head.headers["Content-Length"]) > 0
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


# Routes where HEAD is refused (not a GET resource, no key, hostile input): the refusal has no
# body either, and the only line logged is Django's usual one for a 4xx, not a body warning.
REFUSED = [
    ("MCP endpoint", "/api/mcp", 405),
    ("REST without a key", "/api/v1/offers/", 401),
    ("postback (GET records a sale)", "/api/postback/{brand}/{offer}", 405),
    ("edge refusal", "/api/v1/offers/?q=%00", 400),
    ("unknown page", "/no-such-page", 404),
]


@pytest.mark.parametrize(("kind", "path", "status"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_refused_head_has_no_body_either(db, wsgi, world, caplog, kind, path, status):
    caplog.set_level(logging.INFO)

    head = call(wsgi, "HEAD", path.format(**world))

    assert (head.status, head.body) == (status, b"")
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.name for r in warnings] == ["django.request"]
    assert "body" not in warnings[0].getMessage().lower()
