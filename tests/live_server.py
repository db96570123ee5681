"""Real processes for the tests that need them: gunicorn serving the app, worker processes
(``manage.py run_workers`` and other commands) and a private redis-server, all on loopback, all
stopped by the test that started them.

A test that needs a live server asks for the ``app_server`` fixture (tests/conftest.py), which
calls ``gunicorn()`` here: one way to start the server, one health wait, one teardown. The server
runs the production settings (DEBUG off) on the test database with the test process's
SECRET_KEY; a test changes a setting through the environment the settings are read from,
``app_env(NAME="value")``, never with a copy of this code.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest
import redis
import requests
from django.conf import settings
from django.db import connection

from core import secrets_crypto

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 60  # seconds: gunicorn on a shared 2-CPU machine, imports included


def free_port() -> int:
    """A loopback port nothing listens on at the time of asking."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """The test database (pytest-django's ``test_…`` one) as a DATABASE_URL, so a server
    process sees what the test wrote. An SQLite test database is private to this process."""
    if connection.vendor != "postgresql":
        pytest.skip("a server process shares the test database: needs PostgreSQL")
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


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
    """The environment of a production-like process on the test database, plus
    ``overrides`` (settings.py reads everything from the environment)."""
    env = {
        **os.environ,
        "DEBUG": "0",
        # The test process's own: keys derived from it (audit hashes, encrypted secrets)
        # must match between the test and the server it starts.
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "REDIS_URL": settings.REDIS_URL,
        # Cache entries of different servers (and of this process) must not meet.
        "CACHE_KEY_PREFIX": f"live-{uuid.uuid4().hex[:8]}",
        "LOG_LEVEL": "WARNING",
        # Should the test process's key differ from a derived one, hand over the key postback
        # secrets were encrypted with here, or the server could not read them.
        "TRCKER_SECRETS_KEY": secrets_crypto.effective_keys(),
        **overrides,
    }
    if "DATABASE_URL" not in overrides:
        env["DATABASE_URL"] = database_url()
    return env


@dataclass
class Server:
    """A running gunicorn (its own process group) and the workers started with it."""

    base: str
    env: dict[str, str]
    process: subprocess.Popen
    log: IO[str]
    workers: list[subprocess.Popen] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path

    def log_tail(self, chars: int = 3000) -> str:
        """The end of what gunicorn and the app wrote (stdout and stderr)."""
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-chars:]

    def kill(self) -> None:
        """SIGKILL the master and its workers at once: nothing runs a handler."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """The workers, then the server (SIGTERM, SIGKILL after 20 s); again is harmless."""
        for worker in self.workers:
            stop(worker)
        if self.process.poll() is None:
            group = os.getpgid(self.process.pid)
            os.killpg(group, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(group, signal.SIGKILL)
        self.process.wait(timeout=10)


@contextmanager
def gunicorn(
    env: dict[str, str] | None = None,
    *,
    workers: int = 2,
    threads: int = 2,
    extra_args: tuple[str, ...] = (),
    with_worker: bool = False,
    healthy: bool = True,
) -> Iterator[Server]:
    """gunicorn serving the app with ``env`` (default ``app_env()``), shaped like production
    (docs/operations.md) unless told otherwise; with ``with_worker``, one ``run_workers``
    process on the same environment. Yields once /api/health answers 200 (with ``healthy``
    False, once it answers at all: a test of a server whose database is down)."""
    env = app_env() if env is None else env
    port = free_port()
    with tempfile.TemporaryFile(mode="w+", prefix="trcker-gunicorn-") as log:
        process = subprocess.Popen(  # noqa: S603 - our own server, fixed arguments
            [
                *(sys.executable, "-m", "gunicorn", "trcker_site.wsgi:application"),
                *("--bind", f"127.0.0.1:{port}", "--workers", str(workers)),
                *("--threads", str(threads), "--log-level", "warning"),
                *extra_args,  # e.g. the access log and logger class a test inspects
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own process group, for kill() and stop()
        )
        server = Server(f"http://127.0.0.1:{port}", env, process, log)
        try:
            _wait_for_health(server, healthy=healthy)
            if with_worker:
                server.workers.append(start_worker(env, f"worker-{port}"))
            yield server
        finally:
            server.stop()


def _wait_for_health(server: Server, *, healthy: bool) -> None:
    last = "no answer"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"gunicorn exited at start:\n{server.log_tail()}")
        try:
            # A worker still booting leaves the request queued (read timeout), not refused.
            response = requests.get(server.url("/api/health"), timeout=5)
        except requests.RequestException as exc:
            last = type(exc).__name__
        else:
            if response.status_code == 200 or not healthy:
                return
            last = f"{response.status_code} {response.text[:500]}"
            if response.status_code != 503:  # not a dependency still starting: it won't pass
                break
        time.sleep(0.1)
    pytest.fail(
        f"gunicorn: /api/health did not answer {'200' if healthy else 'at all'} "
        f"(last: {last}):\n{server.log_tail()}"
    )


def start_command(env: dict[str, str], *args: str) -> subprocess.Popen:
    """``manage.py <args>`` running in the background on ``env`` (the caller stops it)."""
    return subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run_command(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    """``manage.py <args>`` to completion on ``env``; its standard output (fails the test
    on a non-zero exit, with its standard error)."""
    done = subprocess.run(  # noqa: S603 - our own command, fixed arguments
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"manage.py {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return done.stdout


def start_worker(env: dict[str, str], name: str, *args: str) -> subprocess.Popen:
    return start_command(env, "run_workers", "--name", name, *args)


class PrivateRedis:
    """A redis-server of the test's own on a free loopback port, configured as the queue's
    Redis must be (AOF on, every write fsynced, noeviction), restartable on the same data."""

    def __init__(self, workdir: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
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
