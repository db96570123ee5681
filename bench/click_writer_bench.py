"""The click writer in process: what writing queued clicks costs a worker, per click, as
batches of ``TRCKER_QUEUE_BATCH`` (500) clicks spread over 20 offers, 200 partners, 30
countries, 3 devices and 5 outcomes go through ``conversions.click_store.write_clicks``
(insert, daily rollups and, since issue 14, click rollups). Prints wall and worker-CPU
milliseconds per click, median over the batches. Compare two trees in the same window:

    DATABASE_URL=postgres://…/trcker_bench_writer .venv/bin/python bench/click_writer_bench.py
It writes into a brand of its own (created on first use) in that database.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import sys
import time
import zoneinfo
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trcker_site.settings")
os.environ.setdefault("DEBUG", "1")

from benchdb import ensure_postgres_database  # noqa: E402

ensure_postgres_database(os.environ.get("DATABASE_URL", ""))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from brands.models import Brand  # noqa: E402
from conversions.click_store import write_clicks  # noqa: E402
from conversions.models import Click  # noqa: E402
from core.ids import new_click_id  # noqa: E402
from offers.models import Offer  # noqa: E402
from partners.models import Partner  # noqa: E402

BATCHES = int(os.environ.get("BENCH_BATCHES", "40"))
BATCH = int(os.environ.get("TRCKER_QUEUE_BATCH", "500"))
COUNTRIES = ["US", "GB", "DE", "FR", "CA", "AU", "NL", "ES", "IT", "SE"] * 3
OUTCOMES = ["accepted"] * 12 + ["geo_blocked", "cap_reached", "fraud_blocked", "offer_paused"]


def bench_brand() -> Brand:
    brand = Brand.objects.filter(slug="click-writer-bench").first()
    if brand is None:
        call_command(
            "create_brand",
            "click-writer-bench",
            "--name",
            "Writer bench",
            stdout=open(os.devnull, "w"),  # noqa: SIM115
        )
        brand = Brand.objects.get(slug="click-writer-bench")
        Offer.objects.bulk_create(
            Offer(brand=brand, slug=f"o{i}", name=f"O{i}", currency="USD", payout_amount=1)
            for i in range(20)
        )
        Partner.objects.bulk_create(
            Partner(brand=brand, slug=f"p{i}", name=f"P{i}") for i in range(200)
        )
    return brand


def main() -> None:
    call_command("migrate", verbosity=0)
    brand = bench_brand()
    offers = list(Offer.objects.filter(brand=brand))
    partners = list(Partner.objects.filter(brand=brand))
    tz = zoneinfo.ZoneInfo(brand.timezone)
    rng = random.Random(11)  # noqa: S311 - synthetic data
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(BATCHES):
        now = timezone.now()
        batch = [
            Click(
                id=new_click_id(),
                brand=brand,
                offer=rng.choice(offers),
                partner=partners[int(200 * rng.random() ** 3)],
                created_at=now - dt.timedelta(seconds=rng.randint(0, 3600)),
                country=rng.choice(COUNTRIES),
                device_class=rng.choice(["mobile", "desktop", "tablet"]),
                outcome=rng.choice(OUTCOMES),
            )
            for _ in range(BATCH)
        ]
        items = [(click, tz, "USD") for click in batch]
        started, started_cpu = time.perf_counter(), time.process_time()
        write_clicks(items)
        wall.append((time.perf_counter() - started) * 1000 / BATCH)
        cpu.append((time.process_time() - started_cpu) * 1000 / BATCH)
    print(
        {
            "clicks": BATCHES * BATCH,
            "wall_ms_per_click": round(statistics.median(wall), 4),
            "worker_cpu_ms_per_click": round(statistics.median(cpu), 4),
        },
        flush=True,
    )


if __name__ == "__main__":
    main()
