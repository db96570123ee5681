"""``rebuild_day`` repairs rollups by corrections (raw − rollups in one snapshot, added through
the ordinary increment): it fixes wrong counters and orphan rows, deletes nothing, and stays
exact while clicks, postbacks and status moves commit around it."""

import contextlib
import datetime as dt
import random
import threading
import time
import zoneinfo
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from conversions import rollups
from conversions.models import Click, Conversion, DailyRollup
from conversions.rollups import (
    ROLLUP_STRIPES,
    click_deltas,
    local_day,
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
    return click


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

    assert rebuild_day(brand_id=brand.pk, tz=tz, day=day) == 2  # keys corrected

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
