"""One way to count a request against a rate limit, for every limiter (REST keys, MCP, the
discovery documents, partner applications).

Counters live in the shared cache (Redis in production) through django-ratelimit, so a limit
holds across processes. When that store cannot count — Redis down (an exception), or a
counter that expired between django-ratelimit's ADD and INCR (None, with RATELIMIT_FAIL_OPEN)
— the request is served and a warning logged: refusing every caller during a cache outage would be
worse than a short unlimited window.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.http import HttpRequest
from django_ratelimit.core import get_usage

logger = logging.getLogger("trcker.rate_limits")


@dataclass(frozen=True, slots=True)
class Usage:
    limited: bool
    remaining: int
    reset_seconds: int


def count_request(
    request: HttpRequest, *, group: str, key: str, rate: str, times: int = 1
) -> Usage | None:
    """Count this request ``times`` times under ``group``/``key`` at ``rate``; None when the
    store could not count (the caller then serves the request)."""
    usage = None
    try:
        for _ in range(times):
            usage = get_usage(
                request, group=group, key=lambda _g, _r: key, rate=rate, increment=True
            )
    except Exception:
        logger.warning("rate-limit store unavailable; allowing %s request", group, exc_info=True)
        return None
    if usage is None:  # RATELIMIT_FAIL_OPEN: the store answered but did not count
        logger.warning("rate-limit store did not count; allowing %s request", group)
        return None
    return Usage(
        limited=bool(usage["should_limit"]),
        remaining=max(0, usage["limit"] - usage["count"]),
        reset_seconds=max(1, int(usage["time_left"])),
    )
