"""120 requests per minute per key, counted in Redis and shared by two real server processes."""

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection

from tests.conftest import issue_key
from tests.factories import BrandFactory

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


@pytest.fixture
def two_servers():
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "rate-limit-test-" + uuid.uuid4().hex,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_KEY_PREFIX": "rltest-" + uuid.uuid4().hex[:8],
        "TRCKER_MCP_RATE": "120/m",
        "LOG_LEVEL": "WARNING",
        "DB_POOL_MAX": "2",
    }
    ports = [_free_port(), _free_port()]
    processes = [
        subprocess.Popen(  # noqa: S603 - our own server, fixed arguments
            [
                sys.executable,
                "-m",
                "gunicorn",
                "trcker_site.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        deadline = time.monotonic() + 60
        for port in ports:
            while True:
                try:
                    if (
                        requests.get(f"http://127.0.0.1:{port}/api/health", timeout=5).status_code
                        == 200
                    ):
                        break
                except requests.RequestException:  # refused, or a worker still booting
                    pass
                if time.monotonic() > deadline:
                    pytest.fail("test servers did not start")
                time.sleep(0.2)
        yield [f"http://127.0.0.1:{port}/api/mcp" for port in ports]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)


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
    # Counters use fixed one-minute windows: start right after a window opens so 150 quick
    # requests cannot straddle two windows.
    first = _post(session, two_servers[0], "trk_" + "x" * 10)  # no key: 401, no counting
    assert first.status_code == 401
    probe = _post(session, two_servers[0], other_key)
    reset = int(probe.headers["RateLimit"].split("reset=")[1])
    if reset < 20:
        time.sleep(reset + 1)
    codes = [_post(session, two_servers[i % 2], key) for i in range(150)]
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
