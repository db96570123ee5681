"""get_report benchmark: p95 of report shapes over 10M clicks (90 days of traffic; reports over
the last 30), each served as get_report serves it (rollups where they hold the answer) and
again forced onto the raw rows (the aggregate it replaces), with get_offer_stats from the daily
rollups as the baseline of the same run. Targets (issue 14): p95 ≤ 300 ms without a sub-id
dimension, ≤ 1 s with one.

    BENCH_CLICKS=10000000 .venv/bin/python bench/report_bench.py
Uses DATABASE_URL (PostgreSQL); the traffic is written once per size (bench/report_seed.py,
a few minutes for 10M) and kept; results go to bench/results/report.{json,md}.
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
from report_seed import seed_sql  # noqa: E402

from audit.actor import Actor  # noqa: E402
from brands.models import Brand  # noqa: E402
from conversions import reports  # noqa: E402
from conversions.models import Click, ClickRollup, Conversion  # noqa: E402
from conversions.reports import report  # noqa: E402
from conversions.stats import performance, resolve_period  # noqa: E402

CLICKS = int(os.environ.get("BENCH_CLICKS", "10000000"))
RUNS = int(os.environ.get("BENCH_RUNS", "20"))
RAW_RUNS = int(os.environ.get("BENCH_RAW_RUNS", "3"))
SLUG = f"report-bench-v3-{CLICKS}"


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
        for i in range(20)
    )
    Partner.objects.bulk_create(
        Partner(brand=brand, slug=f"p{i}", name=f"Partner {i}") for i in range(200)
    )
    started = time.perf_counter()
    print(f"seeding {CLICKS:,} clicks (once per size)", flush=True)
    seed_sql(brand=brand, clicks=CLICKS, say=lambda line: print(line, flush=True))
    print(f"seeded in {time.perf_counter() - started:.0f} s", flush=True)
    return brand


class raw_only:  # noqa: N801 - used as a context manager, named like one
    """Within it, get_report reads raw rows only: the aggregate the rollups replace."""

    NAMES = ("click_rollup_served", "conversion_rollup_served")

    def __enter__(self) -> None:
        namespace = vars(reports)
        self.saved = {name: namespace[name] for name in self.NAMES}
        namespace.update(dict.fromkeys(self.NAMES, lambda *args: False))

    def __exit__(self, *exc: object) -> None:
        vars(reports).update(self.saved)


def p95(fn: Callable[[], Any], runs: int = RUNS) -> tuple[float, float, Any]:
    samples: list[float] = []
    result = None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, round(0.95 * len(samples)) - 1)], result


def main() -> None:
    call_command("migrate", verbosity=0)
    brand = seeded_brand()
    actor = Actor.system(brand_id=brand.pk, brand_slug=brand.slug, name="bench")
    money = ["clicks", "billable_clicks", "conversions", "revenue", "payout", "epc", "cvr"]

    def run(**arguments: Any) -> Callable[[], Any]:
        return lambda: report(actor=actor, days=30, **arguments)

    cases: list[tuple[str, Callable[[], Any]]] = [
        ("by offer", run(metrics=money, group_by=["offer"])),
        ("by day, partner", run(metrics=money, group_by=["day", "partner"], limit=1000)),
        ("by partner, offer, compare_previous", run(
            metrics=money, group_by=["partner", "offer"], compare_previous=True, limit=1000
        )),
        ("clicks by country, device", run(
            metrics=["clicks", "billable_clicks", "refused_clicks"], group_by=["country", "device"]
        )),
        ("clicks by outcome, partner", run(
            metrics=["clicks", "refused_clicks"], group_by=["outcome", "partner"], limit=1000
        )),
        ("money by country", run(metrics=money, group_by=["country"])),
        ("by status (conversions)", run(
            metrics=["conversions", "revenue", "avg_fraud_score"], group_by=["status"]
        )),
        ("by sub1 of the top partner (sub-id dimension)", run(
            metrics=money, group_by=["sub1"], filters={"partner": "p0"}, limit=100
        )),
    ]  # fmt: skip
    results: list[dict[str, Any]] = []
    baseline = lambda: performance(  # noqa: E731
        actor=actor, by="offer", period=resolve_period(actor=actor, days=30)
    )
    median, high, _ = p95(baseline)
    results.append({"query": "get_offer_stats (baseline)", "median_ms": round(median, 1),
                    "p95_ms": round(high, 1), "raw_p95_ms": None})  # fmt: skip
    print(results[-1], flush=True)
    for name, fn in cases:
        median, high, _ = p95(fn)
        with raw_only():
            _, raw_high, _ = p95(fn, RAW_RUNS)
        results.append({"query": name, "median_ms": round(median, 1), "p95_ms": round(high, 1),
                        "raw_p95_ms": round(raw_high, 1)})  # fmt: skip
        print(results[-1], flush=True)
    counts = {
        "clicks": Click.objects.filter(brand=brand).count(),
        "conversions": Conversion.objects.filter(brand=brand).count(),
        "click_rollup_rows": ClickRollup.objects.filter(brand=brand).count(),
    }
    machine = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "database": connection.vendor,
    }
    base = results[0]["p95_ms"] or 1
    lines = [
        f"get_report benchmark — {counts['clicks']:,} clicks over 90 days, "
        f"{counts['conversions']:,} conversions, {counts['click_rollup_rows']:,} click rollup "
        f"rows; reports over the last 30 days, {RUNS} runs each ({RAW_RUNS} forced onto raw "
        f"rows) ({machine['database']}, {machine['cpus']} CPUs)",
        "",
        "| report | median (ms) | p95 (ms) | p95 ÷ baseline | raw rows p95 (ms) |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {r['query']} | {r['median_ms']} | {r['p95_ms']} | {r['p95_ms'] / base:.1f} "
            f"| {r['raw_p95_ms'] if r['raw_p95_ms'] is not None else '—'} |"
            for r in results
        ),
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
