"""Stats benchmark: get_top_publishers and get_offer_stats for 30 days, from the daily rollups
versus the same numbers computed from raw rows. Median of several runs each.

    make bench                          # 1,000,000 clicks / ~100,000 conversions
    BENCH_CLICKS=100000 make bench      # smaller
Uses DATABASE_URL (PostgreSQL recommended); results go to bench/results/.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
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
from django.db.models import Count, Q, Sum  # noqa: E402

from audit.actor import Actor  # noqa: E402
from brands.models import Brand  # noqa: E402
from conversions.models import Click, ClickOutcome, Conversion, ConversionStatus  # noqa: E402
from conversions.stats import performance, resolve_period, top_publishers  # noqa: E402
from demo.traffic import seed_volume  # noqa: E402

CLICKS = int(os.environ.get("BENCH_CLICKS", "1000000"))
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
SLUG = f"bench-{CLICKS}"


def raw_performance(actor: Actor, by: str, period) -> list[dict]:
    """The same report straight from raw rows (what the rollups replace)."""
    key = f"{by}_id"
    clicks = dict(
        Click.objects.filter(
            brand_id=actor.brand_id,
            created_at__gte=period.start,
            created_at__lt=period.end,
            outcome=ClickOutcome.ACCEPTED,
            is_billable=True,
        )
        .values_list(key)
        .annotate(n=Count("pk"))
        .values_list(key, "n")
    )
    not_rejected = ~Q(status=ConversionStatus.REJECTED)
    rows = (
        Conversion.objects.filter(
            brand_id=actor.brand_id, created_at__gte=period.start, created_at__lt=period.end
        )
        .values(key, "currency")
        .annotate(
            n=Count("pk", filter=not_rejected),
            payout_sum=Sum("payout", filter=not_rejected),
            revenue_sum=Sum("revenue", filter=not_rejected),
            **{f"{s}_n": Count("pk", filter=Q(status=s)) for s in ConversionStatus.values},
        )
    )
    result = []
    for row in rows:
        n_clicks = clicks.get(row[key], 0)
        payout = row["payout_sum"] or Decimal(0)
        result.append(
            {
                key: row[key],
                "clicks": n_clicks,
                "conversions": row["n"],
                "payout": payout,
                "revenue": row["revenue_sum"] or Decimal(0),
                "epc": payout / n_clicks if n_clicks else 0,
            }
        )
    return result


def totals(rows: list[dict]) -> tuple[int, int, Decimal]:
    return (
        sum(row["clicks"] for row in rows),
        sum(row["conversions"] for row in rows),
        sum((Decimal(row["payout"]) for row in rows), Decimal(0)).quantize(Decimal("0.01")),
    )


def timed(fn: Callable[[], list[dict[str, Any]]]) -> tuple[float, list[dict[str, Any]]]:
    samples: list[float] = []
    result: list[dict[str, Any]] = []
    for _ in range(RUNS):
        started = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), result


def main() -> None:
    call_command("migrate", verbosity=0)
    brand = Brand.objects.filter(slug=SLUG).first()
    if brand is None:
        call_command("create_brand", SLUG, "--name", "Benchmark", stdout=open(os.devnull, "w"))  # noqa: SIM115
        brand = Brand.objects.get(slug=SLUG)
        from offers.models import Offer
        from partners.models import Partner

        Offer.objects.bulk_create(
            [
                Offer(
                    brand=brand,
                    slug=f"o{i}",
                    name=f"Offer {i}",
                    currency="USD",
                    destination_url="https://shop.example.com/",
                    payout_amount=10,
                )
                for i in range(10)
            ]
        )
        Partner.objects.bulk_create(
            [Partner(brand=brand, slug=f"p{i}", name=f"Partner {i}") for i in range(50)]
        )
        started = time.perf_counter()
        made, converted = seed_volume(brand=brand, clicks=CLICKS)
        seconds = time.perf_counter() - started
        print(f"seeded {made} clicks, {converted} conversions in {seconds:.0f} s")
    actor = Actor.system(brand_id=brand.pk, brand_slug=brand.slug, name="bench")
    period = resolve_period(actor=actor, days=30)
    results = []
    cases = [
        (
            "get_top_publishers (revenue)",
            lambda: top_publishers(actor=actor, period=period, metric="revenue", limit=10),
            lambda: sorted(
                raw_performance(actor, "partner", period), key=lambda r: r["revenue"], reverse=True
            )[:10],
        ),
        (
            "get_offer_stats",
            lambda: performance(actor=actor, by="offer", period=period),
            lambda: raw_performance(actor, "offer", period),
        ),
    ]
    for name, from_rollups, from_raw in cases:
        rollup_ms, rollup_rows = timed(from_rollups)
        raw_ms, raw_rows = timed(from_raw)
        # A fast wrong answer is worth nothing: both paths must report the same figures.
        if totals(rollup_rows) != totals(raw_rows):
            raise SystemExit(f"{name}: rollups {totals(rollup_rows)} != raw {totals(raw_rows)}")
        results.append(
            {
                "query": name,
                "rollups_ms": round(rollup_ms, 2),
                "raw_ms": round(raw_ms, 2),
                "speedup": round(raw_ms / rollup_ms, 1) if rollup_ms else None,
                "rows": len(rollup_rows),
            }
        )
    counts = {
        "clicks": Click.objects.filter(brand=brand).count(),
        "conversions": Conversion.objects.filter(brand=brand).count(),
    }
    machine = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "database": connection.vendor,
    }
    lines = [
        f"Stats benchmark — {counts['clicks']:,} clicks, {counts['conversions']:,} conversions, "
        "30 days, "
        f"median of {RUNS} runs ({machine['database']}, {machine['cpus']} CPUs)",
        "",
        "| query | from rollups (ms) | from raw rows (ms) | raw ÷ rollups |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r['query']} | {r['rollups_ms']} | {r['raw_ms']} | {r['speedup']}× |" for r in results
    ]
    report = "\n".join(lines)
    print(report)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "stats.json").write_text(
        json.dumps(
            {"counts": counts, "machine": machine, "runs": RUNS, "results": results}, indent=2
        )
    )
    (out / "stats.md").write_text(report + "\n")


if __name__ == "__main__":
    main()
