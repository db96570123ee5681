"""ClickRollup: the click writer's increments, the upgrade's backfill, and what reports read."""

import datetime as dt
import importlib
import zoneinfo

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversions.click_rollups import LEVELS, click_cell_sums, raw_click_cells
from conversions.click_store import write_clicks
from conversions.clicks import click_record_botd_verdict
from conversions.models import Click, ClickRollup, Conversion, DailyRollup
from conversions.reports import report
from conversions.rollups import day_start
from tests.conftest import make_actor
from tests.factories import BrandFactory, OfferFactory, PartnerFactory

backfill_0013 = importlib.import_module("conversions.migrations.0013_backfill_click_rollup")
pair_level_0016 = importlib.import_module("conversions.migrations.0016_click_rollup_pair_level")


def backfill(apps, schema_editor):
    """The upgrade's data steps in order: 0013 fills the first three levels from raw clicks,
    0016 derives refused_clicks and the PAIR level from them."""
    backfill_0013.backfill(apps, schema_editor)
    with connection.cursor() as cursor:
        cursor.execute(pair_level_0016.REFUSED)
        cursor.execute(pair_level_0016.PAIRS)


NOON = dt.datetime(2026, 6, 10, 12, tzinfo=dt.UTC)


def cells_match_raw(brand, day):
    tz = zoneinfo.ZoneInfo(brand.timezone)
    start, end = day_start(day, tz), day_start(day + dt.timedelta(days=1), tz)
    raw = raw_click_cells(brand_id=brand.pk, day=day, start=start, end=end)
    return raw == click_cell_sums(brand_id=brand.pk, day=day), raw


def clicks_of(brand, offer, partner, n):
    """n clicks over several cells: countries, devices, outcomes, a refusal naming no offer,
    a non-billable preview and a test click."""
    rows = []
    for i in range(n):
        known = i % 7 != 0
        rows.append(
            Click(
                brand=brand,
                offer=offer if known else None,
                partner=partner if known else None,
                created_at=NOON + dt.timedelta(minutes=i),
                country=("US", "DE", "FR")[i % 3],
                device_class=("mobile", "desktop")[i % 2],
                outcome="accepted" if known and i % 5 else "geo_blocked",
                is_billable=i % 11 != 0,
                is_test=i == 3,
            )
        )
    return rows


@pytest.mark.django_db
def test_one_statement_per_batch_whatever_the_number_of_cells():
    brand = BrandFactory(slug="cells", timezone="Europe/Berlin")
    offer, partner = OfferFactory(brand=brand), PartnerFactory(brand=brand)
    tz = zoneinfo.ZoneInfo(brand.timezone)
    rows = clicks_of(brand, offer, partner, 60)
    with CaptureQueriesContext(connection) as queries:
        write_clicks([(click, tz, offer.currency) for click in rows])
    table = ClickRollup._meta.db_table
    inserts = [
        q for q in queries.captured_queries if f"INSERT INTO {table}" in q["sql"].replace('"', "")
    ]
    assert len(inserts) == 1
    ok, raw = cells_match_raw(brand, NOON.astimezone(tz).date())
    assert ok
    assert len(raw) > 10  # many cells, one statement
    for level in LEVELS:  # each level counts every click once; the test click is not counted
        assert sum(counts["clicks"] for cell, counts in raw.items() if cell[0] == level) == 59


@pytest.mark.django_db
def test_the_upgrade_backfills_every_brand_in_its_own_zone():
    tokyo = BrandFactory(slug="tokyo", timezone="Asia/Tokyo")
    lima = BrandFactory(slug="lima", timezone="America/Lima")
    for brand in (tokyo, lima):
        offer, partner = OfferFactory(brand=brand), PartnerFactory(brand=brand)
        late = Click(brand=brand, offer=offer, partner=partner, outcome="accepted")
        late.created_at = NOON + dt.timedelta(hours=4)  # 01:00 the next day in Tokyo
        Click.objects.bulk_create([*clicks_of(brand, offer, partner, 40), late])  # raw rows only
    assert not ClickRollup.objects.exists()

    backfill(apps, None)

    for brand in (tokyo, lima):
        tz = zoneinfo.ZoneInfo(brand.timezone)
        days = {
            click.created_at.astimezone(tz).date() for click in Click.objects.filter(brand=brand)
        }
        for day in days:
            assert cells_match_raw(brand, day)[0], (brand.slug, day)

    def days(brand):
        return set(ClickRollup.objects.filter(brand=brand).values_list("day", flat=True))

    # 16:00 UTC is 01:00 the next day in Tokyo and 11:00 the same day in Lima.
    assert days(tokyo) == {dt.date(2026, 6, 10), dt.date(2026, 6, 11)}
    assert days(lima) == {dt.date(2026, 6, 10)}


