"""PostgreSQL unreachable under click traffic, against the real server: clicks on uncapped
offers keep redirecting and are kept in Redis, capped offers go to their fallback, postbacks
get 503 with Retry-After; once the database is back the worker writes every spooled click
exactly once (a second drain writes nothing) and rollups match the raw rows.

The outage is a TCP proxy between gunicorn and PostgreSQL that the test closes and reopens:
the shared PostgreSQL itself is never stopped."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
import zoneinfo
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
import requests
from django.conf import settings
from django.db import connection

from conversions import click_spool
from conversions.models import Click
from tests.conversions.helpers import CHROME
from tests.conversions.test_rollups import raw_table, rollup_table
from tests.factories import BrandFactory, OfferFactory, PartnerFactory
from tests.mcp_gateway.test_rate_limit_processes import _free_port

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to PostgreSQL; ``cut()`` drops every connection and refuses
    new ones (a database that went away), ``restore()`` listens again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = _free_port()
        self._pairs: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            for sock in self._pairs:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
            self._pairs.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by cut()
            if self._listener is not listener:
                client.close()
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.close()


@pytest.fixture
def world(transactional_db):
    brand = BrandFactory(slug="outage")
    OfferFactory(brand=brand, slug="open", destination_url="https://shop.example.com/?c={CLICK_ID}")
    OfferFactory(
        brand=brand,
        slug="capped",
        daily_cap=1000,
        fallback_url="https://shop.example.com/sold-out",
    )
    PartnerFactory(brand=brand, slug="steady")
    return brand


@pytest.fixture(params=["written-in-request", "write-behind"])
def server(world, request):
    db = connection.settings_dict
    proxy = CuttableProxy((db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432)))
    prefix = f"outage-{uuid.uuid4().hex[:8]}"
    user = db.get("USER") or "postgres"
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "outage-test-" + uuid.uuid4().hex,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": f"postgres://{user}@127.0.0.1:{proxy.port}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_KEY_PREFIX": prefix,
        "DB_TIMEOUT": "1",
        "TRCKER_CONFIG_CACHE_SECONDS": "600",
        "LOG_LEVEL": "CRITICAL",
        # Clicks written during the request (spooled only when that fails), or always
        # through the spool with the server's own drainer writing them.
        "TRCKER_CLICK_WRITE_BEHIND": "1" if request.param == "write-behind" else "0",
    }
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - our own server, fixed arguments
        [
            *(sys.executable, "-m", "gunicorn", "trcker_site.wsgi:application"),
            *("--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4"),
            *("--log-level", "critical"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/api/health", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.3)
        yield base, proxy, env
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        proxy.cut()


def _click(base: str, offer: str) -> requests.Response:
    return requests.get(
        f"{base}/c/outage/{offer}/steady",
        headers={"User-Agent": CHROME},
        allow_redirects=False,
        timeout=30,
    )


def _click_id(response: requests.Response) -> str:
    return parse_qs(urlsplit(response.headers["Location"]).query)["c"][0]


def _drain(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", "deliver_postbacks", "--once"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_clicks_survive_a_database_outage_exactly_once(server, world):
    base, proxy, env = server
    # Before: the worker caches both offers' config (one worker process serves everything).
    before = [_click(base, "open") for _ in range(3)] + [_click(base, "capped")]
    assert [r.status_code for r in before] == [302] * 4

    proxy.cut()
    during = [_click(base, "open") for _ in range(15)]
    capped = _click(base, "capped")
    postback = requests.get(
        f"{base}/api/postback/outage/open",
        params={"click_id": _click_id(during[0]), "txn_id": "T-1", "amount": "10.00"},
        timeout=30,
    )

    assert [r.status_code for r in during] == [302] * 15
    spooled_ids = [_click_id(r) for r in during]
    assert len(set(spooled_ids)) == 15
    assert not Click.objects.filter(pk__in=spooled_ids).exists()  # not written yet
    assert capped.status_code == 302
    assert capped.headers["Location"] == "https://shop.example.com/sold-out"
    assert postback.status_code == 503 and int(postback.headers["Retry-After"]) > 0
    assert not Click.objects.filter(pk__in=spooled_ids).exists()  # not written yet

    proxy.restore()
    stored = Click.objects.filter(brand=world)
    if env["TRCKER_CLICK_WRITE_BEHIND"] == "1":
        # The server's drainer writes them once the database answers (the worker may too:
        # one drainer at a time, and ids already stored are skipped).
        deadline = time.monotonic() + 30
        while stored.count() < 4 + 16 and time.monotonic() < deadline:
            time.sleep(0.1)
    else:
        first = _drain(env)
        assert "wrote 16 spooled clicks" in first  # 15 redirected + the capped one, refused
    second = _drain(env)
    assert "spooled" not in second  # nothing left, nothing written twice
    assert stored.count() == 4 + 16
    assert set(spooled_ids) <= set(stored.values_list("pk", flat=True))
    assert (
        stored.filter(offer__slug="capped", outcome="cap_reached", is_billable=False).count() == 1
    )
    tz = zoneinfo.ZoneInfo(world.timezone)
    assert rollup_table(world, tz) == raw_table(world, tz)
    spool = f"{env['CACHE_KEY_PREFIX']}:1:{click_spool.SPOOL_KEY}"
    assert redis.Redis.from_url(settings.REDIS_URL).llen(spool) == 0
