"""Real processes for the reliability tests: gunicorn serving the app, worker processes
(``manage.py run_workers``) and a private redis-server, all on loopback, all stopped by the
test that started them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests
from django.conf import settings

from core import secrets_crypto
from tests.mcp_gateway.test_rate_limit_processes import _database_url, _free_port

ROOT = Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], object], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait(timeout=10)


def app_env(**overrides: str) -> dict[str, str]:
    """The environment of a production-like process on the test database."""
    return {
        **os.environ,
        "DEBUG": "0",
        # The test process's own: keys derived from it (audit hashes, encrypted secrets)
        # must match between the test and the server it starts.
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": _database_url(),
        "CACHE_KEY_PREFIX": f"rel-{uuid.uuid4().hex[:8]}",
        "LOG_LEVEL": "WARNING",
        # Its SECRET_KEY differs from this process's: hand over the key postback secrets were
        # encrypted with here, or the server could not read them.
        "TRCKER_SECRETS_KEY": secrets_crypto.effective_keys(),
        **overrides,
    }


@dataclass
class Server:
    process: subprocess.Popen
    base: str

    def kill(self) -> None:
        """SIGKILL the master and its workers at once: nothing runs a handler."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@contextmanager
def gunicorn(
    env: dict[str, str], *, workers: int = 2, threads: int = 2, extra_args: tuple[str, ...] = ()
) -> Iterator[Server]:
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - our own server, fixed arguments
        [
            *(sys.executable, "-m", "gunicorn", "trcker_site.wsgi:application"),
            *("--bind", f"127.0.0.1:{port}", "--workers", str(workers)),
            *("--threads", str(threads), "--log-level", "critical"),
            *extra_args,  # e.g. the access log and logger class a test inspects
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, for kill()
    )
    server = Server(process, f"http://127.0.0.1:{port}")

    def up() -> bool:
        if process.poll() is not None:
            pytest.fail("gunicorn exited at start")
        try:
            return requests.get(f"{server.base}/api/health", timeout=5).status_code in (200, 503)
        except requests.RequestException:
            return False

    try:
        wait_for(up, timeout=60, what="gunicorn")
        yield server
    finally:
        if process.poll() is None:
            with_group = os.getpgid(process.pid)
            os.killpg(with_group, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(with_group, signal.SIGKILL)
                process.wait(timeout=10)


def start_worker(env: dict[str, str], name: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
        [sys.executable, "manage.py", "run_workers", "--name", name, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run_worker_once(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", "run_workers", "--once", "--name", "once"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


class PrivateRedis:
    """A redis-server of the test's own on a free loopback port, configured as the queue's
    Redis must be (AOF on, every write fsynced, noeviction), restartable on the same data."""

    def __init__(self, workdir: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.workdir = workdir
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
            [
                *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "yes", "--appendfsync", "always"),
                *("--maxmemory-policy", "noeviction", "--dir", self.workdir),
            ],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        probe = redis.Redis.from_url(self.url, socket_timeout=1)

        def up() -> bool:
            if self.process is not None and self.process.poll() is not None:
                pytest.fail("private redis-server exited at start")
            try:
                return bool(probe.ping())
            except redis.ConnectionError:
                return False
            except redis.BusyLoadingError:
                return False

        wait_for(up, timeout=15, what="the private redis-server")
        probe.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown save; what survives is what the AOF already holds."""
        if self.process is not None:
            stop(self.process, signal.SIGKILL)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5)


@contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    with tempfile.TemporaryDirectory(prefix="trcker-redis-") as workdir:
        server = PrivateRedis(workdir)
        server.start()
        try:
            yield server
        finally:
            server.kill()
