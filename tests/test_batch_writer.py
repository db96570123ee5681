"""trcker_site.batch_writer: rows queued by requests, written by a background thread."""

import threading
import time

import pytest
from django.db import connection

from mcp_gateway.models import McpToolCall
from tests.factories import BrandFactory
from trcker_site.batch_writer import BatchWriter


def _call(brand, n):
    return McpToolCall(
        brand=brand,
        actor_label="mcp:batch",
        tool="get_offer_config",
        arguments={"n": n},
        outcome="ok",
        is_error=False,
        duration_ms=1,
    )


def _wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_rows_from_many_threads_are_written_once_each_in_batches():
    brand = BrandFactory(slug="batch")
    writer = BatchWriter(McpToolCall, delay=0.05)

    def add_many(offset):
        try:
            for n in range(offset, offset + 50):
                writer.add(_call(brand, n))
        finally:
            connection.close()

    threads = [threading.Thread(target=add_many, args=(i * 50,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Written by the writer's thread, not by the adding threads, within a few ticks.
    assert writer.ticker._thread is not None
    try:
        assert _wait_for(lambda: McpToolCall.objects.filter(brand=brand).count() == 200)
    finally:
        writer.close()
    written = sorted(McpToolCall.objects.filter(brand=brand).values_list("arguments__n", flat=True))
    assert written == list(range(200))


@pytest.mark.django_db(transaction=True)
def test_a_row_the_database_refuses_does_not_hold_back_the_others(caplog):
    brand = BrandFactory(slug="batch")
    writer = BatchWriter(McpToolCall, delay=3600)  # ticks driven by hand below
    bad = _call(brand, 2)
    bad.brand_id = 987654321  # no such brand: the INSERT is refused
    writer._queue.extend([_call(brand, 1), bad, _call(brand, 3)])
    assert writer.flush() == 2
    assert sorted(McpToolCall.objects.values_list("arguments__n", flat=True)) == [1, 3]
    assert not writer._queue
    assert "refused by the database, dropped" in caplog.text


def test_inside_a_transaction_the_row_is_written_at_once(db):
    brand = BrandFactory(slug="batch")
    writer = BatchWriter(McpToolCall, delay=3600)
    writer.add(_call(brand, 7))
    assert McpToolCall.objects.get().arguments == {"n": 7}
    assert not writer._queue
