"""get_report against an independent plain-Python aggregate of the raw rows."""

import datetime as dt
import itertools
import zoneinfo
from collections import defaultdict
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from conversions.click_store import write_clicks
from conversions.models import Click, Conversion
from conversions.report_rollups import CLICK_SIDE, ROLLUP_METRICS
from conversions.reports import METRICS, report
from conversions.rollups import days_with_activity, rebuild_day, rollup_conversion_added
from core.errors import NotFoundError, ValidationError
from operations.catalog import OPERATIONS
from tests.conftest import make_actor
from tests.factories import BrandFactory, OfferFactory, PartnerFactory

COUNTER = itertools.count()
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
CENT = Decimal("0.01")
FOUR = Decimal("0.0001")
CLICK_ONLY = ("clicks", "billable_clicks", "refused_clicks", "epc", "cvr")
MONEY = ("sale_amount", "revenue", "payout", "profit", "epc")


def local(moment, tz):
    return moment.astimezone(tz).date()


def dimension(row, name, tz, click):
    """The value of one dimension for a raw row, written without the selector's code."""
    day = local(row.created_at, tz)
    if name == "day":
        return day
    if name == "week":
        return day - dt.timedelta(days=day.weekday())
    if name == "month":
        return day.replace(day=1)
    if name == "offer":
        return row.offer.slug if row.offer_id else None
    if name == "partner":
        return row.partner.slug if row.partner_id else None
    if name == "currency":
        if isinstance(row, Click):
            return row.offer.currency if row.offer_id else None
        return row.currency
    if name in ("event_type", "status"):
        return getattr(row, name)
    if name.startswith("sub"):
        return getattr(row, name)
    field = {"country": "country", "device": "device_class", "outcome": "outcome"}[name]
    if isinstance(row, Click):
        return getattr(row, field)
    return getattr(click, field) if click is not None else None


def expected(brand, metrics, group_by, start, end, filters=None):
    """The report computed from every raw row of the brand, in Python."""
    tz = zoneinfo.ZoneInfo(brand.timezone)
    filters = filters or {}
    keys = [*group_by, *(["currency"] if set(metrics) & set(MONEY) else [])]
    clicks = {
        c.pk: c
        for c in Click.objects.filter(brand=brand, is_test=False).select_related("offer", "partner")
    }
    acc = defaultdict(lambda: defaultdict(lambda: Decimal(0)))
    scores = defaultdict(list)
    need_clicks = bool(set(metrics) & set(CLICK_ONLY))
    if need_clicks:
        for c in clicks.values():
            if not (start <= c.created_at < end):
                continue
            if any(dimension(c, name, tz, None) != value for name, value in filters.items()):
                continue
            key = tuple(dimension(c, name, tz, None) for name in keys)
            acc[key]["clicks"] += 1
            acc[key]["billable"] += c.outcome == "accepted" and c.is_billable
            acc[key]["refused"] += c.outcome != "accepted"
    if set(metrics) - {"clicks", "billable_clicks", "refused_clicks"}:
        for v in Conversion.objects.filter(brand=brand, is_test=False).select_related(
            "offer", "partner"
        ):
            if not (start <= v.created_at < end):
                continue
            click = clicks.get(v.click_id)
            if any(dimension(v, name, tz, click) != value for name, value in filters.items()):
                continue
            key = tuple(dimension(v, name, tz, click) for name in keys)
            row = acc[key]
            scores[key].append(v.fraud_score)
            row["flagged"] += v.fraud_flagged
            if v.status != "rejected":
                row["conversions"] += 1
                row["sale"] += v.sale_amount
                row["revenue"] += v.revenue
                row["payout"] += v.payout
    result = {}
    for key, row in acc.items():
        billable = int(row["billable"])

        def ratio(a, b):
            return (Decimal(a) / b).quantize(FOUR) if b else Decimal(0).quantize(FOUR)

        values = {
            "clicks": int(row["clicks"]),
            "billable_clicks": billable,
            "refused_clicks": int(row["refused"]),
            "conversions": int(row["conversions"]),
            "sale_amount": row["sale"].quantize(CENT),
            "revenue": row["revenue"].quantize(CENT),
            "payout": row["payout"].quantize(CENT),
            "profit": (row["revenue"] - row["payout"]).quantize(CENT),
            "epc": ratio(row["payout"], billable),
            "cvr": ratio(row["conversions"], billable),
            "avg_fraud_score": (Decimal(sum(scores[key])) / len(scores[key])).quantize(CENT)
            if scores[key]
            else None,
            "max_fraud_score": max(scores[key]) if scores[key] else None,
            "flagged_conversions": int(row["flagged"]),
        }
        result[key] = {name: values[name] for name in metrics}
    return keys, result


