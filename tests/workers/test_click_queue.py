"""Clicks through the durable queue, in process, on the real Redis and the real database: the
redirect's only I/O is one Redis call, a worker writes what was queued and acknowledges it
after commit, a bad record is dead-lettered without holding back the rest, a redelivered
record is written once, and a postback that beats the worker is attributed anyway."""

from __future__ import annotations

import json
import zoneinfo

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversions import click_store
from conversions.models import Click, ClickOutcome, Conversion
from core.queue_redis import queue_client
from core.streams import GROUP, MAX_DELIVERIES, read_new
from tests.conversions.helpers import click, click_id_from
from tests.conversions.test_rollups import raw_table, rollup_table
from tests.factories import BrandFactory, OfferFactory, PartnerFactory
from tests.live_server import free_port
from workers.loop import Worker, queue_status

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop():
    brand = BrandFactory(slug="acme")
    offer = OfferFactory(brand=brand, slug="spring-sale", min_conversion_seconds=0)
    partner = PartnerFactory(brand=brand, slug="abc-123")
    return brand, offer, partner


def _queued(brand, offer, partner, **fields) -> Click:
    """A click as the handler builds it, not yet stored."""
    return Click(
        brand_id=brand.pk,
        offer_id=offer.pk,
        partner_id=partner.pk,
        created_at=timezone.now(),
        outcome=ClickOutcome.ACCEPTED,
        is_billable=True,
        **fields,
    )


def _context(brand, offer) -> click_store.ClickContext:
    return click_store.ClickContext(
        tz=zoneinfo.ZoneInfo(brand.timezone),
        currency=offer.currency,
        fraud_mode=brand.fraud_mode,
        fraud_threshold=brand.fraud_threshold,
        preview=False,
    )


def _enqueue(brand, offer, partner, **fields) -> Click:
    queued = _queued(brand, offer, partner, **fields)
    click_store.enqueue(queued, _context(brand, offer), [])
    return queued


def test_the_redirect_makes_no_database_query_and_a_worker_writes_the_click(client, shop):
    brand, _, _ = shop
    click(client, "acme", "spring-sale", "abc-123")  # warms the per-process config cache
    with CaptureQueriesContext(connection) as captured:
        response = click(client, "acme", "spring-sale", "abc-123", sub1="queued")
    assert response.status_code == 302
    assert captured.captured_queries == []  # one Redis call, no database
    click_id = click_id_from(response)
    assert not Click.objects.filter(pk=click_id).exists()
    assert click_store.CLICKS.depth(queue_client()) == 2

    assert Worker(name="w1").run_until_idle(queues_only=True) == 2

    assert Click.objects.get(pk=click_id).sub1 == "queued"
    assert click_store.CLICKS.depth(queue_client()) == 0  # acknowledged and deleted
    assert not queue_client().exists(click_store.LOOKUP_PREFIX + click_id)
    tz = zoneinfo.ZoneInfo(brand.timezone)
    assert rollup_table(brand, tz) == raw_table(brand, tz)


def test_fraud_velocity_is_counted_in_the_same_call_and_the_worker_writes_the_same_verdict(
    client, shop
):
    brand, _, _ = shop
    brand.fraud_mode, brand.fraud_threshold = "block", 10
    brand.save()
    first = click(client, "acme", "spring-sale", "abc-123")
    repeat = click(client, "acme", "spring-sale", "abc-123")  # same IP + UA: duplicate_click
    assert first.status_code == 302
    assert repeat.status_code == 410  # blocked on the count the queue call returned
    Worker(name="w1").run_until_idle(queues_only=True)
    stored = {c.outcome: c for c in Click.objects.all()}
    assert set(stored) == {ClickOutcome.ACCEPTED, ClickOutcome.FRAUD_BLOCKED}
    blocked = stored[ClickOutcome.FRAUD_BLOCKED]
    assert [s["signal"] for s in blocked.fraud_signals] == ["duplicate_click"]
    assert blocked.is_billable is False and blocked.fraud_flagged is True


