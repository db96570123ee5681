"""Sustained mixed load against the real production server (gunicorn, 2 workers × 4 threads):
clicks, signed postbacks, resent and racing duplicate postbacks, MCP reads and MCP writes for
a bounded time (TRCKER_LOAD_SECONDS, default 10), then the database must agree with every
answer the clients saw: no 5xx, no lost or doubled click, one conversion per acknowledged
txn_id, duplicates answered as duplicates, rollups equal to the raw rows."""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import threading
import time
import zoneinfo
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from audit.actor import Actor
from conversions.models import Click, Conversion, ConversionStatus
from offers.services import offer_rotate_postback_secret
from partners.models import PartnerStatus
from tests.conftest import issue_key
from tests.conversions.helpers import CHROME, signed_query
from tests.conversions.test_rollups import raw_table, rollup_table
from tests.factories import BrandFactory, OfferFactory, PartnerFactory
from tests.live_server import app_env

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

LOAD_SECONDS = float(os.environ.get("TRCKER_LOAD_SECONDS", "10"))
CLIENT_THREADS = 8
REQUEST_TIMEOUT = 30  # generous: the suite may share a small, busy machine
BRAND, OFFER, PARTNER = "load", "steady", "steady-partner"
# Relative weights of the traffic kinds each client thread draws from.
MIX = {
    "click": 40,
    "postback": 25,
    "duplicate": 10,
    "race": 5,
    "mcp_read": 12,
    "mcp_write": 8,
}
EXPECTED_STATUS = {"click": 302}  # everything else: 200


def _signed_path(secret: str, click_id: str, txn_id: str) -> str:
    params = {"click_id": click_id, "txn_id": txn_id, "amount": "49.90", "currency": "USD"}
    return f"/api/postback/{BRAND}/{OFFER}?{urlencode(signed_query(secret, params))}"


@pytest.fixture
def server(app_server):
    # The worker writes the queued clicks and the MCP tool-call log.
    env = app_env(TRCKER_API_RATE="100000/s", DB_POOL_MAX="4")
    running = app_server(env=env, workers=2, threads=4, with_worker=True)
    return running.base, running.log_tail