def as_table(answer):
    keys = answer["group_by"]
    return {
        tuple(row[name] for name in keys): {m: row[m] for m in answer["metrics"]}
        for row in answer["rows"]
    }


def period_bounds(answer, tz):
    start = dt.datetime.combine(
        dt.date.fromisoformat(answer["period"]["date_from"]), dt.time.min, tzinfo=tz
    )
    end = dt.datetime.combine(
        dt.date.fromisoformat(answer["period"]["date_to"]) + dt.timedelta(days=1),
        dt.time.min,
        tzinfo=tz,
    )
    return start, end


def traffic_world(brand):
    offers = [
        OfferFactory(brand=brand, slug="o-usd", currency="USD"),
        OfferFactory(brand=brand, slug="o-eur", currency="EUR"),
    ]
    partners = [PartnerFactory(brand=brand, slug="p-a"), PartnerFactory(brand=brand, slug="p-b")]
    return offers, partners


BASE = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)

CONVERSION = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["pending", "approved", "rejected", "paid"]),
        "score": st.integers(0, 100),
        "payout": st.decimals(0, 500, places=2),
        "revenue": st.decimals(0, 900, places=2),
        "event": st.sampled_from(["sale", "lead"]),
        "later": st.integers(0, 48),
        "sub1": st.sampled_from(["", "x", "z"]),
    }
)
click_strategy = st.fixed_dictionaries(
    {
        "hour": st.integers(0, 24 * 20),
        # A click naming no known offer or partner now and then, not a third of the time.
        "offer": st.sampled_from([0, 1, 0, 1, None]),
        "partner": st.sampled_from([0, 1, 0, 1, None]),
        "outcome": st.sampled_from(["accepted", "accepted", "geo_blocked", "cap_reached"]),
        "billable": st.booleans(),
        "country": st.sampled_from(["US", "DE", ""]),
        "device": st.sampled_from(["mobile", "desktop", ""]),
        "sub1": st.sampled_from(["", "x", "y"]),
        # A test click (send_test_postback) now and then: no report may count it or its sale.
        "test": st.sampled_from([False, False, False, False, True]),
        # Two clicks in three convert (when accepted), so conversion metrics see real rows.
        "conversion": st.one_of(st.none(), CONVERSION, CONVERSION),
    }
)


def write_click(brand, **fields):
    """A click through the one click writer, with its rollup increments, as a worker writes it."""
    click = Click(brand=brand, **fields)
    offer = fields.get("offer")
    write_clicks([(click, zoneinfo.ZoneInfo(brand.timezone), offer.currency if offer else "")])
    return click


def assert_rollups_exact(brand):
    """Rebuilding finds nothing to correct: the live increments already equal the raw rows."""
    tz = zoneinfo.ZoneInfo(brand.timezone)
    for day in days_with_activity(brand_id=brand.pk, tz=tz, since=None):
        assert rebuild_day(brand_id=brand.pk, tz=tz, day=day) == 0, day


def seed(brand, offers, partners, specs):
    """Clicks and conversions written with their live rollup increments (never rebuilt), so
    rollup-served reports read what production writes."""
    tz = zoneinfo.ZoneInfo(brand.timezone)
    for n, spec in enumerate(specs):
        offer = offers[spec["offer"]] if spec["offer"] is not None else None
        partner = partners[spec["partner"]] if spec["partner"] is not None else None
        click = write_click(
            brand,
            offer=offer,
            partner=partner,
            created_at=BASE + dt.timedelta(hours=spec["hour"]),
            outcome=spec["outcome"] if offer and partner else "unknown_offer",
            is_billable=spec["billable"],
            country=spec["country"],
            device_class=spec["device"],
            sub1=spec["sub1"],
            is_test=spec["test"],
        )
        conv = spec["conversion"]
        if conv and offer and partner and click.outcome == "accepted":
            conversion = Conversion.objects.create(
                brand=brand,
                offer=offer,
                partner=partner,
                click=click,
                created_at=click.created_at + dt.timedelta(hours=conv["later"]),
                status=conv["status"],
                payout=conv["payout"],
                revenue=conv["revenue"],
                sale_amount=conv["revenue"],
                currency=offer.currency,
                event_type=conv["event"],
                txn_id=f"t{n}",
                fraud_score=conv["score"],
                fraud_flagged=conv["score"] >= 60,
                sub1=conv["sub1"],
                is_test=click.is_test,
                country=click.country,  # as attribution copies them
                device_class=click.device_class,
            )
            rollup_conversion_added(conversion, tz=tz)


