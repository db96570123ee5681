"""Fault injection with real parts: a Redis that dies under the app, and a postback worker
SIGKILLed in the middle of a batch."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import redis
from django.conf import settings
from werkzeug import Request, Response

from conversions.models import DeliveryStatus, PostbackDelivery
from tests.conftest import client_with_key, issue_key
from tests.conversions.factories_flow import accepted_click, record
from tests.factories import BrandFactory, OfferFactory, PartnerFactory
from tests.mcp_gateway.helpers import Mcp
from tests.mcp_gateway.test_rate_limit_processes import _database_url, _free_port

ROOT = Path(__file__).resolve().parents[2]


def _wait_for(condition, *, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)


# --- 1. Redis stops under a running app ----------------------------------------------------


@pytest.fixture
def private_redis():
    """A throwaway redis-server on a free loopback port (never the shared one on 6379)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="trcker-redis-") as workdir:
        process = subprocess.Popen(  # noqa: S603 - fixed arguments
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                workdir,
            ],
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            probe = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)

            def up() -> bool:
                if process.poll() is not None:
                    pytest.fail("private redis-server exited at start")
                try:
                    return bool(probe.ping())
                except redis.ConnectionError:
                    return False

            _wait_for(up, timeout=10, what="the private redis-server")
            probe.close()
            yield process, f"redis://127.0.0.1:{port}/0"
        finally:
            _stop(process)


def test_rest_and_mcp_keep_serving_when_redis_dies(private_redis, settings, db, caplog):
    """docs/api.md: "If Redis is unreachable the API keeps serving (logged as a warning)";
    the REST throttle and the MCP limiter both fail open, so neither answers 5xx or 429."""
    process, url = private_redis
    # The same backend and timeouts as settings.py builds from REDIS_URL.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "faulttest-" + uuid.uuid4().hex[:8],
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    settings.TRCKER_API_RATE = "1000/m"
    settings.TRCKER_MCP_RATE = "1000/m"
    brand = BrandFactory(slug="faulty")
    OfferFactory(brand=brand, slug="kept")
    key = issue_key(brand)
    rest = client_with_key(key)
    mcp = Mcp(key)

    def exercise() -> None:
        response = rest.get("/api/v1/offers/")
        assert response.status_code == 200, response.content
        assert [row["offer_id"] for row in response.json()["results"]] == ["kept"]
        result = mcp.call("list_offers", {})
        assert result["isError"] is False, result
        assert "kept" in str(result["structuredContent"])

    exercise()
    # The counters really were in the private Redis while it was up.
    assert redis.Redis.from_url(url).keys("*"), "rate-limit counters never reached Redis"

    process.kill()
    process.wait(timeout=10)

    caplog.clear()
    started = time.monotonic()
    for _ in range(3):
        exercise()
    elapsed = time.monotonic() - started
    # Served through the documented fallback: each limiter logged that it let the call through.
    messages = [record.getMessage() for record in caplog.records]
    assert messages.count("rate-limit store unavailable; allowing api request") == 3, messages
    assert messages.count("rate-limit store unavailable; allowing mcp request") == 3, messages
    # A dead Redis refuses connections at once; it must not cost a socket timeout per call.
    assert elapsed < 3, f"6 requests took {elapsed:.1f} s with Redis down"


# --- 2. The postback worker is SIGKILLed mid-batch ---------------------------------------

DELIVERIES = 30


def _worker(*args: str) -> list[str]:
    return [sys.executable, "manage.py", "deliver_postbacks", *args]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_killed_worker_loses_nothing_and_resends_at_most_the_one_in_flight(
    httpserver, allow_private_outbound
):
    brand = BrandFactory(slug="killed")
    offer = OfferFactory(
        brand=brand, postback_url_template=httpserver.url_for("/pb") + "?conv={CONVERSION_ID}"
    )
    partner = PartnerFactory(brand=brand)
    conversions = [
        record(brand, offer, click=accepted_click(brand, offer, partner), txn_id=f"K-{i}")
        for i in range(DELIVERIES)
    ]
    expected = {str(conversion.pk) for conversion in conversions}
    assert PostbackDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == DELIVERIES

    def slow_advertiser(request: Request) -> Response:
        time.sleep(0.1)
        return Response("ok")

    httpserver.expect_request("/pb").respond_with_handler(slow_advertiser)

    def sent() -> list[str]:
        return [parse_qs(request.query_string.decode())["conv"][0] for request, _ in httpserver.log]

    env = {
        **os.environ,
        "DEBUG": "0",
        # The test process's own: keys derived from it (audit hashes, encrypted secrets)
        # must match between the test and the server it starts.
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": "",
        "TRCKER_OUTBOUND_ALLOW_PRIVATE": "1",
        "LOG_LEVEL": "WARNING",
        "DB_POOL_MAX": "2",
    }
    first = subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
        _worker("--interval", "0.1"),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(lambda: len(httpserver.log) >= 5, timeout=20, what="the first deliveries")
        first.kill()  # SIGKILL: no handler, no cleanup, mid-batch
        first.wait(timeout=10)
    finally:
        _stop(first)
    time.sleep(0.3)  # let a request the dead worker had in flight finish on the server side
    before_restart = sent()
    assert 5 <= len(before_restart) < DELIVERIES
    assert PostbackDelivery.objects.filter(status=DeliveryStatus.DELIVERED).count() < DELIVERIES

    second = subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
        _worker("--once"),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = second.communicate(timeout=25)
    finally:
        _stop(second)
    assert second.returncode == 0, err

    counts = Counter(sent())
    # Nothing is lost: every delivery reached the advertiser.
    assert set(counts) == expected
    # docs/tracking.md promises at-least-once, not exactly-once: "A worker killed after sending
    # but before recording leaves the row due: delivery is at-least-once, receivers dedup on
    # {CONVERSION_ID}". One worker holds one row at a time, so at most the single request in
    # flight at the SIGKILL is sent twice; everything else exactly once.
    duplicated = {conv: n for conv, n in counts.items() if n > 1}
    assert len(duplicated) <= 1 and all(n == 2 for n in duplicated.values()), duplicated
    # ...and a resend carries the same Idempotency-Key as the first send, so a receiver that
    # honours the header sees every delivery exactly once.
    keys_by_conversion: dict[str, set[str]] = {}
    for request, _ in httpserver.log:
        conv = parse_qs(request.query_string.decode())["conv"][0]
        keys_by_conversion.setdefault(conv, set()).add(request.headers["Idempotency-Key"])
    assert all(len(keys) == 1 for keys in keys_by_conversion.values())
    assert len({key for keys in keys_by_conversion.values() for key in keys}) == DELIVERIES
    assert sum(counts.values()) == DELIVERIES + len(duplicated)
    # The restarted worker re-sent only what the first had not recorded.
    resent = DELIVERIES - len(set(before_restart)) + len(duplicated)
    assert f"deliveries attempted: {resent}" in out

    rows = list(PostbackDelivery.objects.filter(brand=brand).values("status", "attempts"))
    assert len(rows) == DELIVERIES
    assert {row["status"] for row in rows} == {DeliveryStatus.DELIVERED}
    # The killed attempt was rolled back with its row lock: no row counts it.
    assert {row["attempts"] for row in rows} == {1}
