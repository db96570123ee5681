"""get_report reads what the rollups hold from them: conversion metrics by time, offer and
partner from the daily rollups, click metrics by every dimension but sub ids from the click
rollups."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversions.reports import REPORT_WORK_MEM, report
from tests.conversions.test_reports import seed, traffic_world


@pytest.mark.django_db
def test_conversion_metrics_by_time_offer_partner_come_from_the_rollups(brand, actor):
    brand.timezone = "Europe/Berlin"
    brand.save()
    offers, partners = traffic_world(brand)
    specs = [
        {
            "hour": 30,
            "offer": 0,
            "partner": 0,
            "outcome": "accepted",
            "billable": True,
            "country": "US",
            "device": "",
            "sub1": "",
            "test": False,
            "conversion": {
                "status": "approved",
                "score": 70,
                "payout": Decimal("4.00"),
                "revenue": Decimal("9.50"),
                "event": "sale",
                "later": 1,
                "sub1": "",
            },
        }
    ]
    seed(brand, offers, partners, specs)
    arguments = {
        "actor": actor,
        "metrics": ["conversions", "revenue", "flagged_conversions"],
        "group_by": ["week", "partner"],
        "filters": {"offer": "o-usd"},
        "date_from": dt.date(2026, 3, 1),
        "date_to": dt.date(2026, 3, 5),
    }
    with CaptureQueriesContext(connection) as queries:
        answer = report(**arguments)
    sql = " ".join(query["sql"] for query in queries.captured_queries)
    assert "conversions_dailyrollup" in sql
    assert "conversions_conversion" not in sql
    assert answer["rows"] == [
        {
            "week": dt.date(2026, 3, 2),  # Mar 2, 07:00 Berlin is a Monday
            "partner": "p-a",
            "currency": "USD",
            "conversions": 1,
            "revenue": Decimal("9.50"),
            "flagged_conversions": 1,
        }
    ]
    # A raw-only dimension reads the raw rows instead.
    with CaptureQueriesContext(connection) as queries:
        report(**{**arguments, "group_by": ["country"]})
    assert "conversions_conversion" in " ".join(q["sql"] for q in queries.captured_queries)


def read_tables(**arguments):
    with CaptureQueriesContext(connection) as queries:
        report(**arguments)
    sql = " ".join(query["sql"] for query in queries.captured_queries)
    return {
        table
        for table in ("clickrollup", "dailyrollup", "click", "conversion")
        if f'"conversions_{table}"' in sql
    }


@pytest.mark.django_db
def test_click_metrics_come_from_the_click_rollups_but_by_sub_id(brand, actor):
    traffic_world(brand)
    period = {"date_from": dt.date(2026, 3, 1), "date_to": dt.date(2026, 3, 5)}
    clicks = ["clicks", "billable_clicks", "refused_clicks"]
    for group_by in (["offer", "country"], ["day", "device", "outcome"], ["partner"]):
        tables = read_tables(actor=actor, metrics=clicks, group_by=group_by, **period)
        assert tables == {"clickrollup"}, group_by
    filtered = read_tables(
        actor=actor, metrics=clicks, group_by=["week"], filters={"country": "US"}, **period
    )
    assert filtered == {"clickrollup"}
    # EPC and CVR: billable clicks from the click rollups, payout from the daily rollups.
    money = read_tables(actor=actor, metrics=["epc", "cvr"], group_by=["offer"], **period)
    assert money == {"clickrollup", "dailyrollup"}
    by_sub = read_tables(
        actor=actor, metrics=clicks, group_by=["sub1"], filters={"partner": "p-a"}, **period
    )
    assert by_sub == {"click"}
    by_country = read_tables(actor=actor, metrics=["epc"], group_by=["country"], **period)
    # A conversion's country is its click's, copied at attribution: no join with the clicks.
    assert by_country == {"clickrollup", "conversion"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("group_by", "filters", "level"),
    [
        (["day", "partner"], {}, 3),  # offer and partner: refusals counted, not their reasons
        (["offer"], {}, 3),
        (["offer", "outcome"], {"partner": "p-a"}, 2),  # with the outcome: without country, device
        (["outcome"], {}, 2),
        (["country", "device"], {}, 1),  # without the partner
        (["week", "offer"], {"country": "US"}, 1),
        (["partner", "country"], {}, 0),  # both: every dimension
        (["device"], {"partner": "p-a"}, 0),
    ],
)
def test_each_report_reads_the_smallest_click_rollup_level_that_holds_it(
    brand, actor, group_by, filters, level
):
    traffic_world(brand)
    with CaptureQueriesContext(connection) as queries:
        report(
            actor=actor,
            metrics=["clicks", "refused_clicks"],
            group_by=group_by,
            filters=filters,
            date_from=dt.date(2026, 3, 1),
            date_to=dt.date(2026, 3, 5),
        )
    (sql,) = [q["sql"] for q in queries.captured_queries if "conversions_clickrollup" in q["sql"]]
    assert f'"conversions_clickrollup"."level" = {level}' in sql


@pytest.mark.django_db
def test_a_sub_id_report_filters_raw_rows_by_partner_id_with_room_to_hash(brand, actor):
    """The partner reaches the raw clicks as an id, not a join on its slug (which left
    PostgreSQL guessing the row count and sorting a top partner's month on disk), and on
    PostgreSQL the report's queries run with REPORT_WORK_MEM for this transaction only."""
    offers, partners = traffic_world(brand)
    click = {"hour": 30, "offer": 0, "partner": 0, "outcome": "accepted", "billable": True}
    click.update(country="US", device="", sub1="email", test=False, conversion=None)
    seed(brand, offers, partners, [click])
    with CaptureQueriesContext(connection) as queries:
        rows = report(
            actor=actor,
            metrics=["clicks", "conversions"],
            group_by=["sub1"],
            filters={"partner": "p-a"},
            date_from=dt.date(2026, 3, 1),
            date_to=dt.date(2026, 3, 5),
        )["rows"]
    assert [(row["sub1"], row["clicks"]) for row in rows] == [("email", 1)]
    grouped = [q["sql"] for q in queries.captured_queries if "GROUP BY" in q["sql"]]
    assert len(grouped) == 2  # raw clicks, raw conversions
    assert all('"partner_id" = ' in sql and "partners_partner" not in sql for sql in grouped)
    memory = [q["sql"] for q in queries.captured_queries if "set_config('work_mem'" in q["sql"]]
    # is_local: the setting ends with the report's transaction (SET LOCAL), never the session's
    local = f"set_config('work_mem', '{REPORT_WORK_MEM}', true)"
    assert memory == ([f"SELECT {local}"] if connection.vendor == "postgresql" else [])
