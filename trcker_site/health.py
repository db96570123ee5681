"""GET /api/health: is this process able to serve? 200 or 503, never cached."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe
from redis.exceptions import RedisError

from core import config_cache
from workers.loop import queue_status


def _check(fn: Callable[[], None]) -> dict[str, object]:
    started = time.perf_counter()
    try:
        fn()
    except Exception as exc:  # reported, not raised: health must answer even when deps fail
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis() -> None:
    cache.set("trcker:health", "1", 5)
    if cache.get("trcker:health") != "1":
        raise RuntimeError("cache round trip failed")


def _config_cache() -> dict[str, object]:
    # Reported, never a reason for 503 by itself: serving the last known config is how
    # clicks keep working while the database is down (the database check says that part).
    since = config_cache.stale_since()
    if since is None:
        return {"ok": True, "stale": False}
    return {
        "ok": True,
        "stale": True,
        "since": datetime.fromtimestamp(since, tz=UTC).isoformat(timespec="seconds"),
    }


def _queue() -> dict[str, object]:
    # Unreachable: clicks are then written during their requests, slower; reported as a
    # failure because production runs with a queue. Misconfigured (evicting, not persisting):
    # served, but every problem is listed and raised as a warning.
    started = time.perf_counter()
    try:
        status = queue_status()
    except RedisError as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1), **status}


@require_safe  # GET and HEAD: probes often ask with HEAD (curl -I)
def health(request: HttpRequest) -> JsonResponse:
    checks: dict[str, dict[str, Any]] = {"database": _check(_database)}
    if settings.REDIS_URL:
        checks["redis"] = _check(_redis)
    if settings.TRCKER_QUEUE_REDIS_URL:
        checks["queue"] = _queue()
    checks["config_cache"] = _config_cache()
    ok = all(check["ok"] for check in checks.values())
    warnings = [f"queue: {problem}" for problem in checks.get("queue", {}).get("problems", [])]
    dead = sum(
        stream["dead_letters"] for stream in checks.get("queue", {}).get("streams", {}).values()
    )
    if dead:
        warnings.append(f"queue: {dead} dead letter(s) to inspect (docs/operations.md)")
    response = JsonResponse(
        {
            "status": "ok" if ok else "unavailable",
            "version": settings.TRCKER_VERSION,
            "checks": checks,
            "warnings": warnings,
        },
        status=200 if ok else 503,
    )
    response["Cache-Control"] = "no-store"
    return response
