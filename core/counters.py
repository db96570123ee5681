"""Fixed-window counters in the shared cache, several in one round trip.

The click path counts per-IP velocity and duplicate fingerprints on every click. Through
Django's cache API each counter costs three Redis commands (SET NX, EXISTS, INCR); here all
of a request's counters are one Lua call (INCR, and EXPIRE on a counter's first use, for each
key), so a click pays one round trip and one command for redis-py to pack and parse. Without
Redis (the zero-setup SQLite mode) the cache API is used instead.
"""

from __future__ import annotations

import logging

import redis
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache

from core.cache import backend_client, lua_script

logger = logging.getLogger(__name__)


def redis_client() -> redis.Redis | None:
    """The raw client behind Django's default cache when that cache is Redis, for what the
    cache API cannot do in one round trip (pipelines, lists, locks); None otherwise."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    return backend_client(backend, write=True)


def redis_key(name: str) -> str:
    """``name`` with the cache's prefix and version, as the cache API would store it.
    make_key, not make_and_validate_key: the validation (memcached's character rules, checked
    character by character) costs more than the rest of a counter, and our keys are built
    from hex digests, IP addresses and fixed names."""
    return caches["default"].make_key(name)


def count_in_windows(counters: list[tuple[str, int]]) -> list[int | None]:
    """Increment each ``(key, window_seconds)`` counter and return its new value; a counter
    starts its window on first use. All None when the cache is unreachable: callers treat the
    signal as unknown rather than failing the request."""
    try:
        client = redis_client()
        if client is not None:
            return _redis_script(client, counters)
        return [_cache_api(caches["default"], key, window) for key, window in counters]
    except Exception:
        logger.warning("shared counters unavailable", exc_info=True)
        return [None] * len(counters)


# Increment KEYS[first..] and start each counter's window (ARGV at the same index) on its
# first use; the counts in order. Shared by the counters here and the click queue's script,
# which counts and enqueues in one call.
COUNT_WINDOWS_LUA = """
local function count_windows(first)
  local counts = {}
  for index = first, #KEYS do
    local count = redis.call('INCR', KEYS[index])
    if redis.call('TTL', KEYS[index]) < 0 then
      redis.call('EXPIRE', KEYS[index], ARGV[index])
    end
    counts[#counts + 1] = count
  end
  return counts
end
"""
_COUNT_IN_WINDOWS = COUNT_WINDOWS_LUA + "return count_windows(1)"


def _redis_script(client: redis.Redis, counters: list[tuple[str, int]]) -> list[int | None]:
    replies = lua_script(client, _COUNT_IN_WINDOWS)(
        keys=[redis_key(key) for key, _ in counters], args=[window for _, window in counters]
    )
    return [int(reply) for reply in replies]


def _cache_api(backend: BaseCache, key: str, window: int) -> int:
    if backend.add(key, 1, window):
        return 1
    try:
        return int(backend.incr(key))
    except ValueError:  # expired between add and incr
        backend.set(key, 1, window)
        return 1