@pytest.mark.django_db
def test_reports_read_the_click_rollup_refusals_naming_no_offer_included():
    brand = BrandFactory(slug="refusals", timezone="UTC")
    offer, partner = OfferFactory(brand=brand, slug="o"), PartnerFactory(brand=brand, slug="p")
    tz = zoneinfo.ZoneInfo("UTC")
    write_clicks([(click, tz, offer.currency) for click in clicks_of(brand, offer, partner, 21)])
    Click.objects.filter(brand=brand).delete()  # as if pruned: the rollup alone answers
    answer = report(
        actor=make_actor(brand),
        metrics=["clicks", "refused_clicks", "billable_clicks"],
        group_by=["offer", "outcome"],
        date_from=NOON.date(),
        date_to=NOON.date(),
    )
    rows = {(r["offer"], r["outcome"]): (r["clicks"], r["refused_clicks"]) for r in answer["rows"]}
    # 21 clicks less the test click; i % 7 == 0 named no offer (3 of them), all refused.
    assert rows[(None, "geo_blocked")] == (3, 3)
    assert sum(clicks for clicks, _ in rows.values()) == 20
    assert rows[("o", "accepted")][1] == 0


@pytest.mark.django_db
@pytest.mark.parametrize("is_test", [False, True])
def test_a_bot_verdict_flags_a_click_in_the_rollups_unless_it_is_a_test(is_test):
    brand = BrandFactory(slug=f"botd-{is_test}", timezone="UTC", fraud_threshold=1)
    offer, partner = OfferFactory(brand=brand), PartnerFactory(brand=brand)
    click = Click(brand=brand, offer=offer, partner=partner, created_at=NOON, outcome="accepted")
    click.is_test = is_test
    write_clicks([(click, zoneinfo.ZoneInfo("UTC"), offer.currency)])

    click_record_botd_verdict(click_id=click.pk, bot=True, bot_kind="headless")

    assert Click.objects.get(pk=click.pk).fraud_flagged
    flagged = sum(DailyRollup.objects.filter(brand=brand).values_list("clicks_flagged", flat=True))
    assert flagged == (0 if is_test else 1)


@pytest.mark.django_db
def test_the_upgrade_copies_each_conversions_click_country_and_device():
    copy = importlib.import_module(
        "conversions.migrations.0014_conversion_click_country_device"
    ).copy_from_clicks
    brand = BrandFactory(slug="copy-geo")
    offer, partner = OfferFactory(brand=brand), PartnerFactory(brand=brand)
    click = Click.objects.create(
        brand=brand,
        offer=offer,
        partner=partner,
        created_at=NOON,
        outcome="accepted",
        country="NZ",
        device_class="tablet",
    )
    by_click = Conversion.objects.create(
        brand=brand, offer=offer, partner=partner, click=click, txn_id="A", currency="USD",
        created_at=NOON,
    )  # fmt: skip
    pruned = Conversion.objects.create(
        brand=brand, offer=offer, partner=partner, click_id="clk_gone", txn_id="B",
        currency="USD", created_at=NOON,
    )  # fmt: skip

    with connection.schema_editor() as editor:
        copy(apps, editor)

    by_click.refresh_from_db()
    pruned.refresh_from_db()
    assert (by_click.country, by_click.device_class) == ("NZ", "tablet")
    assert (pruned.country, pruned.device_class) == ("", "")