DIMENSION_SETS = st.lists(
    st.sampled_from(
        ["day", "week", "month", "offer", "partner", "country", "device", "sub1", "outcome"]
    ),
    max_size=3,
    unique=True,
)


@pytest.mark.django_db
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    specs=st.lists(click_strategy, min_size=3, max_size=30),
    group_by=DIMENSION_SETS,
    metrics=st.lists(st.sampled_from(METRICS), min_size=1, max_size=5, unique=True),
    conversion_side=st.sampled_from([None, "event_type", "status", "rollup"]),
    partner=st.sampled_from([None, "p-a", "p-b"]),
)
def test_report_equals_a_plain_aggregate_of_random_traffic(
    specs, group_by, metrics, conversion_side, partner
):
    brand = BrandFactory(slug=f"rep-{next(COUNTER)}", timezone="Europe/Berlin")
    offers, partners = traffic_world(brand)
    seed(brand, offers, partners, specs)
    if conversion_side == "rollup":  # a shape the rollups serve on both sides
        metrics = [m for m in metrics if m in ROLLUP_METRICS | CLICK_SIDE] or ["conversions"]
        group_by = [g for g in group_by if g in ("day", "week", "month", "offer", "partner")]
    elif conversion_side:  # conversion-only dimensions take conversion metrics only
        metrics = [m for m in metrics if m not in CLICK_ONLY] or ["conversions"]
        group_by = [*group_by[:2], conversion_side]
    if "sub1" in group_by:  # a sub-id report names its partner
        partner = partner or "p-a"
    filters = {"partner": partner} if partner else {}
    actor = make_actor(brand)
    answer = report(
        actor=actor,
        metrics=metrics,
        group_by=group_by,
        filters=filters,
        date_from=dt.date(2026, 3, 2),
        date_to=dt.date(2026, 3, 19),
        limit=1000,
    )
    start, end = period_bounds(answer, BERLIN)
    keys, want = expected(brand, metrics, group_by, start, end, filters)
    assert answer["group_by"] == keys
    assert as_table(answer) == want
    assert answer["truncated"] is False
    assert_rollups_exact(brand)


@pytest.fixture
def berlin(brand):
    brand.timezone = "Europe/Berlin"
    brand.save()
    offers, partners = traffic_world(brand)
    return brand, offers, partners


def click_at(brand, offer, partner, moment, **fields):
    return write_click(
        brand, offer=offer, partner=partner, created_at=moment, outcome="accepted", **fields
    )


@pytest.mark.django_db
def test_day_buckets_follow_the_brand_zone_across_both_dst_changes(berlin, actor):
    brand, (offer, _), (partner, _) = berlin
    # Spring forward 2026-03-29 02:00 CET → 03:00 CEST (UTC+1 → +2); fall back 2026-10-25.
    utc = dt.UTC
    moments = [
        dt.datetime(2026, 3, 28, 22, 59, tzinfo=utc),  # 23:59 CET, Mar 28
        dt.datetime(2026, 3, 28, 23, 0, tzinfo=utc),  # 00:00 CET, Mar 29
        dt.datetime(2026, 3, 29, 21, 59, tzinfo=utc),  # 23:59 CEST, Mar 29
        dt.datetime(2026, 3, 29, 22, 0, tzinfo=utc),  # 00:00 CEST, Mar 30
        dt.datetime(2026, 10, 24, 21, 59, tzinfo=utc),  # 23:59 CEST, Oct 24
        dt.datetime(2026, 10, 24, 22, 0, tzinfo=utc),  # 00:00 CEST, Oct 25
        dt.datetime(2026, 10, 25, 22, 59, tzinfo=utc),  # 23:59 CET, Oct 25 (a 25-hour day)
        dt.datetime(2026, 10, 25, 23, 0, tzinfo=utc),  # 00:00 CET, Oct 26
    ]
    for moment in moments:
        click_at(brand, offer, partner, moment)
    days = {}
    for date_from, date_to in (("2026-03-27", "2026-03-31"), ("2026-10-23", "2026-10-27")):
        answer = report(
            actor=actor,
            metrics=["clicks"],
            group_by=["day"],
            date_from=dt.date.fromisoformat(date_from),
            date_to=dt.date.fromisoformat(date_to),
        )
        days.update({row["day"].isoformat(): row["clicks"] for row in answer["rows"]})
    assert days == {
        "2026-03-28": 1,
        "2026-03-29": 2,
        "2026-03-30": 1,
        "2026-10-24": 1,
        "2026-10-25": 2,
        "2026-10-26": 1,
    }
    weeks = report(
        actor=actor,
        metrics=["clicks"],
        group_by=["week", "month"],
        date_from=dt.date(2026, 3, 27),
        date_to=dt.date(2026, 3, 31),
    )
    # Mar 28–29 are Sat/Sun of the week starting Monday Mar 23; Mar 30 starts the next week.
    assert [
        (r["week"].isoformat(), r["month"].isoformat(), r["clicks"]) for r in weeks["rows"]
    ] == [
        ("2026-03-23", "2026-03-01", 3),
        ("2026-03-30", "2026-03-01", 1),
    ]


