"""``rebuild_day`` repairs rollups by corrections (raw − rollups in one snapshot, added through
the ordinary increment): it fixes wrong counters and orphan rows, deletes nothing, and stays
exact while clicks, postbacks and status moves commit around it. On days ``prune_clicks`` has
reached, even in part, it keeps the click counts and still rebuilds the conversion columns."""

import contextlib
import datetime as dt
import io
import random
import threading
import time
import zoneinfo
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from audit.models import AuditEvent
from conversions import rollups
from conversions.click_rollups import CELL, LEVELS, ROLLUP_STRIPES, click_rollups_added
from conversions.models import Click, ClickPruning, ClickRollup, Conversion, DailyRollup
from conversions.pruning import clicks_prune
from conversions.rollups import (
    CLICK_COLUMNS,
    click_deltas,
    local_day,
    raw_aggregates,
    rebuild_brand,
    rebuild_day,
    rollup_add,
)
from conversions.services import conversion_approve, conversion_reject
from core.errors import DomainError
from tests.conftest import make_actor
from tests.conversions.factories_flow import accepted_click, record
from tests.conversions.test_rollups import raw_table, rollup_table
from tests.factories import BrandFactory, OfferFactory, PartnerFactory


def exact(brand):
    tz = zoneinfo.ZoneInfo(brand.timezone)
    rollups = {key: value for key, value in rollup_table(brand, tz).items() if value}
    return rollups == raw_table(brand, tz), rollups, raw_table(brand, tz)


def write_click(brand, offer, partner, *, stripe=None):
    """A click and its rollup increment in one transaction, as every live click writer does
    (on a random stripe, as the hot path does)."""
    tz = zoneinfo.ZoneInfo(brand.timezone)
    with transaction.atomic():
        click = Click.objects.create(
            brand=brand,
            offer=offer,
            partner=partner,
            outcome="accepted",
            ip="81.2.69.142",
            created_at=timezone.now(),
        )
        rollup_add(
            brand_id=brand.pk,
            day=local_day(click.created_at, tz),
            offer_id=offer.pk,
            partner_id=partner.pk,
            currency=offer.currency,
            deltas=click_deltas(click),
            stripe=random.randrange(ROLLUP_STRIPES) if stripe is None else stripe,
        )
        click_rollups_added([(click, tz)])
    return click


def click_rollup_total(brand) -> int:
    """Clicks in the click rollups, at each of their levels (each counts every click once)."""
    totals = {
        level: sum(
            ClickRollup.objects.filter(brand=brand, level=level).values_list("clicks", flat=True)
        )
        for level in LEVELS
    }
    assert len(set(totals.values())) == 1, totals
    return totals[CELL]


@pytest.fixture
def shop(db):
    brand = BrandFactory(slug="rebuild", timezone="America/New_York")
    offers = [
        OfferFactory(brand=brand, slug="o1", min_conversion_seconds=0),
        OfferFactory(brand=brand, slug="o2", min_conversion_seconds=0),
    ]
    partners = [PartnerFactory(brand=brand, slug="p1"), PartnerFactory(brand=brand, slug="p2")]
    return brand, offers, partners


