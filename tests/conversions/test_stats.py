import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from django.utils import timezone

from conversions.models import Click, Conversion
from conversions.rollups import rebuild_brand
from conversions.stats import fraud_summary, performance, resolve_period, top_publishers
from core.errors import ValidationError
from tests.factories import OfferFactory, PartnerFactory

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


@pytest.fixture
def world(brand):
    brand.timezone = "Europe/Berlin"
    brand.save()
    offer_a = OfferFactory(brand=brand, slug="a")
    offer_b = OfferFactory(brand=brand, slug="b")
    p1 = PartnerFactory(brand=brand, slug="p1", name="One")
    p2 = PartnerFactory(brand=brand, slug="p2", name="Two")
    return offer_a, offer_b, p1, p2


def add_clicks(brand, offer, partner, n, when, outcome="accepted", **fields):
    Click.objects.bulk_create(
        [
            Click(
                brand=brand,
                offer=offer,
                partner=partner,
                created_at=when,
                outcome=outcome,
                **fields,
            )
            for _ in range(n)
        ]
    )
    rebuild_brand(brand_id=brand.pk)  # raw rows inserted directly; stats read the rollups


def add_conversion(brand, offer, partner, when, status, payout, revenue, txn, fraud=0, reason=""):
    conversion = Conversion.objects.create(
        brand=brand,
        offer=offer,
        partner=partner,
        created_at=when,
        status=status,
        payout=Decimal(payout),
        revenue=Decimal(revenue),
        sale_amount=Decimal(revenue),
        currency="USD",
        txn_id=txn,
        fraud_score=fraud,
        fraud_flagged=fraud >= brand.fraud_threshold,
        status_reason=reason,
    )
    rebuild_brand(brand_id=brand.pk)
    return conversion


def test_performance_metrics_by_partner(actor, brand, world):
    offer_a, offer_b, p1, p2 = world
    now = timezone.now()
    add_clicks(brand, offer_a, p1, 8, now)
    add_clicks(brand, offer_b, p1, 2, now)
    add_clicks(brand, offer_a, p1, 5, now, is_billable=False)  # previews don't count
    add_clicks(brand, offer_a, p1, 3, now, outcome="geo_blocked")  # refusals don't count
    add_clicks(brand, offer_a, p2, 4, now)
    add_conversion(brand, offer_a, p1, now, "pending", "10.00", "30.00", "1")
    add_conversion(brand, offer_a, p1, now, "approved", "5.00", "20.00", "2")
    add_conversion(brand, offer_b, p1, now, "paid", "2.50", "9.00", "3")
    add_conversion(brand, offer_a, p1, now, "rejected", "99.00", "99.00", "4")
    period = resolve_period(actor=actor, days=7)
    rows = {row["partner_id"]: row for row in performance(actor=actor, by="partner", period=period)}
    one = rows["p1"]
    assert (one["clicks"], one["conversions"]) == (10, 3)
    assert (one["payout"], one["revenue"], one["profit"]) == (
        Decimal("17.50"),
        Decimal("59.00"),
        Decimal("41.50"),
    )
    assert one["epc"] == Decimal("1.7500")
    assert one["cvr"] == Decimal("0.3000")
    assert one["by_status"]["pending"] == {"count": 1, "payout": Decimal("10.00")}
    assert one["by_status"]["approved"] == {"count": 1, "payout": Decimal("5.00")}
    assert one["by_status"]["paid"] == {"count": 1, "payout": Decimal("2.50")}
    assert one["by_status"]["rejected"]["count"] == 1
    assert (rows["p2"]["clicks"], rows["p2"]["conversions"], rows["p2"]["epc"]) == (
        4,
        0,
        Decimal("0.0000"),
    )
    offers = {row["offer_id"]: row for row in performance(actor=actor, by="offer", period=period)}
    assert (offers["a"]["clicks"], offers["a"]["conversions"]) == (12, 2)
    assert (offers["b"]["clicks"], offers["b"]["conversions"]) == (2, 1)


def test_day_edges_follow_the_brand_time_zone(actor, brand, world, time_machine):
    offer_a, _, p1, _ = world
    time_machine.move_to(dt.datetime(2026, 3, 10, 12, 0, tzinfo=BERLIN), tick=False)
    # 23:59:59.900 on 9 March and 00:00:00.100 on 10 March, Berlin time
    late = dt.datetime(2026, 3, 9, 23, 59, 59, 900000, tzinfo=BERLIN)
    early = dt.datetime(2026, 3, 10, 0, 0, 0, 100000, tzinfo=BERLIN)
    add_clicks(brand, offer_a, p1, 1, late)
    add_clicks(brand, offer_a, p1, 2, early)
    today = resolve_period(actor=actor, days=1)
    assert (today.date_from, today.date_to) == (dt.date(2026, 3, 10), dt.date(2026, 3, 10))
    assert performance(actor=actor, by="partner", period=today)[0]["clicks"] == 2
    yesterday = resolve_period(
        actor=actor, date_from=dt.date(2026, 3, 9), date_to=dt.date(2026, 3, 9)
    )
    assert performance(actor=actor, by="partner", period=yesterday)[0]["clicks"] == 1


