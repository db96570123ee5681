"""HTTP benchmark: the production stack on loopback against bare-Django baselines.

Starts gunicorn (WEB_CONCURRENCY workers × WEB_THREADS threads; by default as `make run`:
two processes per CPU, two threads each) and a worker process (run_workers, which writes the
queued clicks) on PostgreSQL + Redis, then drives each endpoint and its baseline side by
side with a load generator running in separate processes (one HTTP/1.1 connection per
request), alternating rounds; reports the median of the rounds.

- click: GET /c/<brand>/<offer>/<partner> versus a bare view answering the same 302, and the
  same click with a deep link (url= on a host the offer allows);
- postback: a signed inbound postback (signature, dedup, fraud scoring, audit, outbox) versus
  a bare view doing one single-row INSERT, and the same postback reporting its sale in euros
  on the dollar offer (converted at the brand's rate, cached after the first);
- memory: resident set size of each gunicorn worker after the run.

Environment: DATABASE_URL (PostgreSQL; default the local `trcker_bench_http` database),
REDIS_URL (default db 14 of the local Redis), BENCH_SECONDS per round (5), BENCH_ROUNDS (3),
BENCH_CLIENTS concurrent client processes (8), WEB_CONCURRENCY (2 × CPUs), WEB_THREADS (2),
BENCH_ONLY (click or postback: one endpoint and its baseline). Results are printed and
saved to bench/results/http.{json,md}.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import multiprocessing
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchdb import bench_secret_key, ensure_postgres_database  # noqa: E402

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
WORKERS = int(os.environ.get("WEB_CONCURRENCY", str(2 * (os.cpu_count() or 1))))
THREADS = int(os.environ.get("WEB_THREADS", "2"))
BRAND = "bench-http"
CLICK_POOL = 2000
DEEP_LINK = urlencode({"sub1": "bench", "url": "https://shop.example.com/shoes/boots?size=9"})

ENV = {
    **os.environ,
    "DATABASE_URL": os.environ.get(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/trcker_bench_http"
    ),
    "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
    "SECRET_KEY": bench_secret_key(ROOT / "bench" / "results"),
    "DEBUG": "0",
    "ALLOWED_HOSTS": "127.0.0.1",
    "TRCKER_BENCH_URLS": "1",
    # The benchmark measures the server, not its per-key limits.
    "TRCKER_API_RATE": "1000000/s",
    "DJANGO_SETTINGS_MODULE": "trcker_site.settings",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare() -> dict:
    """Database, brand, offer, partner, signing secret and a pool of clicks to convert."""
    os.environ.update(ENV)
    ensure_postgres_database(ENV["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from audit.actor import Actor
    from bench.views import create_bare_insert_table
    from brands.fx_services import fx_rate_set
    from brands.models import Brand
    from conversions.models import Click, ClickOutcome
    from core.ids import new_click_id
    from offers.models import Offer
    from offers.services import offer_rotate_postback_secret
    from partners.models import Partner, PartnerStatus

    if connection.vendor != "postgresql":
        raise SystemExit("the HTTP benchmark needs PostgreSQL (set DATABASE_URL)")
    call_command("migrate", verbosity=0)
    create_bare_insert_table()
    brand = Brand.objects.filter(slug=BRAND).first()
    if brand is None:
        with open(os.devnull, "w") as quiet:
            call_command("create_brand", BRAND, "--name", "HTTP benchmark", stdout=quiet)
        brand = Brand.objects.get(slug=BRAND)
    offer, _ = Offer.objects.get_or_create(
        brand=brand,
        slug="o",
        defaults={
            "name": "Offer",
            "currency": "USD",
            "destination_url": "https://shop.example.com/landing?click_id={CLICK_ID}",
            "payout_amount": 10,
        },
    )
    # Deep links (url=) on the shop's host: the "click redirect (deep link)" row.
    Offer.objects.filter(pk=offer.pk).update(deep_link_hosts=["shop.example.com"])
    partner, _ = Partner.objects.get_or_create(
        brand=brand, slug="p", defaults={"name": "Partner", "status": PartnerStatus.ACTIVE}
    )
    actor = Actor.system(brand_id=brand.pk, brand_slug=brand.slug, name="bench")
    _, secret = offer_rotate_postback_secret(actor=actor, offer=offer, grace_seconds=0)
    clicks = [
        Click(
            id=new_click_id(),
            brand=brand,
            offer=offer,
            partner=partner,
            created_at=timezone.now(),
            outcome=ClickOutcome.ACCEPTED,
            device_class="desktop",
            country="US",
        )
        for _ in range(CLICK_POOL)
    ]
    Click.objects.bulk_create(clicks)
    # The euro postbacks convert at the brand's own rate (no ECB file needed).
    fx_rate_set(
        actor=actor, base="EUR", quote="USD", day=dt.date(2000, 1, 1), rate=Decimal("1.1587")
    )
    return {"secret": secret, "clicks": [click.id for click in clicks]}


def signed_postback_path(secret: str, click_id: str, txn_id: str, currency: str = "USD") -> str:
    from conversions.postbacks import canonical_query, sign  # Django is set up by now

    params = {"click_id": click_id, "txn_id": txn_id, "amount": "49.90", "currency": currency}
    ts = int(time.time())
    sig = sign(secret, ts, canonical_query(list(params.items())).encode())
    return f"/api/postback/{BRAND}/o?{urlencode({**params, 'ts': ts, 'sig': sig})}"


def client(job: dict, results: multiprocessing.Queue) -> None:
    """One load-generating process: requests back to back until the deadline."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + job["seconds"]
    n = 0
    while time.perf_counter() < deadline:
        n += 1
        if job["kind"] == "postback":
            txn = f"{job['tag']}-{n}"
            path = signed_postback_path(
                job["secret"],
                job["clicks"][n % len(job["clicks"])],
                txn,
                job.get("currency", "USD"),
            )
        elif job["kind"] == "bare_insert":
            path = f"/bench/bare-insert?txn_id={job['tag']}-{n}&amount=49.90"
        else:
            path = job["path"]
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", job["port"], timeout=30)
        try:
            conn.request(
                "POST" if "body" in job else "GET",
                path,
                body=job.get("body"),
                headers={"User-Agent": "Mozilla/5.0 (X11; Linux) bench", **job.get("headers", {})},
            )
            response = conn.getresponse()
            response.read()
            status = response.status
        except OSError:
            status = 0
        finally:
            conn.close()
        latencies.append((time.perf_counter() - started) * 1000)
        statuses[status] = statuses.get(status, 0) + 1
    results.put({"latencies": latencies, "statuses": statuses})