def test_rebuild_corrects_a_wrong_counter_and_an_orphan_row_and_deletes_nothing(shop):
    brand, (offer, other_offer), (partner, other_partner) = shop
    tz = zoneinfo.ZoneInfo(brand.timezone)
    for stripe in (0, 3, 5):
        click = write_click(brand, offer, partner, stripe=stripe)
    record(brand, offer, click=click, txn_id="T1", amount="40.00")
    accepted_click(brand, offer, partner, seconds_ago=1)  # raw row without its increment
    day = local_day(click.created_at, tz)
    assert exact(brand)[0] is False
    DailyRollup.objects.filter(brand=brand, day=day, offer=offer, stripe=3).update(
        clicks=F("clicks") + 5
    )
    orphan = DailyRollup.objects.create(
        brand=brand,
        day=day,
        offer=other_offer,
        partner=other_partner,
        currency="USD",
        stripe=4,
        clicks=3,
        clicks_gross=3,
        pending_count=1,
        pending_payout=Decimal("12.34"),
    )
    before = set(DailyRollup.objects.values_list("pk", flat=True))

    # Keys corrected: two daily rollup keys, and the raw click's key at each click rollup level.
    assert rebuild_day(brand_id=brand.pk, tz=tz, day=day) == 2 + len(LEVELS)
    assert click_rollup_total(brand) == 4

    ok, rollups, raw = exact(brand)
    assert ok, (rollups, raw)
    assert before <= set(DailyRollup.objects.values_list("pk", flat=True))  # nothing deleted
    orphan.refresh_from_db()
    assert orphan.clicks == 3  # left as it was; the stripe-0 correction brings the key to zero
    summed = rollup_table(brand, tz)
    assert summed[(day, other_offer.pk, other_partner.pk)] == {}
    assert summed[(day, offer.pk, partner.pk)]["clicks"] == 4
    # Exact now: a second pass finds nothing to correct and writes nothing.
    rows = list(DailyRollup.objects.order_by("pk").values())
    assert rebuild_day(brand_id=brand.pk, tz=tz, day=day) == 0
    assert list(DailyRollup.objects.order_by("pk").values()) == rows
    assert rebuild_brand(brand_id=brand.pk) == 1  # days looked at


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_writers_committing_in_the_middle_of_a_rebuild_are_neither_blocked_nor_lost(monkeypatch):
    brand = BrandFactory(slug="mid", timezone="America/New_York")
    offer, partner = OfferFactory(brand=brand), PartnerFactory(brand=brand)
    click = write_click(brand, offer, partner, stripe=0)
    accepted_click(brand, offer, partner, seconds_ago=1)  # something for the rebuild to correct
    tz = zoneinfo.ZoneInfo(brand.timezone)
    real_raw_aggregates = rollups.raw_aggregates
    finished = []

    def writer(stripe):
        try:
            write_click(brand, offer, partner, stripe=stripe)
            finished.append(stripe)
        finally:
            connection.close()

    def raw_aggregates_then_traffic(**kwargs):
        # Once the rebuild has read the raw rows, two writers commit on other connections:
        # one on a stripe row that does not exist yet, one on the existing stripe-0 row.
        result = real_raw_aggregates(**kwargs)
        for stripe in (7, 0):
            thread = threading.Thread(target=writer, args=(stripe,))
            thread.start()
            thread.join(timeout=5)
        return result

    monkeypatch.setattr(rollups, "raw_aggregates", raw_aggregates_then_traffic)
    rebuild_day(brand_id=brand.pk, tz=tz, day=local_day(click.created_at, tz))
    monkeypatch.undo()
    assert finished == [7, 0]  # neither waited on the rebuild
    ok, table, raw = exact(brand)
    assert ok, (table, raw)
    assert table[(local_day(click.created_at, tz), offer.pk, partner.pk)]["clicks"] == 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_rebuild_rollups_while_clicks_postbacks_and_status_moves_flow():
    brand = BrandFactory(slug="live", timezone="America/New_York", fraud_mode="off")
    offers = [OfferFactory(brand=brand, slug=f"o{i}", min_conversion_seconds=0) for i in range(2)]
    partners = [PartnerFactory(brand=brand, slug=f"p{i}") for i in range(2)]
    actor = make_actor(brand)
    # Errors for the concurrent rebuilds to repair: a click without its increment, a counter
    # off by 7, a rollup row with no raw rows behind it.
    seed = write_click(brand, offers[0], partners[0])
    accepted_click(brand, offers[1], partners[1], seconds_ago=1)
    DailyRollup.objects.filter(brand=brand).update(clicks_gross=F("clicks_gross") + 7)
    DailyRollup.objects.create(
        brand=brand,
        day=seed.created_at.date() - dt.timedelta(days=3),
        offer=offers[1],
        partner=partners[0],
        currency="USD",
        stripe=2,
        clicks=9,
    )
    assert exact(brand)[0] is False
    planted = set(DailyRollup.objects.values_list("pk", flat=True))

    stop = threading.Event()
    rebuilds = []  # days looked at, per pass
    during_traffic = []

    def pick():
        return random.choice(offers), random.choice(partners)

    def clicks():
        for _ in range(150):
            write_click(brand, *pick())

    def postbacks():
        for i in range(60):
            offer, partner = pick()
            click = write_click(brand, offer, partner)
            record(brand, offer, click=click, txn_id=f"T{i}", amount=f"{10 + i}.25")

    def status_moves():
        deadline = time.monotonic() + 30
        moved = 0
        while moved < 40 and time.monotonic() < deadline:
            pending = list(Conversion.objects.filter(brand=brand, status="pending")[:5])
            if not pending:
                time.sleep(0.01)
                continue
            target = random.choice(pending)
            service = random.choice([conversion_approve, conversion_reject])
            with contextlib.suppress(DomainError):
                service(actor=actor, conversion=target)
                moved += 1

    def rebuilder():
        while not stop.is_set() or len(rebuilds) < 2:
            rebuilds.append(rebuild_brand(brand_id=brand.pk))

    def closing(work):
        def run():
            try:
                work()
            finally:
                connection.close()

        return run

    with ThreadPoolExecutor(max_workers=6) as pool:
        rebuild = pool.submit(closing(rebuilder))
        writers = [pool.submit(closing(work)) for work in (clicks, clicks, postbacks, status_moves)]
        try:
            for writer in writers:
                writer.result()
        finally:
            during_traffic.append(len(rebuilds))
            stop.set()
        rebuild.result()

    assert during_traffic[0] >= 2, rebuilds  # passes that overlapped the writers
    assert Conversion.objects.exclude(status="pending").exists()  # status moves happened
    ok, rollups, raw = exact(brand)
    assert ok, (rollups, raw)
    assert planted <= set(DailyRollup.objects.values_list("pk", flat=True))
    assert DailyRollup.objects.filter(brand=brand, stripe__gt=0).exists()


