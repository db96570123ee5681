"""get_report benchmark: p95 of several report shapes over 30 days, served from raw rows within
the 92-day bound (conversions.reports), next to get_offer_stats from the daily rollups.

    BENCH_CLICKS=1000000 .venv/bin/python bench/report_bench.py
Uses DATABASE_URL (PostgreSQL); results go to bench/results/report.{json,md}.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trcker_site.settings")
os.environ.setdefault("DEBUG", "1")

from benchdb import ensure_postgres_database  # noqa: E402

ensure_postgres_database(os.environ.get("DATABASE_URL", ""))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from audit.actor import Actor  # noqa: E402
from brands.models import Brand  # noqa: E402
from conversions.models import Click, Conversion  # noqa: E402
from conversions.reports import report  # noqa: E402
from conversions.stats import performance, resolve_period  # noqa: E402
from demo.traffic import seed_volume  # noqa: E402

CLICKS = int(os.environ.get("BENCH_CLICKS", "1000000"))
RUNS = int(os.environ.get("BENCH_RUNS", "20"))
SLUG = f"report-bench-{CLICKS}"


def seeded_brand() -> Brand:
    brand = Brand.objects.filter(slug=SLUG).first()
    if brand is not None:
        return brand
    call_command("create_brand", SLUG, "--name", "Report bench", stdout=open(os.devnull, "w"))  # noqa: SIM115
    brand = Brand.objects.get(slug=SLUG)
    from offers.models import Offer
    from partners.models import Partner

    Offer.objects.bulk_create(
        Offer(
            brand=brand,
            slug=f"o{i}",
            name=f"Offer {i}",
            currency="USD",
            destination_url="https://shop.example.com/",
            payout_amount=10,
        )
        for i in range(10)
    )
    Partner.objects.bulk_create(
        Partner(brand=brand, slug=f"p{i}", name=f"Partner {i}") for i in range(50)
    )
    started = time.perf_counter()
    made, converted = seed_volume(brand=brand, clicks=CLICKS)
    print(f"seeded {made} clicks, {converted} conversions in {time.perf_counter() - started:.0f} s")
    return brand


def spread(brand: Brand) -> None:
    # seed_volume writes one country and no sub ids: spread them so grouping has real
    # cardinality (4 countries, 3 devices, 1,000 sub1 values).
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE conversions_click SET"
            " country = (ARRAY['US','DE','FR','GB'])[1 + (abs(hashtext(id)) %% 4)],"
            " device_class = (ARRAY['desktop','mobile','tablet'])[1 + (abs(hashtext(id)) %% 3)],"
            " sub1 = 's' || (abs(hashtext(id)) %% 1000) WHERE brand_id = %s",
            [brand.pk],
        )
        cursor.execute(
            "UPDATE conversions_conversion SET sub1 = 's' || (abs(hashtext(click_id)) %% 1000)"
            " WHERE brand_id = %s",
            [brand.pk],
        )
        cursor.execute("ANALYZE conversions_click; ANALYZE conversions_conversion")


def p95(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    samples: list[float] = []
    result = None
    for _ in range(RUNS):
        started = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, round(0.95 * len(samples)) - 1)], result


def main() -> None:
    call_command("migrate", verbosity=0)
    brand = seeded_brand()
    if not Click.objects.filter(brand=brand).exclude(sub1="").exists():
        spread(brand)
    actor = Actor.system(brand_id=brand.pk, brand_slug=brand.slug, name="bench")
    money = ["clicks", "billable_clicks", "conversions", "revenue", "payout", "epc", "cvr"]
    cases: list[tuple[str, Callable[[], Any]]] = [
        ("by offer", lambda: report(actor=actor, metrics=money, group_by=["offer"], days=30)),
        (
            "by day, partner",
            lambda: report(actor=actor, metrics=money, group_by=["day", "partner"], days=30),
        ),
        (
            "by country, device",
            lambda: report(actor=actor, metrics=money, group_by=["country", "device"], days=30),
        ),
        (
            "by status (conversions)",
            lambda: report(
                actor=actor,
                metrics=["conversions", "revenue", "avg_fraud_score"],
                group_by=["status"],
                days=30,
            ),
        ),
        (
            "by sub1",
            lambda: report(actor=actor, metrics=money, group_by=["sub1"], days=30, limit=1000),
        ),
        (
            "by offer, compare_previous",
            lambda: report(
                actor=actor, metrics=money, group_by=["offer"], days=30, compare_previous=True
            ),
        ),
        (
            "get_offer_stats from rollups (baseline)",
            lambda: performance(
                actor=actor, by="offer", period=resolve_period(actor=actor, days=30)
            ),
        ),
    ]
    results = []
    for name, fn in cases:
        median, high, _ = p95(fn)
        results.append({"query": name, "median_ms": round(median, 1), "p95_ms": round(high, 1)})
        print(results[-1], flush=True)
    counts = {
        "clicks": Click.objects.filter(brand=brand).count(),
        "conversions": Conversion.objects.filter(brand=brand).count(),
    }
    machine = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "database": connection.vendor,
    }
    lines = [
        f"get_report benchmark — {counts['clicks']:,} clicks, {counts['conversions']:,} "
        f"conversions, 30 days, {RUNS} runs each ({machine['database']}, {machine['cpus']} CPUs)",
        "",
        "| report | median (ms) | p95 (ms) |",
        "|---|---:|---:|",
        *(f"| {r['query']} | {r['median_ms']} | {r['p95_ms']} |" for r in results),
    ]
    text = "\n".join(lines)
    print(text)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(
        json.dumps({"counts": counts, "machine": machine, "results": results}, indent=2)
    )
    (out / "report.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
