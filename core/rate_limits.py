"""One way to count a request against a rate limit, for every limiter (API credentials on REST
and MCP, the discovery documents, partner applications).

The window slides: a rate of ``N/period`` admits at most N calls in **any** span of one period,
not N per clock-aligned window (a fixed window admits 2N across its boundary: N at the end of
one window and N at the start of the next). Each budget is a Redis sorted set with one member
per admitted request, scored by its time and carrying how many calls it counted; one Lua call
drops members older than the period, sums the rest, and adds the request only if the sum plus
its calls fits. So a request costs one round trip whatever it counts (a JSON-RPC batch of 20
counts 20), a refused request adds nothing (it is never charged), and the set never holds more
than N members. The sum is exact, not the two-window weighted estimate, which can admit more
than N in a period when the previous window's calls all came at its end.

Time is Redis's own clock (``TIME``), so servers with skewed clocks share one timeline; tests
pass ``now`` to drive it. Without Redis (the zero-setup SQLite mode) the same algorithm runs on
the Django cache API under a process lock: counters are then per process, as documented.

When the store cannot count (Redis down or timing out) the request is served and a warning
logged: refusing every caller during a cache outage would be worse than a short unlimited
window.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from functools import lru_cache

from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

from core.cache import lua_script
from core.counters import redis_client, redis_key

logger = logging.getLogger("trcker.rate_limits")

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# KEYS[1]: the budget's sorted set; KEYS[2]: its running total. ARGV: limit, period in ms,
# calls in this request, now in ms ("" = Redis's clock), a unique member name, and "1" to
# charge the calls when admitted ("0": only answer whether they would be). Members are
# "<unique>:<calls>" scored by the time they were admitted; one counts while
# now - period < score. The total saves summing the set on every call (a set holds up to
# `limit` members, 100000 under a load test's rate); it is rebuilt from the set if missing.
# Returns {admitted (1/0), calls used in the period after this request, ms until budget
# returns}.
_SLIDING_WINDOW_LUA = """
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local calls = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function calls_of(member)
  return tonumber(string.match(member, ':(%d+)$'))
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - period)
if #expired > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
end
local used = tonumber(redis.call('GET', KEYS[2]))
if used == nil then
  used = 0
  for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    used = used + calls_of(member)
  end
else
  for _, member in ipairs(expired) do
    used = used - calls_of(member)
  end
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if used + calls <= limit then
  if ARGV[6] == '0' then
    redis.call('SET', KEYS[2], used, 'PX', period)
    local since = now
    if #oldest > 0 then since = tonumber(oldest[2]) end
    return {1, used + calls, since + period - now}
  end
  redis.call('ZADD', KEYS[1], now, ARGV[5] .. ':' .. calls)
  redis.call('SET', KEYS[2], used + calls, 'PX', period)
  redis.call('PEXPIRE', KEYS[1], period)
  local since = now
  if #oldest > 0 then since = tonumber(oldest[2]) end
  return {1, used + calls, since + period - now}
end
redis.call('SET', KEYS[2], used, 'PX', period)
-- Refused: the wait until enough of the oldest entries leave the period for these calls
-- (each entry counts at least one call, so at most `need` entries are read).
local need = used + calls - limit
local wait = period
local freed = 0
local head = redis.call('ZRANGE', KEYS[1], 0, need - 1, 'WITHSCORES')
for i = 1, #head, 2 do
  freed = freed + calls_of(head[i])
  if freed >= need then
    wait = tonumber(head[i + 1]) + period - now
    break
  end
end
return {0, used, wait}
"""

_local_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Usage:
    limited: bool
    remaining: int
    reset_seconds: int


_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")


@lru_cache(maxsize=32)
def parse_rate(rate: str) -> tuple[int, int]:
    """``"120/m"`` → (120, 60): the limit and its period in seconds (``N/s|m|h|d``, or a
    number of units such as ``10/5m``). Every limiter's rate setting is read here."""
    match = _RATE.match(rate)
    if not match:
        raise ImproperlyConfigured(f"Bad rate {rate!r}: use e.g. '120/m' or '20/10m'.")
    count, multiple, unit = match.groups()
    return int(count), int(multiple or 1) * _PERIODS[unit]


def count_request(
    request: HttpRequest | None,
    *,
    group: str,
    key: str,
    rate: str,
    times: int = 1,
    budget: str | None = None,
    now: float | None = None,
    charge: bool = True,
) -> Usage | None:
    """Count ``times`` calls for ``key`` against ``rate`` in one round trip; None when the store
    could not count (the caller then serves the request). ``budget`` names the counter's
    namespace (default ``group``): callers passing the same budget and key share one count,
    which is how REST and MCP share a key's budget while logging as themselves. ``now`` (Unix
    seconds) is for tests; by default the store's clock decides. ``charge=False`` answers
    whether the calls would be admitted without counting them (a dry run's check)."""
    limit, period = parse_rate(rate)
    name = f"rl:{budget or group}:{key}"
    try:
        client = redis_client()
        if client is not None:
            admitted, used, wait_ms = lua_script(client, _SLIDING_WINDOW_LUA)(
                keys=[redis_key(name), redis_key(name + ":total")],
                args=[
                    limit,
                    period * 1000,
                    times,
                    "" if now is None else round(now * 1000),
                    os.urandom(8).hex(),
                    "1" if charge else "0",
                ],
            )
        else:
            admitted, used, wait_ms = _count_locally(name, limit, period, times, now, charge)
    except Exception:
        logger.warning("rate-limit store unavailable; allowing %s request", group, exc_info=True)
        return None
    return Usage(
        limited=not admitted,
        remaining=max(0, limit - int(used)),
        reset_seconds=max(1, -(-int(wait_ms) // 1000)),
    )


def _count_locally(
    name: str, limit: int, period: int, calls: int, now: float | None, charge: bool = True
) -> tuple[int, int, int]:
    """The Lua script's algorithm on the Django cache API, for caches that are not Redis (one
    process: the lock makes it atomic there and nowhere else)."""
    now_ms = round((time.time() if now is None else now) * 1000)
    period_ms = period * 1000
    backend = caches["default"]
    with _local_lock:
        entries = [(at, count) for at, count in backend.get(name) or [] if at > now_ms - period_ms]
        used = sum(count for _, count in entries)
        if used + calls <= limit:
            oldest = entries[0][0] if entries else now_ms
            if charge:
                backend.set(name, [*entries, (now_ms, calls)], period)
            return 1, used + calls, oldest + period_ms - now_ms
        freed = 0
        for at, count in entries:
            freed += count
            if used - freed + calls <= limit:
                return 0, used, at + period_ms - now_ms
        return 0, used, period_ms
