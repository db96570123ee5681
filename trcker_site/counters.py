"""Fixed-window counters in the shared cache, several in one round trip.

The click path counts per-IP velocity and duplicate fingerprints on every click. Through
Django's cache API each counter costs three Redis commands (SET NX, EXISTS, INCR); here all
of a request's counters go out as one pipeline of INCR + EXPIRE NX, so a click pays one round
trip. Without Redis (the zero-setup SQLite mode) the cache API is used instead.
"""

from __future__ import annotations

import logging

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)


def redis_client():
    """The raw client behind Django's default cache when that cache is Redis, for what the
    cache API cannot do in one round trip (pipelines, lists, locks); None otherwise."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    return backend._cache.get_client(write=True)


def redis_key(name: str) -> str:
    """``name`` with the cache's prefix and version, as the cache API would store it."""
    return caches["default"].make_and_validate_key(name)


def count_in_windows(counters: list[tuple[str, int]]) -> list[int | None]:
    """Increment each ``(key, window_seconds)`` counter and return its new value; a counter
    starts its window on first use. All None when the cache is unreachable: callers treat the
    signal as unknown rather than failing the request."""
    try:
        client = redis_client()
        if client is not None:
            return _redis_pipeline(client, counters)
        return [_cache_api(caches["default"], key, window) for key, window in counters]
    except Exception:
        logger.warning("shared counters unavailable", exc_info=True)
        return [None] * len(counters)


def _redis_pipeline(client, counters: list[tuple[str, int]]) -> list[int | None]:
    pipe = client.pipeline(transaction=False)
    for key, window in counters:
        full_key = redis_key(key)
        pipe.incr(full_key)
        pipe.expire(full_key, window, nx=True)
    replies = pipe.execute()
    return [int(replies[2 * index]) for index in range(len(counters))]


def _cache_api(backend, key: str, window: int) -> int:
    if backend.add(key, 1, window):
        return 1
    try:
        return int(backend.incr(key))
    except ValueError:  # expired between add and incr
        backend.set(key, 1, window)
        return 1