@pytest.mark.django_db
def test_compare_previous_carries_previous_values_and_the_change(berlin, actor):
    brand, (offer, _), (partner, other) = berlin
    now = dt.datetime(2026, 5, 10, 12, tzinfo=BERLIN)
    for _ in range(3):
        click_at(brand, offer, partner, now)
    click_at(brand, offer, partner, now - dt.timedelta(days=7))
    click_at(brand, offer, other, now - dt.timedelta(days=7))
    answer = report(
        actor=actor,
        metrics=["clicks", "max_fraud_score"],
        group_by=["partner"],
        date_from=dt.date(2026, 5, 4),
        date_to=dt.date(2026, 5, 10),
        compare_previous=True,
        order_by="-clicks",
    )
    rows = {row["partner"]: row for row in answer["rows"]}
    assert rows["p-a"]["clicks"] == 3
    assert rows["p-a"]["previous"] == {"clicks": 1, "max_fraud_score": None}
    assert rows["p-a"]["change"] == {"clicks": 2, "max_fraud_score": None}
    # A key seen only before still shows, at zero now.
    assert rows["p-b"]["clicks"] == 0
    assert rows["p-b"]["change"]["clicks"] == -1
    assert [row["partner"] for row in answer["rows"]] == ["p-a", "p-b"]


@pytest.mark.django_db
def test_order_by_and_limit(berlin, actor):
    brand, (offer, _), (partner, _) = berlin
    moment = dt.datetime(2026, 5, 10, 12, tzinfo=BERLIN)
    for country, n in (("US", 1), ("DE", 3), ("FR", 2)):
        for _ in range(n):
            click_at(brand, offer, partner, moment, country=country)
    kwargs = {
        "actor": actor,
        "metrics": ["clicks"],
        "group_by": ["country"],
        "date_from": dt.date(2026, 5, 10),
        "date_to": dt.date(2026, 5, 10),
    }
    assert [r["country"] for r in report(**kwargs)["rows"]] == ["DE", "FR", "US"]
    top = report(**kwargs, order_by="-clicks", limit=2)
    assert [r["country"] for r in top["rows"]] == ["DE", "FR"]
    assert top["truncated"] is True


@pytest.mark.django_db
def test_filters_narrow_every_dimension(berlin, actor):
    brand, (offer, eur), (partner, other) = berlin
    moment = dt.datetime(2026, 5, 10, 12, tzinfo=BERLIN)
    click_at(brand, offer, partner, moment, country="US", device_class="mobile", sub2="s")
    click_at(brand, eur, other, moment, country="DE", device_class="desktop")
    write_click(brand, created_at=moment, outcome="unknown_offer")
    day = dt.date(2026, 5, 10)
    base = {"actor": actor, "metrics": ["clicks"], "date_from": day, "date_to": day}
    total = report(**base)["rows"][0]["clicks"]
    assert total == 3
    for filters, want in (
        ({"offer": "o-usd"}, 1),
        ({"partner": "p-b"}, 1),
        ({"country": "DE"}, 1),
        ({"device": "mobile"}, 1),
        ({"sub2": "s", "partner": "p-a"}, 1),
        ({"outcome": "unknown_offer"}, 1),
        ({"outcome": "accepted", "country": "US"}, 1),
    ):
        rows = report(**base, filters=filters)["rows"]
        assert rows == [{"clicks": want}], filters


