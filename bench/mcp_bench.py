"""MCP benchmark: Trcker's `/api/mcp` against the official Python SDK's server.

Trcker runs as in production (gunicorn, WEB_CONCURRENCY × WEB_THREADS, API-key auth, rate
limiting, the tool-call log); the baseline is `MCPServer` in stateless JSON mode under uvicorn
with as many worker processes, exposing tools that run the same selectors and serializers
(bench/mcp_baseline.py). Each `tools/call` (get_offer_config, get_top_publishers) is driven by
the load generator of bench/http_bench.py, alternating server by server, medians of rounds.
Also: one JSON-RPC batch of 20 calls versus 20 single requests (calls per second).

Environment as bench/http_bench.py. Results: bench/results/mcp.{json,md}.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import http_bench
from http_bench import ENV, ROOT, ROUNDS, THREADS, WORKERS


def prepare_key() -> str:
    http_bench.prepare()  # brand, offer, partner (and Django set up)
    from audit.actor import Actor
    from brands.models import ApiKeyScope, Brand
    from brands.services import api_key_create

    brand = Brand.objects.get(slug=http_bench.BRAND)
    actor = Actor.system(brand_id=brand.pk, brand_slug=brand.slug, name="bench")
    _, key = api_key_create(actor=actor, label="mcp bench", scope=ApiKeyScope.READ)
    return key


def call(request_id: int, tool: str, arguments: dict) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }


TOOLS: dict[str, dict[str, Any]] = {
    "get_offer_config": {"offer_id": "o"},
    "get_top_publishers": {"metric": "revenue", "limit": 10},
}


def check_answer(name: str, port: int, job: dict) -> None:
    """Both servers must really answer the call (a fast error would be no benchmark)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", job["path"], body=job["body"], headers=job["headers"])
    response = conn.getresponse()
    payload = json.loads(response.read())
    conn.close()
    answers = payload if isinstance(payload, list) else [payload]
    for answer in answers:
        result = answer.get("result") or {}
        if response.status != 200 or "error" in answer or result.get("isError"):
            raise SystemExit(f"{name}: not a successful tool result: {str(payload)[:300]}")


def main() -> None:
    key = prepare_key()
    trcker_port, sdk_port = http_bench.free_port(), http_bench.free_port()
    bin_dir = Path(sys.executable).parent
    servers = [
        subprocess.Popen(  # noqa: S603 - our own binaries
            [
                str(bin_dir / "gunicorn"),
                "trcker_site.wsgi:application",
                "--bind",
                f"127.0.0.1:{trcker_port}",
                "--workers",
                str(WORKERS),
                "--threads",
                str(THREADS),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=ENV,
        ),
        subprocess.Popen(  # noqa: S603
            [
                str(bin_dir / "uvicorn"),
                "bench.mcp_baseline:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(sdk_port),
                "--workers",
                str(WORKERS),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=ROOT,
            env=ENV,
        ),
    ]
    common = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    trcker_headers = {
        **common,
        "Authorization": f"Bearer {key}",
        "MCP-Protocol-Version": "2025-06-18",
    }
    sdk_headers = {**common, "MCP-Protocol-Version": "2025-06-18"}
    batch_headers = {**common, "Authorization": f"Bearer {key}"}  # no version: batching allowed
    try:
        http_bench.wait_healthy(trcker_port)
        http_bench.wait_sdk(sdk_port)
        pairs = []
        for tool, arguments in TOOLS.items():
            body = json.dumps(call(1, tool, arguments))
            pairs.append(
                (
                    f"Trcker {tool}",
                    {"path": "/api/mcp", "body": body, "headers": trcker_headers},
                    trcker_port,
                )
            )
            pairs.append(
                (
                    f"SDK MCPServer {tool}",
                    {"path": "/mcp", "body": body, "headers": sdk_headers},
                    sdk_port,
                )
            )
        batch = json.dumps(
            [call(i, "get_offer_config", TOOLS["get_offer_config"]) for i in range(20)]
        )
        pairs.append(
            (
                "Trcker batch of 20 get_offer_config",
                {"path": "/api/mcp", "body": batch, "headers": batch_headers},
                trcker_port,
            )
        )
        for name, extra, port in pairs:
            check_answer(name, port, extra)
        measured: dict[str, list[dict]] = {name: [] for name, _, _ in pairs}
        for _name, extra, port in pairs:  # warm-up
            http_bench.run_round("mcp", port, "warm", {**extra, "seconds": 1.5})
        for round_no in range(ROUNDS):
            for name, extra, port in pairs:
                measured[name].append(http_bench.run_round("mcp", port, f"r{round_no}", extra))
    finally:
        for proc in servers:
            proc.terminate()
        for proc in servers:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()

    rows = http_bench.summarize(measured)
    by_name = {row["endpoint"]: row for row in rows}
    ratios = {
        f"{tool}: Trcker ÷ SDK throughput": round(
            by_name[f"Trcker {tool}"]["rps"] / by_name[f"SDK MCPServer {tool}"]["rps"], 2
        )
        for tool in TOOLS
    }
    ratios["calls/s in batches of 20 ÷ single calls"] = round(
        by_name["Trcker batch of 20 get_offer_config"]["rps"]
        * 20
        / by_name["Trcker get_offer_config"]["rps"],
        2,
    )
    http_bench.report(
        "mcp",
        f"MCP benchmark — Trcker gunicorn {WORKERS}×{THREADS} vs SDK MCPServer uvicorn "
        f"{WORKERS} workers",
        rows,
        ratios,
        extra_lines=[],
    )


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