def test_a_postback_that_beats_the_worker_is_attributed_and_the_click_written_once(client, shop):
    brand, _, partner = shop
    click_id = click_id_from(click(client, "acme", "spring-sale", "abc-123", sub1="early"))
    assert not Click.objects.filter(pk=click_id).exists()  # still queued

    response = client.get(
        "/api/postback/acme/spring-sale",
        {"click_id": click_id, "txn_id": "FAST-1", "amount": "10.00"},
    )

    assert response.status_code == 200, response.content
    conversion = Conversion.objects.get(pk=response.json()["conversion_id"])
    assert (conversion.click_id, conversion.partner_id, conversion.sub1) == (
        click_id,
        partner.pk,
        "early",
    )
    # The worker then finds the click already written: nothing twice, rollups exact.
    # Two records: the click, and the postback's line in the inbound postback log.
    assert Worker(name="w1").run_until_idle(queues_only=True) == 2
    assert Click.objects.filter(pk=click_id).count() == 1
    tz = zoneinfo.ZoneInfo(brand.timezone)
    assert rollup_table(brand, tz) == raw_table(brand, tz)


@pytest.mark.postgres
def test_a_record_the_database_refuses_is_dead_lettered_and_holds_back_nothing(shop):
    brand, offer, partner = shop
    good = [_enqueue(brand, offer, partner, sub1=f"ok-{n}") for n in range(3)]
    # Past the edge's cleaning (a record from an older release, or written by hand):
    # PostgreSQL refuses NUL in text.
    _enqueue(brand, offer, partner, sub1="bad\x00sub")
    queue_client().xadd(click_store.CLICKS.key, {"r": "{not json", "k": "clk_x"})
    good.append(_enqueue(brand, offer, partner, sub1="after"))

    Worker(name="w1").run_until_idle(queues_only=True)

    assert sorted(Click.objects.values_list("pk", flat=True)) == sorted(c.pk for c in good)
    client = queue_client()
    assert click_store.CLICKS.depth(client) == 0
    dead = click_store.CLICKS.dead_letters(client)
    reasons = sorted(entry.fields["reason"] for entry in dead)
    assert len(reasons) == 2
    assert reasons[0].startswith("not a click record")
    assert reasons[1].startswith("refused by the database") and "NUL" in reasons[1]
    assert queue_status()["streams"]["clicks"]["dead_letters"] == 2
    tz = zoneinfo.ZoneInfo(brand.timezone)
    assert rollup_table(brand, tz) == raw_table(brand, tz)


def test_records_of_a_worker_that_died_are_claimed_and_written_exactly_once(shop, settings):
    brand, offer, partner = shop
    queued = [_enqueue(brand, offer, partner, sub1=f"n{n}") for n in range(4)]
    client = queue_client()
    click_store.CLICKS.ensure_group(client)
    # Worker "dead" took the batch and committed it, then died before acknowledging.
    taken = read_new(client, "dead", [click_store.CLICKS], count=10, block_ms=None)
    click_store.process(taken[click_store.CLICKS])
    assert Click.objects.count() == 4

    settings.TRCKER_QUEUE_CLAIM_IDLE_SECONDS = 0
    assert Worker(name="alive").run_until_idle(queues_only=True) == 4

    assert sorted(Click.objects.values_list("pk", flat=True)) == sorted(c.pk for c in queued)
    assert click_store.CLICKS.depth(client) == 0
    assert client.xpending(click_store.CLICKS.key, GROUP)["pending"] == 0
    tz = zoneinfo.ZoneInfo(brand.timezone)
    assert rollup_table(brand, tz) == raw_table(brand, tz)


