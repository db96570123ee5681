"""GET /api/health: is this process able to serve? 200 or 503, never cached."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET


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


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check(_database)}
    if settings.REDIS_URL:
        checks["redis"] = _check(_redis)
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