@dataclass
class Shared:
    """What the clients saw, guarded by one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    errors: list[str] = field(default_factory=list)
    clicks: list[str] = field(default_factory=list)
    # txn_id → (click_id, conversion_id) for every txn_id answered 200
    acknowledged: dict[str, tuple[str, str]] = field(default_factory=dict)
    fresh_answers: list[tuple[str, bool]] = field(default_factory=list)  # (txn_id, duplicate)
    resend_answers: list[tuple[str, bool, str]] = field(default_factory=list)
    race_answers: list[tuple[str, list[bool]]] = field(default_factory=list)
    unapproved: list[str] = field(default_factory=list)
    approved: list[str] = field(default_factory=list)
    mcp_errors: list[str] = field(default_factory=list)

    def status(self, kind: str, code: int) -> None:
        with self.lock:
            self.statuses[kind][code] += 1


class Client:
    def __init__(self, base: str, key: str, secret: str, shared: Shared, seed: int) -> None:
        self.base, self.key, self.secret, self.shared = base, key, secret, shared
        self.session = requests.Session()
        self.random = random.Random(seed)
        self.seed = seed
        self.serial = itertools.count()
        self.rpc_id = itertools.count(1)

    def _send(self, kind: str, method: str, path: str, **kwargs) -> requests.Response | None:
        try:
            response = self.session.request(
                method, self.base + path, timeout=REQUEST_TIMEOUT, allow_redirects=False, **kwargs
            )
        except requests.RequestException as exc:
            with self.shared.lock:
                self.shared.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            return None
        self.shared.status(kind, response.status_code)
        return response

    def click(self) -> None:
        response = self._send(
            "click",
            "GET",
            f"/c/{BRAND}/{OFFER}/{PARTNER}",
            headers={"User-Agent": CHROME, "Accept": "text/html"},
        )
        if response is not None and response.status_code == 302:
            query = parse_qs(urlsplit(response.headers["Location"]).query)
            with self.shared.lock:
                self.shared.clicks.append(query["click_id"][0])

    def _pick_click(self) -> str | None:
        with self.shared.lock:
            return self.random.choice(self.shared.clicks) if self.shared.clicks else None

    def _postback(self, kind: str, click_id: str, txn_id: str, session=None):
        session = session or self.session
        path = _signed_path(self.secret, click_id, txn_id)
        try:
            response = session.get(self.base + path, timeout=REQUEST_TIMEOUT)
        except requests.RequestException as exc:
            with self.shared.lock:
                self.shared.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            return None
        self.shared.status(kind, response.status_code)
        if response.status_code != 200:
            return None
        return response.json()

    def postback(self) -> None:
        click_id = self._pick_click()
        if click_id is None:
            self.click()
            return
        txn_id = f"L{self.seed}-{next(self.serial)}"
        body = self._postback("postback", click_id, txn_id)
        if body is not None:
            with self.shared.lock:
                self.shared.acknowledged[txn_id] = (click_id, body["conversion_id"])
                self.shared.fresh_answers.append((txn_id, body["duplicate"]))
                self.shared.unapproved.append(body["conversion_id"])

    def duplicate(self) -> None:
        with self.shared.lock:
            known = list(self.shared.acknowledged.items())
        if not known:
            self.postback()
            return
        txn_id, (click_id, conversion_id) = self.random.choice(known)
        body = self._postback("duplicate", click_id, txn_id)
        if body is not None:
            with self.shared.lock:
                self.shared.resend_answers.append(
                    (txn_id, body["duplicate"], body["conversion_id"] == conversion_id)
                )

    def race(self) -> None:
        """The same new txn_id sent twice at the same moment: exactly one is the sale."""
        click_id = self._pick_click()
        if click_id is None:
            self.click()
            return
        txn_id = f"R{self.seed}-{next(self.serial)}"
        barrier = threading.Barrier(2, timeout=REQUEST_TIMEOUT)
        answers: list[dict | None] = [None, None]

        def send(slot: int) -> None:
            with requests.Session() as session:
                with contextlib.suppress(threading.BrokenBarrierError):
                    barrier.wait()
                answers[slot] = self._postback("race", click_id, txn_id, session=session)

        racers = [threading.Thread(target=send, args=(slot,)) for slot in (0, 1)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(timeout=REQUEST_TIMEOUT * 2 + 5)
        if any(racer.is_alive() for racer in racers):
            with self.shared.lock:
                self.shared.errors.append(f"race: a racer for {txn_id} never finished")
            return
        bodies = [body for body in answers if body is not None]
        if bodies:
            with self.shared.lock:
                self.shared.acknowledged[txn_id] = (click_id, bodies[0]["conversion_id"])
                self.shared.race_answers.append(
                    (txn_id, [body["duplicate"] for body in bodies])
                    if len({body["conversion_id"] for body in bodies}) == 1
                    else (txn_id, ["different conversion ids"])
                )

    def _mcp(self, kind: str, tool: str, arguments: dict) -> dict | None:
        response = self._send(
            kind,
            "POST",
            "/api/mcp",
            json={
                "jsonrpc": "2.0",
                "id": next(self.rpc_id),
                "method": "tools/call",
                "params": {"name": tool, "arguments": arguments},
            },
            headers={
                "Authorization": f"Bearer {self.key}",
                "Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": "2025-06-18",
            },
        )
        if response is None or response.status_code != 200:
            return None
        body = response.json()
        result = body.get("result")
        if result is None or result.get("isError"):
            with self.shared.lock:
                self.shared.mcp_errors.append(f"{tool}: {str(body)[:300]}")
            return None
        return result

    def mcp_read(self) -> None:
        if self.random.random() < 0.5:
            self._mcp("mcp_read", "get_offer_stats", {"offer_id": OFFER})
        else:
            self._mcp("mcp_read", "list_offers", {})

    def mcp_write(self) -> None:
        with self.shared.lock:
            conversion_id = self.shared.unapproved.pop() if self.shared.unapproved else None
        if conversion_id is None:
            self.mcp_read()
            return
        if self._mcp("mcp_write", "approve_conversion", {"conversion_id": conversion_id}):
            with self.shared.lock:
                self.shared.approved.append(conversion_id)

    def run(self, deadline: float) -> None:
        kinds, weights = list(MIX), list(MIX.values())
        try:
            while time.monotonic() < deadline:
                getattr(self, self.random.choices(kinds, weights)[0])()
        finally:
            self.session.close()


def test_sustained_mixed_load_keeps_every_answer_true(server):
    base, log_tail = server
    brand = BrandFactory(slug=BRAND)
    offer = OfferFactory(
        brand=brand,
        slug=OFFER,
        destination_url="https://shop.example.com/landing?click_id={CLICK_ID}",
    )
    PartnerFactory(brand=brand, slug=PARTNER, status=PartnerStatus.ACTIVE)
    actor = Actor.system(brand_id=brand.pk, brand_slug=brand.slug, name="load-test")
    _, secret = offer_rotate_postback_secret(actor=actor, offer=offer, grace_seconds=0)
    key = issue_key(brand)

    shared = Shared()
    started = time.monotonic()
    deadline = started + LOAD_SECONDS
    pool = ThreadPoolExecutor(max_workers=CLIENT_THREADS)
    try:
        futures = [
            pool.submit(Client(base, key, secret, shared, seed).run, deadline)
            for seed in range(CLIENT_THREADS)
        ]
        done, pending = wait(futures, timeout=LOAD_SECONDS + 3 * REQUEST_TIMEOUT)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # never block on a stuck client
    assert not pending, f"{len(pending)} client threads did not finish in time"
    for future in done:
        future.result()  # a bug in the generator itself surfaces here
    elapsed = time.monotonic() - started

    sent = {kind: sum(codes.values()) for kind, codes in shared.statuses.items()}
    figures = (
        f"{sum(sent.values())} responses in {elapsed:.1f} s: {dict(shared.statuses)}; "
        f"{len(shared.errors)} connection errors"
    )
    assert not shared.errors, f"{figures}; first: {shared.errors[:5]}"
    server_errors = {
        kind: {code: n for code, n in codes.items() if code >= 500}
        for kind, codes in shared.statuses.items()
    }
    assert not any(server_errors.values()), f"5xx: {server_errors}; {figures}\n{log_tail()}"
    unexpected = {
        kind: {code: n for code, n in codes.items() if code != EXPECTED_STATUS.get(kind, 200)}
        for kind, codes in shared.statuses.items()
    }
    assert not any(unexpected.values()), f"unexpected statuses {unexpected}; {figures}"
    assert not shared.mcp_errors, f"{figures}; MCP tool errors: {shared.mcp_errors[:5]}"
    assert all(sent.get(kind) for kind in MIX), f"some traffic kind never ran; {figures}"

    # Every accepted click the clients saw exists, once; and no click row nobody saw.
    assert len(set(shared.clicks)) == len(shared.clicks), f"a click id was issued twice; {figures}"
    # Clicks reach the table through the queue: the worker writes them within moments.
    deadline = time.monotonic() + 30
    while (
        Click.objects.filter(brand=brand).count() < len(shared.clicks)
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    assert Click.objects.filter(pk__in=shared.clicks).count() == len(shared.clicks), figures
    assert Click.objects.filter(brand=brand).count() == len(shared.clicks), figures

    # One conversion per acknowledged txn_id, none twice, each the id the clients were told.
    rows = dict(Conversion.objects.filter(brand=brand).values_list("txn_id", "id"))
    txn_ids = list(Conversion.objects.filter(brand=brand).values_list("txn_id", flat=True))
    assert len(txn_ids) == len(set(txn_ids)), f"a txn_id was recorded twice; {figures}"
    told = {txn_id: conversion_id for txn_id, (_, conversion_id) in shared.acknowledged.items()}
    assert rows == told, (
        f"{len(rows)} conversions in the database, {len(told)} acknowledged txn_ids; {figures}"
    )
    assert not [txn for txn, duplicate in shared.fresh_answers if duplicate], figures
    bad_resends = [answer for answer in shared.resend_answers if answer[1:] != (True, True)]
    assert not bad_resends, f"resent txn_ids not answered as the same duplicate: {bad_resends[:5]}"
    bad_races = [
        (txn, answers) for txn, answers in shared.race_answers if sorted(answers) != [False, True]
    ]
    assert not bad_races, f"racing pairs not answered once new, once duplicate: {bad_races[:5]}"

    # Every approval the MCP acknowledged is in the database.
    approved = set(
        Conversion.objects.filter(brand=brand, status=ConversionStatus.APPROVED).values_list(
            "id", flat=True
        )
    )
    assert approved == set(shared.approved), (
        f"{len(approved)} approved rows, {len(shared.approved)} MCP approvals; {figures}"
    )

    tz = zoneinfo.ZoneInfo(brand.timezone)
    incremental = {key: value for key, value in rollup_table(brand, tz).items() if value}
    assert incremental == raw_table(brand, tz), f"rollups drifted from raw rows; {figures}"