def test_dst_day_has_its_true_length(actor, brand):
    brand.timezone = "Europe/Berlin"
    brand.save()
    period = resolve_period(
        actor=actor, date_from=dt.date(2026, 3, 29), date_to=dt.date(2026, 3, 29)
    )
    utc = dt.UTC
    # compare as instants: aware arithmetic within one zone is wall-clock arithmetic
    assert period.end.astimezone(utc) - period.start.astimezone(utc) == dt.timedelta(hours=23)
    autumn = resolve_period(
        actor=actor, date_from=dt.date(2026, 10, 25), date_to=dt.date(2026, 10, 25)
    )
    assert autumn.end.astimezone(utc) - autumn.start.astimezone(utc) == dt.timedelta(hours=25)


def test_period_validation(actor):
    with pytest.raises(ValidationError):
        resolve_period(actor=actor, days=0)
    with pytest.raises(ValidationError):
        resolve_period(actor=actor, date_from=dt.date(2026, 5, 2), date_to=dt.date(2026, 5, 1))
    with pytest.raises(ValidationError):
        resolve_period(actor=actor, date_from=dt.date(2024, 1, 1), date_to=dt.date(2026, 1, 1))
    assert (resolve_period(actor=actor).date_to - resolve_period(actor=actor).date_from).days == 29


@pytest.mark.parametrize(
    ("metric", "order"),
    [
        ("revenue", ["p2", "p1"]),
        ("conversions", ["p1", "p2"]),
        ("epc", ["p2", "p1"]),
        ("cvr", ["p1", "p2"]),
        ("profit", ["p2", "p1"]),
    ],
)
def test_top_publishers_by_each_metric(actor, brand, world, metric, order):
    offer_a, _, p1, p2 = world
    now = timezone.now()
    add_clicks(brand, offer_a, p1, 10, now)
    add_clicks(brand, offer_a, p2, 10, now)
    for i in range(3):
        add_conversion(brand, offer_a, p1, now, "approved", "1.00", "2.00", f"a{i}")
    add_conversion(brand, offer_a, p2, now, "approved", "20.00", "100.00", "b")
    ranked = top_publishers(actor=actor, period=resolve_period(actor=actor), metric=metric, limit=5)
    assert [row["partner_id"] for row in ranked] == order
    assert [row["rank"] for row in ranked] == [1, 2]
    assert (
        len(top_publishers(actor=actor, period=resolve_period(actor=actor), metric=metric, limit=1))
        == 1
    )


def test_stats_never_include_another_brand(actor, brand, world, other_brand):
    add_clicks(
        other_brand,
        OfferFactory(brand=other_brand),
        PartnerFactory(brand=other_brand, slug="p1"),
        50,
        timezone.now(),
    )
    assert performance(actor=actor, by="partner", period=resolve_period(actor=actor)) == []


def test_fraud_summary_counts_and_top_risk_partners(actor, brand, world):
    offer_a, _, p1, p2 = world
    brand.fraud_threshold = 50
    brand.save()
    now = timezone.now()
    add_clicks(brand, offer_a, p1, 3, now, fraud_score=60, fraud_flagged=True)
    add_clicks(
        brand, offer_a, p1, 2, now, outcome="fraud_blocked", fraud_score=90, fraud_flagged=True
    )
    add_clicks(brand, offer_a, p2, 5, now)
    add_conversion(
        brand, offer_a, p1, now, "pending_review", "1", "2", "f1", fraud=70, reason="fraud_review"
    )
    add_conversion(brand, offer_a, p1, now, "pending", "1", "2", "f2", fraud=10)
    add_conversion(brand, offer_a, p2, now, "pending", "1", "2", "f3", fraud=55)
    summary = fraud_summary(actor=actor, period=resolve_period(actor=actor))
    assert summary["clicks"] == {"total": 10, "flagged": 5, "refused": 2}
    assert summary["conversions"] == {"total": 3, "flagged": 2, "held_for_review": 1, "rejected": 0}
    assert [row["partner_id"] for row in summary["top_risk_partners"]] == ["p1", "p2"]
    assert summary["top_risk_partners"][0]["flagged_clicks"] == 5
    assert summary["top_risk_partners"][0]["flagged_share"] == Decimal("0.5000")


def test_a_partner_without_clicks_has_zero_epc_and_cvr(actor, brand, world):
    """A coupon-only partner converts without clicks: its ratios are 0, not 0.0001."""
    offer_a, _, p1, _ = world
    add_conversion(brand, offer_a, p1, timezone.now(), "approved", "5.00", "9.00", "C-1")
    period = resolve_period(actor=actor, days=7)
    (row,) = performance(actor=actor, by="partner", period=period)
    assert (row["clicks"], row["epc"], row["cvr"]) == (0, Decimal("0"), Decimal("0"))
    assert str(row["epc"]) == "0.0000"