# --- days prune_clicks has reached ------------------------------------------------------------

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")  # the shop's time zone
# A winter day there (no DST change within 400 days of it matters: both ends are EST).
NOON = dt.datetime(2025, 12, 16, 12, tzinfo=NEW_YORK)
MIDNIGHT = dt.datetime(2025, 12, 17, tzinfo=NEW_YORK)


def day_sums(brand, day):
    """The rollups of one brand-day per (offer, partner), summed over stripes, zeros left out."""
    tz = zoneinfo.ZoneInfo(brand.timezone)
    return {(o, p): values for (d, o, p), values in rollup_table(brand, tz).items() if d == day}


def raw_day(brand, day):
    tz = zoneinfo.ZoneInfo(brand.timezone)
    return {(o, p): values for (d, o, p), values in raw_table(brand, tz).items() if d == day}


def prune_clicks_at(time_machine, moment, *, older_than=400):
    """prune_clicks run at ``moment``: its cutoff is ``older_than`` days before, to the
    microsecond."""
    time_machine.move_to(moment + dt.timedelta(days=older_than), tick=False)
    call_command("prune_clicks", "--older-than", str(older_than), stdout=io.StringIO())


def test_the_click_columns_are_the_ones_clicks_feed():
    # A rebuild keeps CLICK_COLUMNS on pruned days and recomputes the rest: a new column that
    # clicks feed must join them, or pruned days would lose it.
    assert set(click_deltas(Click(outcome="accepted"))) == set(CLICK_COLUMNS)


def test_rebuilding_after_pruning_keeps_the_pruned_days_clicks(brand):
    offer, partner = OfferFactory(brand=brand), PartnerFactory(brand=brand)
    for _ in range(3):
        accepted_click(brand, offer, partner, seconds_ago=500 * 86400)
    call_command("rebuild_rollups", stdout=io.StringIO())  # the fixture wrote raw rows only

    def clicks() -> int:
        return sum(DailyRollup.objects.filter(brand=brand).values_list("clicks", flat=True))

    assert clicks() == 3
    assert click_rollup_total(brand) == 3
    call_command("prune_clicks", "--older-than", "400", stdout=io.StringIO())
    assert not Click.objects.filter(brand=brand).exists()
    assert clicks() == 3  # prune_clicks: "Rollups (and so every report) stay"
    call_command("rebuild_rollups", stdout=io.StringIO())
    assert clicks() == 3
    assert click_rollup_total(brand) == 3  # the click rollups of a pruned day are kept too


