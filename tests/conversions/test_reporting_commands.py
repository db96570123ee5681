import datetime as dt
import io

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from conversions.models import Click, Conversion, DailyRollup
from conversions.stats import performance, resolve_period
from tests.conversions.factories_flow import accepted_click, record
from tests.factories import OfferFactory, PartnerFactory


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# At midday: the fixture click is an hour older than its conversion, and between 00:00 and
# 01:00 that put them on two days ("rebuilt 2 day(s)") — the test failed every night.
@time_machine.travel(dt.datetime(2026, 6, 10, 12, tzinfo=dt.UTC), tick=True)
def test_rebuild_rollups_repairs_lost_rows_and_is_idempotent(brand, actor):
    offer, partner = OfferFactory(brand=brand), PartnerFactory(brand=brand)
    record(brand, offer, click=accepted_click(brand, offer, partner), txn_id="R1")
    run("rebuild_rollups")  # the fixture click was inserted directly, without its increment
    expected = performance(actor=actor, by="partner", period=resolve_period(actor=actor))
    assert expected[0]["clicks"] == 1
    assert expected[0]["conversions"] == 1
    DailyRollup.objects.all().delete()  # lost, e.g. by a restore of raw tables only
    assert performance(actor=actor, by="partner", period=resolve_period(actor=actor)) == []
    out = run("rebuild_rollups", "--brand", brand.slug)
    assert "rebuilt 1 day(s)" in out
    assert performance(actor=actor, by="partner", period=resolve_period(actor=actor)) == expected
    run("rebuild_rollups")
    assert performance(actor=actor, by="partner", period=resolve_period(actor=actor)) == expected
    with pytest.raises(CommandError):
        run("rebuild_rollups", "--brand", "nope")


def test_prune_clicks_keeps_rollups_and_conversions_click_ids(brand, actor):
    # A window wide enough for the 40-day-old click to convert (recorded now, backdated below).
    offer = OfferFactory(brand=brand, attribution_window_days=60)
    partner = PartnerFactory(brand=brand)
    old_click = accepted_click(brand, offer, partner, seconds_ago=40 * 86400)
    conversion = record(brand, offer, click=old_click, txn_id="OLD")
    Conversion.objects.filter(pk=conversion.pk).update(
        created_at=timezone.now() - dt.timedelta(days=40)
    )
    run("rebuild_rollups")
    recent = accepted_click(brand, offer, partner, seconds_ago=60)
    run("rebuild_rollups")
    before = list(DailyRollup.objects.order_by("day").values("day", "clicks", "pending_count"))
    out = run("prune_clicks", "--older-than", "30")
    assert "deleted 1 clicks" in out
    assert list(Click.objects.values_list("pk", flat=True)) == [recent.pk]
    assert Conversion.objects.get(pk=conversion.pk).click_id == old_click.pk  # id kept
    assert (
        list(DailyRollup.objects.order_by("day").values("day", "clicks", "pending_count")) == before
    )
    with pytest.raises(CommandError):
        run("prune_clicks", "--older-than", "0")