def test_a_record_that_keeps_killing_its_workers_is_dead_lettered(shop):
    brand, offer, partner = shop
    _enqueue(brand, offer, partner)
    client = queue_client()
    stream = click_store.CLICKS
    stream.ensure_group(client)
    read_new(client, "victim-0", [stream], count=10, block_ms=None)
    for n in range(1, MAX_DELIVERIES):  # each claim is one more delivery
        assert stream.claim_stale(client, f"victim-{n}", min_idle_ms=0, count=10)
    # Delivery MAX_DELIVERIES + 1: the record has killed enough workers.
    assert stream.claim_stale(client, "last", min_idle_ms=0, count=10) == []
    (dead,) = stream.dead_letters(client)
    assert "taken 6 times" in dead.fields["reason"]
    assert stream.depth(client) == 0
    assert not Click.objects.exists()


def test_cache_clear_never_touches_the_queue(shop):
    brand, offer, partner = shop
    queued = _enqueue(brand, offer, partner)
    cache.set("something", 1)
    cache.clear()
    assert cache.get("something") is None
    assert click_store.CLICKS.depth(queue_client()) == 1
    assert queue_client().exists(click_store.LOOKUP_PREFIX + queued.pk)


def test_with_the_queue_unreachable_the_click_is_written_during_its_request(
    client, shop, settings, caplog
):
    settings.TRCKER_QUEUE_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens
    response = click(client, "acme", "spring-sale", "abc-123", sub1="direct")
    assert response.status_code == 302
    assert Click.objects.get(pk=click_id_from(response)).sub1 == "direct"
    assert "click queue unavailable" in caplog.text


def test_the_record_carries_what_the_worker_needs_and_nothing_else(shop):
    brand, offer, partner = shop
    queued = _enqueue(brand, offer, partner, sub1="x")
    (entry,) = queue_client().xrange(click_store.CLICKS.key)
    fields = {k.decode(): v.decode() for k, v in entry[1].items()}
    assert fields["k"] == queued.pk
    record = json.loads(fields["r"])
    assert record["id"] == queued.pk and record["sub1"] == "x"
    assert record["currency"] == offer.currency and record["tz"] == brand.timezone


def test_a_bot_verdict_that_beats_the_worker_scores_the_click_once(client, shop):
    from django.core.signing import Signer

    click_id = click_id_from(click(client, "acme", "spring-sale", "abc-123"))
    assert not Click.objects.filter(pk=click_id).exists()  # still queued
    token = Signer(salt="trcker.botd-verdict").sign(click_id).rsplit(":", 1)[1]

    verdict = client.post(
        "/c/_botd",
        {"click_id": click_id, "token": token, "bot": True, "bot_kind": "headless"},
        content_type="application/json",
    )

    assert verdict.status_code == 204
    stored = Click.objects.get(pk=click_id)
    assert [s["signal"] for s in stored.fraud_signals] == ["botd_bot"]
    Worker(name="w1").run_until_idle(queues_only=True)  # writes nothing over it
    assert Click.objects.get(pk=click_id).fraud_signals == stored.fraud_signals


def test_a_postback_racing_the_worker_finds_the_click_the_worker_just_wrote(client, shop):
    """The worker may write the click and drop its record between the postback's table
    lookup and its queue lookup: the postback reads the table once more. The interleaving is
    forced: a worker (its own thread and connection) runs right after the postback's first
    click query has returned nothing."""
    import threading

    from django.db import connections

    click_id = click_id_from(click(client, "acme", "spring-sale", "abc-123"))
    raced = []

    def run_worker() -> None:
        try:
            raced.append(Worker(name="racer").run_until_idle(queues_only=True))
        finally:
            connections.close_all()

    def worker_after_first_click_lookup(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not raced and '"conversions_click"' in sql and sql.lstrip().startswith("SELECT"):
            racer = threading.Thread(target=run_worker)
            racer.start()
            racer.join()
        return result

    with connection.execute_wrapper(worker_after_first_click_lookup):
        response = client.get(
            "/api/postback/acme/spring-sale",
            {"click_id": click_id, "txn_id": "RACE-1", "amount": "10.00"},
        )

    assert raced == [1]  # the worker wrote the click between the two lookups
    assert response.status_code == 200, response.content
    assert Conversion.objects.get(txn_id="RACE-1").click_id == click_id
