"""GET /api/health: is this process able to serve? 200 or 503, never cached."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from trcker_site import config_cache


def _check(fn) -> dict[str, object]:
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


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check(_database)}
    if settings.REDIS_URL:
        checks["redis"] = _check(_redis)
    checks["config_cache"] = _config_cache()
    ok = all(check["ok"] for check in checks.values())
    response = JsonResponse(
        {
            "status": "ok" if ok else "unavailable",
            "version": settings.TRCKER_VERSION,
            "checks": checks,
        },
        status=200 if ok else 503,
    )
    response["Cache-Control"] = "no-store"
    return response
