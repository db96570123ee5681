"""120 requests per minute per key, counted in Redis and shared by two real server processes."""

import time

import pytest
import requests

from tests.conftest import issue_key
from tests.factories import BrandFactory
from tests.live_server import app_env

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


@pytest.fixture
def two_servers(app_server):
    env = app_env(TRCKER_API_RATE="120/m", DB_POOL_MAX="2")
    return [app_server(env=env, workers=1).url("/api/mcp") for _ in range(2)]


def _post(session, url, key):
    return session.post(
        url,
        json=PING,
        headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
        timeout=10,
    )


def test_exactly_120_of_150_requests_pass_across_two_processes(two_servers):
    brand = BrandFactory(slug="ratelimited")
    key, other_key = issue_key(brand), issue_key(brand)
    session = requests.Session()
    first = _post(session, two_servers[0], "trk_" + "x" * 10)  # no key: 401, no counting
    assert first.status_code == 401
    # The window slides (core.rate_limits): no 60 s span holds more than 120 of the key's
    # calls, so 150 requests sent within one minute get exactly 120 admissions, whenever they
    # start (no waiting for a clock minute to begin).
    started = time.monotonic()
    codes = [_post(session, two_servers[i % 2], key) for i in range(150)]
    elapsed = time.monotonic() - started
    assert elapsed < 60, f"150 requests took {elapsed:.0f} s: more than the window"
    statuses = [response.status_code for response in codes]
    assert statuses.count(200) == 120
    assert statuses.count(429) == 30
    limited = next(response for response in codes if response.status_code == 429)
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["error"]["code"] == -31429
    assert "RateLimit" in limited.headers
    # both processes shared the counter
    assert {response.url for response in codes if response.status_code == 429} == set(two_servers)
    assert _post(session, two_servers[1], other_key).status_code == 200  # another key is unaffected
