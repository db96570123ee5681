"""With the database unreachable, a real server process answers postbacks 503 with
Retry-After (never a 2xx for something not recorded) and health says so."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_postbacks_get_503_with_retry_after_when_the_database_is_down():
    closed = _free_port()  # nothing listens here: a database that is down
    port = _free_port()
    env = {
        **os.environ,
        "DEBUG": "0",
        # The test process's own: keys derived from it (audit hashes, encrypted secrets)
        # must match between the test and the server it starts.
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{closed}/trcker",
        "REDIS_URL": "",
        "LOG_LEVEL": "CRITICAL",
        "DB_TIMEOUT": "2",
    }
    server = subprocess.Popen(  # noqa: S603 - our own server, fixed arguments
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
            "critical",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = requests.get(f"{base}/api/health", timeout=15)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert health.status_code == 503
        assert health.json()["checks"]["database"]["ok"] is False
        response = requests.get(
            f"{base}/api/postback/demo/spring-sale?click_id=clk_aaaaaaaaaaaaaaaaaaaaaa&txn_id=T1&amount=5",
            timeout=30,
        )
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "30"
        assert response.json()["error"]["code"] == "service_unavailable"
        posted = requests.post(
            f"{base}/api/postback/demo/spring-sale",
            json={"txn_id": "T2", "coupon": "X"},
            timeout=30,
        )
        assert posted.status_code == 503
    finally:
        server.terminate()
        server.wait(timeout=20)
