"""conversions.click_spool in process, on the real Redis: a drain interrupted after writing but
before trimming the list writes nothing twice."""

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
    click_spool._write(
        click_spool._decode(click_spool._client().lindex(redis_key(click_spool.SPOOL_KEY), 0))
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