def test_a_partly_pruned_day_keeps_all_its_clicks_and_still_rebuilds_its_conversions(
    shop, time_machine
):
    brand, (offer, _), (partner, _) = shop
    day = NOON.date()
    # Given a day with clicks at 9:00, 10:00 and 14:00 and a conversion, rolled up live
    for hour in (9, 10, 14):
        time_machine.move_to(NOON.replace(hour=hour), tick=False)
        click = write_click(brand, offer, partner)
    record(brand, offer, click=click, txn_id="T1", amount="40.00")
    rolled_up = day_sums(brand, day)
    assert rolled_up[(offer.pk, partner.pk)]["clicks"] == 3
    # and a conversion count gone wrong on it
    row = DailyRollup.objects.filter(brand=brand, day=day).first()
    DailyRollup.objects.filter(pk=row.pk).update(pending_count=F("pending_count") + 2)

    # When prune_clicks cuts the day at noon, and a rebuild runs
    prune_clicks_at(time_machine, NOON)
    assert list(Click.objects.filter(brand=brand).values_list("pk", flat=True)) == [click.pk]
    raw = raw_aggregates(brand_id=brand.pk, tz=NEW_YORK, day=day)
    assert raw[(offer.pk, partner.pk)]["clicks"] == 1  # what a recount would find
    call_command("rebuild_rollups", "--brand", brand.slug, stdout=io.StringIO())

    # Then the day is as the live increments made it: three clicks, the conversion corrected
    assert day_sums(brand, day) == rolled_up
    assert click_rollup_total(brand) == 3
    # The mark says how far clicks went, and its move is audited.
    assert ClickPruning.objects.get(brand=brand).pruned_before == NOON
    event = AuditEvent.objects.get(brand=brand, action="clicks.prune")
    assert event.actor_label == "system:prune_clicks"
    assert event.changes == {"pruned_before": [None, "2025-12-16T17:00:00Z"]}


def test_a_rebuild_across_the_mark_keeps_pruned_clicks_and_recounts_the_later_days(
    shop, time_machine
):
    brand, (offer, other_offer), (partner, other_partner) = shop
    pruned_day, kept_day = MIDNIGHT.date() - dt.timedelta(days=1), MIDNIGHT.date()
    # Given two days with clicks and a conversion each, rolled up live
    for day in (pruned_day, kept_day):
        for hour in (9, 15):
            time_machine.move_to(dt.datetime.combine(day, dt.time(hour), NEW_YORK), tick=False)
            click = write_click(brand, offer, partner)
        record(brand, offer, click=click, txn_id=f"T{day}", amount="25.00")
    as_rolled_up = day_sums(brand, pruned_day)
    # and errors on both: on the later day a click without its increment and a wrong click
    # counter, on the earlier day a wrong conversion count
    accepted_click(brand, other_offer, other_partner, seconds_ago=0)
    DailyRollup.objects.filter(brand=brand, day=kept_day).update(clicks_gross=F("clicks_gross") + 5)
    DailyRollup.objects.filter(brand=brand, day=pruned_day).update(
        approved_count=F("approved_count") + 1
    )

    # When prune_clicks cuts at the later day's first instant, and a rebuild covers both days
    prune_clicks_at(time_machine, MIDNIGHT)
    assert Click.objects.filter(brand=brand).count() == 3  # the later day's, untouched
    call_command("rebuild_rollups", "--since", pruned_day.isoformat(), stdout=io.StringIO())

    # Then the pruned day keeps its clicks (its conversion count corrected) ...
    assert day_sums(brand, pruned_day) == as_rolled_up
    # ... and the later day, none of whose clicks went, is recounted from its raw rows
    kept = day_sums(brand, kept_day)
    assert kept == raw_day(brand, kept_day)
    assert kept[(offer.pk, partner.pk)]["clicks_gross"] == 2
    assert kept[(other_offer.pk, other_partner.pk)]["clicks"] == 1