@pytest.mark.django_db
def test_another_brands_rows_and_ids_are_invisible(berlin, actor, other_brand):
    brand, (offer, _), (partner, _) = berlin
    foreign_offer = OfferFactory(brand=other_brand, slug="theirs")
    foreign_partner = PartnerFactory(brand=other_brand, slug="theirs-p")
    moment = dt.datetime(2026, 5, 10, 12, tzinfo=BERLIN)
    click_at(other_brand, foreign_offer, foreign_partner, moment)
    click_at(brand, offer, partner, moment)
    answer = report(
        actor=actor,
        metrics=["clicks"],
        group_by=["offer"],
        date_from=dt.date(2026, 5, 10),
        date_to=dt.date(2026, 5, 10),
    )
    assert as_table(answer) == {("o-usd",): {"clicks": 1}}
    with pytest.raises(NotFoundError):
        report(actor=actor, metrics=["clicks"], filters={"offer": "theirs"})
    with pytest.raises(NotFoundError):
        report(actor=actor, metrics=["clicks"], filters={"partner": "theirs-p"})


GET_REPORT = OPERATIONS["get_report"]


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({}, "metrics"),
        ({"metrics": []}, "metrics"),
        ({"metrics": ["bogus"]}, "metrics"),
        ({"metrics": ["clicks"], "group_by": ["day", "week", "month", "offer"]}, "group_by"),
        ({"metrics": ["clicks"], "group_by": ["planet"]}, "group_by"),
        ({"metrics": ["clicks"], "order_by": "bogus"}, "order_by"),
        ({"metrics": ["clicks"], "limit": 10**6}, "limit"),
        ({"metrics": ["clicks"], "limit": 0}, "limit"),
        ({"metrics": ["clicks"], "days": 400}, "days"),
        ({"metrics": ["clicks"], "filters": {"planet": "x"}}, "filters"),
        ({"metrics": ["clicks"], "filters": {"outcome": "nope"}}, "filters"),
        ({"metrics": ["clicks"], "brand": 2}, "brand"),
        ({"metrics": "clicks"}, "metrics"),
    ],
)
def test_hostile_input_is_refused_naming_the_field(arguments, field):
    with pytest.raises(serializers.ValidationError) as caught:
        GET_REPORT.validate(arguments)
    assert field in caught.value.detail


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"metrics": ["clicks"], "group_by": ["day", "day"]}, "group_by"),
        ({"metrics": ["clicks"], "group_by": ["status"]}, "metrics"),
        ({"metrics": ["epc"], "filters": {"event_type": "sale"}}, "metrics"),
        ({"metrics": ["clicks"], "order_by": "-revenue"}, "order_by"),
        ({"metrics": ["clicks"], "group_by": ["sub1"]}, "filters"),  # whose sub ids?
        ({"metrics": ["conversions"], "filters": {"sub3": "x"}}, "filters"),
        (
            {"metrics": ["clicks"], "group_by": ["day"], "compare_previous": True},
            "compare_previous",
        ),
        (
            {
                "metrics": ["clicks"],
                "date_from": dt.date(2026, 1, 1),
                "date_to": dt.date(2026, 6, 1),
            },
            "date_from",
        ),
    ],
)
def test_contradictory_arguments_are_refused(actor, arguments, field):
    with pytest.raises(ValidationError) as caught:
        report(actor=actor, **arguments)
    assert field in caught.value.fields


@pytest.mark.django_db
def test_rest_and_mcp_answer_the_same_rows(berlin, api):
    brand, (offer, _), (partner, _) = berlin
    click_at(brand, offer, partner, dt.datetime.now(dt.UTC))
    body = {"metrics": ["clicks", "revenue"], "group_by": ["partner"], "days": 1}
    response = api.post("/api/v1/stats/report/", body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["rows"] == [
        {"partner": "p-a", "currency": "USD", "clicks": 1, "revenue": "0.00"}
    ]
    bad = api.post(
        "/api/v1/stats/report/", {**body, "group_by": ["a", "b", "c", "d"]}, format="json"
    )
    assert bad.status_code == 422
    assert "group_by" in bad.json()["error"]["fields"]
    foreign = api.post(
        "/api/v1/stats/report/", {**body, "filters": {"offer": "nope"}}, format="json"
    )
    assert foreign.status_code == 404
