"""conversions.click_spool in process, on the real Redis: a drain interrupted after writing but
before trimming the list writes nothing twice."""

import time
import zoneinfo

import pytest
from django.utils import timezone

from conversions import click_spool
from conversions.models import Click, ClickOutcome
from tests.conversions.test_rollups import raw_table, rollup_table
from tests.factories import BrandFactory, OfferFactory, PartnerFactory
from trcker_site.counters import redis_key

pytestmark = pytest.mark.redis


def _unsaved_click(brand, offer, partner) -> Click:
    return Click(
        brand_id=brand.pk,
        offer_id=offer.pk,
        partner_id=partner.pk,
        created_at=timezone.now(),
        outcome=ClickOutcome.ACCEPTED,
        is_billable=True,
        sub1="spooled",
    )


def test_drain_writes_each_spooled_click_once(db):
    brand = BrandFactory()
    offer, partner = OfferFactory(brand=brand), PartnerFactory(brand=brand)
    tz = zoneinfo.ZoneInfo(brand.timezone)
    clicks = [_unsaved_click(brand, offer, partner) for _ in range(3)]
    for click in clicks:
        click_spool.push(click, tz=tz, currency=offer.currency)
    assert click_spool.pending() == 3
    # An earlier drain wrote the first click, then stopped before trimming the list.
    click_spool._write_batch(
        [click_spool._decode(click_spool._client().lindex(redis_key(click_spool.SPOOL_KEY), 0))]
    )

    assert click_spool.drain() == 2
    assert click_spool.pending() == 0
    assert click_spool.drain() == 0
    stored = Click.objects.filter(brand=brand)
    assert sorted(stored.values_list("pk", flat=True)) == sorted(c.pk for c in clicks)
    assert stored.filter(sub1="spooled").count() == 3
    assert rollup_table(brand, tz) == raw_table(brand, tz)


def test_drain_carries_on_when_redis_is_unreachable(db, settings, caplog):
    from tests.mcp_gateway.test_rate_limit_processes import _free_port

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{_free_port()}/0",  # nothing listens here
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    assert click_spool.drain() == 0  # the postback worker keeps running
    assert "click spool unavailable" in caplog.text


# --- write-behind: the redirect pushes, a drainer writes ---------------------------------------


@pytest.fixture
def paused_drainer(monkeypatch):
    """The background drainer of this process, stopped, so a test decides when clicks are
    written (it is restarted by the next push, with the delay patched to an hour)."""
    click_spool._drainer.close()
    monkeypatch.setattr(click_spool._drainer, "delay", 3600)
    yield
    click_spool._drainer.close()


@pytest.mark.django_db(transaction=True)
def test_the_redirect_writes_nothing_to_the_database_and_the_drainer_writes_it(client, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.conversions.helpers import click, click_id_from

    settings.TRCKER_CLICK_WRITE_BEHIND = True
    brand = BrandFactory(slug="acme")
    OfferFactory(brand=brand, slug="spring-sale")
    PartnerFactory(brand=brand, slug="abc-123")
    click(client, "acme", "spring-sale", "abc-123")  # warms the per-process config cache
    with CaptureQueriesContext(connection) as captured:
        response = click(client, "acme", "spring-sale", "abc-123", sub1="behind")
    assert response.status_code == 302
    assert captured.captured_queries == []  # the click went to Redis
    click_id = click_id_from(response)
    # The drainer thread of this process writes it within a few of its 50 ms ticks.
    deadline = time.monotonic() + 10
    while not Click.objects.filter(pk=click_id).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert Click.objects.get(pk=click_id).sub1 == "behind"
    tz = zoneinfo.ZoneInfo(brand.timezone)
    assert rollup_table(brand, tz) == raw_table(brand, tz)


@pytest.mark.django_db(transaction=True)
def test_a_postback_that_beats_its_clicks_write_is_still_attributed(
    client, settings, paused_drainer
):
    from conversions import tracking_config
    from tests.conversions.helpers import click, click_id_from

    settings.TRCKER_CLICK_WRITE_BEHIND = True
    brand = BrandFactory(slug="acme")
    OfferFactory(brand=brand, slug="spring-sale", min_conversion_seconds=0)
    PartnerFactory(brand=brand, slug="abc-123")
    click_id = click_id_from(click(client, "acme", "spring-sale", "abc-123"))
    assert not Click.objects.filter(pk=click_id).exists()  # still in Redis
    tracking_config.clear()
    response = client.get(
        "/api/postback/acme/spring-sale",
        {"click_id": click_id, "txn_id": "FAST-1", "amount": "10.00"},
    )
    assert response.status_code == 200, response.content
    assert response.json()["duplicate"] is False
    assert Click.objects.filter(pk=click_id).exists()  # written by the postback's drain
    assert click_spool.pending() == 0


@pytest.fixture
def paused_pusher(monkeypatch):
    """This process's push-buffer thread, stopped: the test flushes by hand."""
    click_spool._pusher.close()
    monkeypatch.setattr(click_spool._pusher, "delay", 3600)
    yield
    click_spool._pusher.close()


@pytest.mark.django_db(transaction=True)
def test_buffered_clicks_go_to_the_spool_in_one_push(paused_pusher, paused_drainer):
    brand = BrandFactory()
    offer, partner = OfferFactory(brand=brand), PartnerFactory(brand=brand)
    tz = zoneinfo.ZoneInfo(brand.timezone)
    clicks = [_unsaved_click(brand, offer, partner) for _ in range(5)]
    for click in clicks:
        click_spool.push_buffered(click, tz=tz, currency=offer.currency)
    assert click_spool.pending() == 0  # still in this process
    assert click_spool.flush_buffer() == 5
    assert click_spool.pending() == 5
    assert click_spool.drain() == 5
    assert Click.objects.filter(brand=brand).count() == 5


@pytest.mark.django_db(transaction=True)
def test_buffered_clicks_are_written_directly_when_redis_is_unreachable(
    settings, paused_pusher, caplog
):
    from tests.mcp_gateway.test_rate_limit_processes import _free_port

    brand = BrandFactory()
    offer, partner = OfferFactory(brand=brand), PartnerFactory(brand=brand)
    tz = zoneinfo.ZoneInfo(brand.timezone)
    click = _unsaved_click(brand, offer, partner)
    settings.CACHES = {
        "default": {
            "BACKEND": "trcker_site.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{_free_port()}/0",  # nothing listens here
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    click_spool.push_buffered(click, tz=tz, currency=offer.currency)
    assert click_spool.flush_buffer() == 1
    assert Click.objects.get(pk=click.pk).sub1 == "spooled"
    assert rollup_table(brand, tz) == raw_table(brand, tz)
    assert "writing 1 clicks directly" in caplog.text