def run_round(kind: str, port: int, tag: str, extra: dict) -> dict:
    results: multiprocessing.Queue = multiprocessing.Queue()
    jobs = [
        {"kind": kind, "port": port, "seconds": SECONDS, "tag": f"{tag}-c{i}", **extra}
        for i in range(CLIENTS)
    ]
    procs = [multiprocessing.Process(target=client, args=(job, results)) for job in jobs]
    started = time.perf_counter()
    for proc in procs:
        proc.start()
    collected = [results.get(timeout=SECONDS + 120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    elapsed = time.perf_counter() - started
    latencies = sorted(x for c in collected for x in c["latencies"])
    statuses: dict = {}
    for c in collected:
        for status, count in c["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    return {
        "rps": len(latencies) / elapsed,
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "statuses": statuses,
    }


def worker_rss_mb(master_pid: int) -> list[float]:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    sizes = []
    for pid in children:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(round(int(line.split()[1]) / 1024, 1))
    return sizes


def wait_healthy(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("gunicorn did not become healthy")


def median_of(rounds: list[dict], key: str) -> float:
    return round(statistics.median(r[key] for r in rounds), 1)


def main() -> None:
    prepared = prepare()
    port = free_port()
    bin_dir = Path(sys.executable).parent
    server = subprocess.Popen(  # noqa: S603 - our own binaries
        [
            str(bin_dir / "gunicorn"),
            "trcker_site.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(WORKERS),
            "--threads",
            str(THREADS),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=ENV,
    )
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "run_workers"],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_healthy(port)
        pairs = [
            ("click redirect", ("click", {"path": f"/c/{BRAND}/o/p?sub1=bench"})),
            ("click redirect (deep link)", ("click", {"path": f"/c/{BRAND}/o/p?{DEEP_LINK}"})),
            ("bare 302 view", ("bare", {"path": "/bench/bare-redirect"})),
            ("inbound postback (signed)", ("postback", prepared)),
            ("inbound postback (signed, EUR)", ("postback", {**prepared, "currency": "EUR"})),
            ("bare single-row INSERT", ("bare_insert", {})),
        ]
        # BENCH_ONLY=click or =postback: one endpoint and its baseline, for quick iterations.
        only = os.environ.get("BENCH_ONLY", "")
        if only:
            keep = {"click": {"click", "bare"}, "postback": {"postback", "bare_insert"}}[only]
            pairs = [pair for pair in pairs if pair[1][0] in keep]
        measured: dict[str, list[dict]] = {name: [] for name, _ in pairs}
        run_id = secrets.token_hex(3)
        # Warm-up: every worker loads its caches (config, parsers, connections) before timing.
        for _name, (kind, extra) in pairs:
            run_round(kind, port, f"{run_id}-warm-{kind}", {**extra, "seconds": 1.5})
        for round_no in range(ROUNDS):
            for name, (kind, extra) in pairs:
                tag = f"{run_id}-r{round_no}-{kind}"
                measured[name].append(run_round(kind, port, tag, extra))
        rss = worker_rss_mb(server.pid)
    finally:
        for proc in (server, worker):
            proc.terminate()
        for proc in (server, worker):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()

    rows = summarize(measured)
    by_name = {row["endpoint"]: row for row in rows}
    if os.environ.get("BENCH_ONLY"):
        for row in rows:
            print(row)
        return
    ratios = {
        "click ÷ bare 302": round(
            by_name["click redirect"]["rps"] / by_name["bare 302 view"]["rps"], 2
        ),
        "deep-link click ÷ bare 302": round(
            by_name["click redirect (deep link)"]["rps"] / by_name["bare 302 view"]["rps"], 2
        ),
        "postback ÷ bare INSERT": round(
            by_name["inbound postback (signed)"]["rps"] / by_name["bare single-row INSERT"]["rps"],
            2,
        ),
        "EUR postback ÷ bare INSERT": round(
            by_name["inbound postback (signed, EUR)"]["rps"]
            / by_name["bare single-row INSERT"]["rps"],
            2,
        ),
        "postbacks/s per core": round(
            by_name["inbound postback (signed)"]["rps"] / (os.cpu_count() or 1), 1
        ),
    }
    report(
        "http",
        f"HTTP benchmark — gunicorn {WORKERS} workers × {THREADS} threads",
        rows,
        ratios,
        extra_lines=[f"- gunicorn worker RSS after the run (MiB): {', '.join(map(str, rss))}"],
        extra_json={"worker_rss_mb": rss},
    )


def summarize(measured: dict[str, list[dict]]) -> list[dict]:
    """Per endpoint: medians over rounds, and every answer's status counted."""
    rows = []
    for name, rounds in measured.items():
        statuses: dict = {}
        for r in rounds:
            for status, count in r["statuses"].items():
                statuses[str(status)] = statuses.get(str(status), 0) + count
        rows.append(
            {
                "endpoint": name,
                "rps": median_of(rounds, "rps"),
                "p50_ms": median_of(rounds, "p50"),
                "p99_ms": median_of(rounds, "p99"),
                "statuses": statuses,
            }
        )
    return rows


def report(
    name: str,
    title: str,
    rows: list[dict],
    ratios: dict,
    extra_lines: list[str],
    extra_json: dict | None = None,
) -> None:
    """Print the table and save it as bench/results/<name>.{md,json}."""
    machine = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "gunicorn_workers": WORKERS,
        "gunicorn_threads": THREADS,
        "clients": CLIENTS,
        "seconds_per_round": SECONDS,
        "rounds": ROUNDS,
    }
    lines = [
        f"{title}, {CLIENTS} clients, {ROUNDS} rounds × {SECONDS:g} s, medians "
        f"({machine['cpus']} CPUs, PostgreSQL, Redis)",
        "",
        "| endpoint | requests/s | p50 (ms) | p99 (ms) | answers |",
        "|---|---:|---:|---:|---|",
    ]
    for row in rows:
        answers = ", ".join(f"{k}×{v}" for k, v in sorted(row["statuses"].items()))
        lines.append(
            f"| {row['endpoint']} | {row['rps']} | {row['p50_ms']} | {row['p99_ms']} | {answers} |"
        )
    lines += ["", *(f"- {key}: {value}" for key, value in ratios.items()), *extra_lines]
    table = "\n".join(lines)
    print(table)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text(table + "\n")
    (out / f"{name}.json").write_text(
        json.dumps(
            {"machine": machine, "results": rows, "ratios": ratios, **(extra_json or {})}, indent=2
        )
    )


def wait_sdk(port: int, timeout: float = 60) -> None:
    """The SDK server has no health URL: wait until it accepts connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("the SDK server did not start")


if __name__ == "__main__":
    main()
