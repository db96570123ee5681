"""PostgreSQL unreachable under click traffic for twice the config cache lifetime, against
the real server and a real worker process: clicks on uncapped offers keep redirecting (served
from the stale config cache, queued in Redis), capped offers go to their fallback, an unknown
offer gets a 503 page, postbacks get 503 with Retry-After — never a 500; once the database is
back the worker writes every redirected click exactly once and rollups match the raw rows.

The outage is a TCP proxy between the processes and PostgreSQL that the test closes and
reopens: the shared PostgreSQL itself is never stopped."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import zoneinfo
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.conf import settings
from django.db import connection

from conversions.click_store import CLICKS
from conversions.models import Click
from core.queue_redis import queue_client
from tests.conversions.helpers import CHROME
from tests.conversions.test_rollups import raw_table, rollup_table
from tests.factories import BrandFactory, OfferFactory, PartnerFactory
from tests.live_server import app_env, free_port, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

CONFIG_CACHE_SECONDS = 2


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to PostgreSQL; ``cut()`` drops every connection and refuses
    new ones (a database that went away), ``restore()`` listens again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
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


def _click(base: str, offer: str) -> requests.Response:
    return requests.get(
        f"{base}/c/outage/{offer}/steady",
        headers={"User-Agent": CHROME},
        allow_redirects=False,
        timeout=30,
    )


def _click_id(response: requests.Response) -> str:
    return parse_qs(urlsplit(response.headers["Location"]).query)["c"][0]


def test_clicks_survive_a_database_outage_of_any_length_exactly_once(world, app_server):
    db = connection.settings_dict
    proxy = CuttableProxy((db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432)))
    user = db.get("USER") or "postgres"
    env = app_env(
        DATABASE_URL=f"postgres://{user}@127.0.0.1:{proxy.port}/{db['NAME']}",
        TRCKER_QUEUE_REDIS_URL=settings.TRCKER_QUEUE_REDIS_URL,
        DB_TIMEOUT="1",
        TRCKER_CONFIG_CACHE_SECONDS=str(CONFIG_CACHE_SECONDS),
        LOG_LEVEL="CRITICAL",
    )
    try:
        server = app_server(env=env, workers=1, threads=4, with_worker=True)
        # Before: the one web process caches both offers' config.
        before = [_click(server.base, "open") for _ in range(3)]
        before.append(_click(server.base, "capped"))
        assert [r.status_code for r in before] == [302] * 4

        proxy.cut()
        during: list[requests.Response] = []
        deadline = time.monotonic() + 2 * CONFIG_CACHE_SECONDS + 1
        while time.monotonic() < deadline:
            during.append(_click(server.base, "open"))
        capped = _click(server.base, "capped")
        unknown = _click(server.base, "no-such-offer")
        postback = requests.get(
            f"{server.base}/api/postback/outage/open",
            params={"click_id": _click_id(during[0]), "txn_id": "T-1", "amount": "1"},
            timeout=30,
        )
        health = requests.get(f"{server.base}/api/health", timeout=30)

        assert len(during) >= 5
        assert {r.status_code for r in during} == {302}  # zero 5xx, the whole outage
        redirected = [_click_id(r) for r in during]
        assert capped.status_code == 302
        assert capped.headers["Location"] == "https://shop.example.com/sold-out"
        assert unknown.status_code == 503 and int(unknown.headers["Retry-After"]) > 0
        assert postback.status_code == 503 and int(postback.headers["Retry-After"]) > 0
        assert health.status_code == 503  # the database check fails...
        assert health.json()["checks"]["config_cache"]["stale"] is True  # ...and says so
        assert not Click.objects.filter(pk__in=redirected).exists()  # not written yet

        proxy.restore()
        stored = Click.objects.filter(brand=world)
        expected = 4 + len(during) + 1  # before, during, and the capped one (refused)
        wait_for(
            lambda: stored.count() >= expected,
            timeout=60,
            what="the worker to write the queued clicks",
        )
        server.stop()  # the worker and the server: nothing is left to write
    finally:
        proxy.cut()
    assert stored.count() == expected  # each once
    assert set(redirected) <= set(stored.values_list("pk", flat=True))
    assert (
        stored.filter(offer__slug="capped", outcome="cap_reached", is_billable=False).count() == 1
    )
    tz = zoneinfo.ZoneInfo(world.timezone)
    assert rollup_table(world, tz) == raw_table(world, tz)
    assert CLICKS.depth(queue_client()) == 0
