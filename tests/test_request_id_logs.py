"""Every log line a request causes carries that request's id, the one its answer names in
X-Request-ID: the app's lines (``[req=…]``, settings.LOGGING), including the line Django
writes for a 4xx after every middleware has returned, and gunicorn's access line
(trcker_site/gunicorn_logging.py). Through a real gunicorn run as scripts/run-local.sh runs
it; HEAD requests among them, which must not make gunicorn warn about a body."""

from __future__ import annotations

import re
import uuid

import requests

from tests.conftest import issue_key
from tests.live_server import app_env, wait_for

LOGGER_ARGS = (
    *("--access-logfile", "-"),
    *("--logger-class", "trcker_site.gunicorn_logging.RedactingLogger"),
)
TAG = re.compile(r"\[req=([^\]]*)\]")


def test_app_and_access_lines_carry_the_answers_request_id(brand, app_server):
    key = issue_key(brand)
    server = app_server(env=app_env(LOG_LEVEL="INFO"), workers=1, threads=2, extra_args=LOGGER_ARGS)
    mcp_call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    bearer = {"Authorization": f"Bearer {key}"}
    # (method, path, headers, body, whether the app itself logs a line for it)
    calls = [
        ("GET", "/api/v1/offers/", {}, None, True),  # 401: Django's line after the middleware
        ("HEAD", "/api/v1/offers/", bearer, None, False),
        ("HEAD", "/api/health", {}, None, False),
        ("HEAD", "/", {}, None, False),
        ("HEAD", "/api/mcp", {}, None, True),  # 405
        ("POST", "/api/mcp", bearer, mcp_call, True),  # "mcp 200 in … ms", inside the view
        ("GET", "/c/no-such-brand/x/y", {}, None, True),  # 404
    ]
    sent: dict[str, tuple[str, str, bool]] = {}
    for number, (method, path, headers, body, app_logs) in enumerate(calls):
        # Half the callers name their own id, half get one made by the server.
        own = {"X-Request-ID": f"newcomer-{number}-{uuid.uuid4().hex[:8]}"} if number % 2 else {}
        response = requests.request(
            method, server.url(path), headers={**headers, **own}, json=body, timeout=10
        )
        request_id = response.headers["X-Request-ID"]
        if own:
            assert request_id == own["X-Request-ID"]
        sent[request_id] = (method, path, app_logs)

    def access_lines_written() -> bool:
        # gunicorn writes the access line once the answer is sent, after the app's lines.
        log = server.log_tail(100_000)
        return all(f'"{method} {path} HTTP/1.1"' in log for method, path, _ in sent.values())

    wait_for(access_lines_written, timeout=10, what="the access lines")
    lines = server.log_tail(100_000).splitlines()
    for request_id, (method, path, app_logs) in sent.items():
        access = [line for line in lines if f'"{method} {path} HTTP/1.1"' in line]
        assert len(access) == 1, (method, path, access)
        assert TAG.findall(access[0]) == [request_id]
        if app_logs:
            app_lines = [line for line in lines if TAG.findall(line) == [request_id]]
            assert set(app_lines) - set(access), f"no app line for {method} {path}"
    # Every other line about one of these paths carries the id of a request for that path:
    # never "-" (logged outside the request's context) nor another request's.
    for path in {path for _, path, *_ in calls if path != "/"}:
        ids = {request_id for request_id, sent_call in sent.items() if sent_call[1] == path}
        about = [line for line in lines if f" {path}" in line and 'HTTP/1.1"' not in line]
        assert all(set(TAG.findall(line)) <= ids and TAG.search(line) for line in about), about
    assert not [line for line in lines if "no-body response" in line]