def test_the_mark_only_moves_forward(shop):
    brand, (offer, _), (partner, _) = shop
    actor = make_actor(brand)
    now = timezone.now()
    accepted_click(brand, offer, partner, seconds_ago=40 * 86400)
    assert clicks_prune(actor=actor, before=now - dt.timedelta(days=30)) == 1
    # A click queued for longer than the retention is written late, and an older cutoff
    # prunes it: the mark stays where the later cutoff put it, and that move alone is audited.
    accepted_click(brand, offer, partner, seconds_ago=500 * 86400)
    assert clicks_prune(actor=actor, before=now - dt.timedelta(days=400)) == 1
    assert ClickPruning.objects.get(brand=brand).pruned_before == now - dt.timedelta(days=30)
    assert AuditEvent.objects.filter(brand=brand, action="clicks.prune").count() == 1


def test_a_rebuild_between_two_prune_batches_keeps_the_pruned_days_clicks(shop):
    brand, (offer, _), (partner, _) = shop
    for _ in range(3):
        accepted_click(brand, offer, partner, seconds_ago=40 * 86400)
    rebuild_brand(brand_id=brand.pk)  # the fixture wrote raw rows only
    seen = []

    def clicks() -> int:
        return sum(DailyRollup.objects.filter(brand=brand).values_list("clicks", flat=True))

    def rebuild_after_each_batch(deleted):
        # Each batch has committed: a rebuild now sees some clicks gone, the others still there.
        rebuild_brand(brand_id=brand.pk)
        seen.append((deleted, clicks()))

    deleted = clicks_prune(
        actor=make_actor(brand),
        before=timezone.now() - dt.timedelta(days=30),
        batch_size=1,
        progress=rebuild_after_each_batch,
    )
    assert deleted == 3
    assert seen == [(1, 3), (2, 3), (3, 3)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_prune_committing_in_the_middle_of_a_rebuild_loses_no_click(monkeypatch):
    brand = BrandFactory(slug="mid-prune", timezone="America/New_York")
    offer, partner = OfferFactory(brand=brand), PartnerFactory(brand=brand)
    tz = zoneinfo.ZoneInfo(brand.timezone)
    noon = dt.datetime.combine(
        timezone.now().astimezone(tz).date() - dt.timedelta(days=40), dt.time(12), tz
    )
    seconds_ago = int((timezone.now() - noon).total_seconds())
    for _ in range(3):
        accepted_click(brand, offer, partner, seconds_ago=seconds_ago)
    rebuild_brand(brand_id=brand.pk)
    accepted_click(brand, offer, partner, seconds_ago=seconds_ago)  # raw row, no increment
    real_raw_aggregates = rollups.raw_aggregates

    def prune():
        try:
            clicks_prune(actor=make_actor(brand), before=timezone.now() - dt.timedelta(days=30))
        finally:
            connection.close()

    def raw_aggregates_then_prune(**kwargs):
        # Once the rebuild has read four raw clicks (and no mark), the prune commits on another
        # connection; the +1 correction then lands after the clicks are gone.
        result = real_raw_aggregates(**kwargs)
        thread = threading.Thread(target=prune)
        thread.start()
        thread.join(timeout=10)
        return result

    monkeypatch.setattr(rollups, "raw_aggregates", raw_aggregates_then_prune)
    # One daily rollup key, a click rollup key per level: read before the prune committed.
    assert rebuild_day(brand_id=brand.pk, tz=tz, day=noon.date()) == 1 + len(LEVELS)
    monkeypatch.undo()
    assert not Click.objects.filter(brand=brand).exists()

    def clicks() -> int:
        return sum(DailyRollup.objects.filter(brand=brand).values_list("clicks", flat=True))

    assert clicks() == 4
    assert rebuild_day(brand_id=brand.pk, tz=tz, day=noon.date()) == 0  # the mark is seen now
    assert clicks() == 4
    assert click_rollup_total(brand) == 4
