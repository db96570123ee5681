"""Fault injection with real parts: a Redis that dies under the app, and a postback worker
SIGKILLed in the middle of a batch."""

from __future__ import annotations

import signal
import time
import uuid
from collections import Counter
from urllib.parse import parse_qs

import pytest
import redis
from werkzeug import Request, Response

from conversions.models import DeliveryStatus, PostbackDelivery
from tests.conftest import client_with_key, issue_key
from tests.conversions.factories_flow import accepted_click, record
from tests.factories import BrandFactory, OfferFactory, PartnerFactory
from tests.live_server import app_env, private_redis, run_command, start_command, stop, wait_for
from tests.mcp_gateway.helpers import Mcp

# --- 1. Redis stops under a running app ----------------------------------------------------


@pytest.fixture
def throwaway_redis():
    """A redis-server of the test's own (never the shared one, which the test kills)."""
    with private_redis() as server:
        yield server


def test_rest_and_mcp_keep_serving_when_redis_dies(throwaway_redis, settings, db, caplog):
    """docs/api.md: "If Redis is unreachable the API keeps serving (logged as a warning)";
    the REST throttle and the MCP limiter both fail open, so neither answers 5xx or 429."""
    url = throwaway_redis.url
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

    throwaway_redis.kill()

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

    env = app_env(REDIS_URL="", TRCKER_OUTBOUND_ALLOW_PRIVATE="1", DB_POOL_MAX="2")
    first = start_command(env, "deliver_postbacks", "--interval", "0.1")
    try:
        wait_for(lambda: len(httpserver.log) >= 5, timeout=20, what="the first deliveries")
    finally:
        stop(first, signal.SIGKILL)  # no handler, no cleanup, mid-batch
    time.sleep(0.3)  # let a request the dead worker had in flight finish on the server side
    before_restart = sent()
    assert 5 <= len(before_restart) < DELIVERIES
    assert PostbackDelivery.objects.filter(status=DeliveryStatus.DELIVERED).count() < DELIVERIES

    out = run_command(env, "deliver_postbacks", "--once", timeout=25)

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


# --- 3. The same, for webhooks to the brand: exactly once for a receiver that dedups ---------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_killed_worker_delivers_each_webhook_exactly_once_to_a_deduplicating_receiver(
    httpserver, allow_private_outbound
):
    """docs/webhooks.md: every attempt of a delivery carries the same webhook-id; a receiver
    that verifies the signature and processes each webhook-id once sees every event exactly
    once, even when the worker is SIGKILLed between sending and recording."""
    from standardwebhooks import Webhook

    from brands.webhooks import signing_secret_rotate, webhook_create
    from tests.conftest import make_actor

    brand = BrandFactory(slug="killed-hooks")
    actor = make_actor(brand)
    _, secret = signing_secret_rotate(actor=actor)
    webhook_create(actor=actor, url=httpserver.url_for("/hooks"), events=["conversion.created"])
    offer, partner = OfferFactory(brand=brand), PartnerFactory(brand=brand)
    conversions = [
        record(brand, offer, click=accepted_click(brand, offer, partner), txn_id=f"W-{i}")
        for i in range(DELIVERIES)
    ]
    expected = {conversion.pk for conversion in conversions}
    assert PostbackDelivery.objects.filter(brand=brand, kind="webhook").count() == DELIVERIES

    processed: dict[str, str] = {}  # webhook-id -> conversion id: the receiver's dedup store
    received: list[str] = []

    def deduplicating_receiver(request: Request) -> Response:
        payload = Webhook(secret).verify(request.get_data(), dict(request.headers))
        received.append(request.headers["webhook-id"])
        processed.setdefault(request.headers["webhook-id"], payload["data"]["conversion_id"])
        time.sleep(0.1)
        return Response("ok")

    httpserver.expect_request("/hooks", method="POST").respond_with_handler(deduplicating_receiver)
    env = app_env(REDIS_URL="", TRCKER_OUTBOUND_ALLOW_PRIVATE="1", DB_POOL_MAX="2")
    first = start_command(env, "deliver_postbacks", "--interval", "0.1")
    try:
        wait_for(lambda: len(received) >= 5, timeout=20, what="the first webhooks")
    finally:
        stop(first, signal.SIGKILL)  # mid-batch
    time.sleep(0.3)
    assert 5 <= len(received) < DELIVERIES
    run_command(env, "deliver_postbacks", "--once", timeout=25)

    # Exactly once for the receiver: every event processed, none twice.
    assert sorted(processed.values()) == sorted(expected)
    # On the wire, at most the one request in flight at the SIGKILL came twice, same id.
    resends = Counter(received)
    assert sum(resends.values()) - len(resends) <= 1, resends
    rows = PostbackDelivery.objects.filter(brand=brand, kind="webhook")
    assert {row.status for row in rows} == {DeliveryStatus.DELIVERED}
    assert {f"trk-wh-{row.pk}" for row in rows} == set(processed)
