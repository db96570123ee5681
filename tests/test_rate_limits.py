"""core.rate_limits: a sliding window (N in any period, not N per clock window), one
round trip per request whatever it counts, refused requests never charged, and serving when
the store cannot count.

Time is driven through ``now`` (Unix seconds), so every boundary is exact. These run on
whatever cache the settings configure: the Lua script on Redis (REDIS_URL set), the same
algorithm on the cache API without it; CI runs both.
"""

import logging
import random

import pytest
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache

from core import counters
from core.rate_limits import count_request, parse_rate

T0 = 1_800_000_000.0  # a multiple of 60: a fixed one-minute window starts here


class BrokenCache(LocMemCache):
    """A store that cannot answer (the non-Redis path of a cache outage)."""

    def get(self, *args, **kwargs):
        raise ConnectionError("store down")


def count(key="k", *, at, rate="5/m", times=1, budget=None):
    return count_request(None, group="t", key=key, rate=rate, times=times, budget=budget, now=at)


def test_parse_rate():
    assert parse_rate("120/m") == (120, 60)
    assert parse_rate("5/h") == (5, 3600)
    assert parse_rate("100000/s") == (100000, 1)
    assert parse_rate("20/10m") == (20, 600)


def test_counts_limits_and_reports_the_wait():
    first = count(at=T0)
    assert (first.limited, first.remaining, first.reset_seconds) == (False, 4, 60)
    for offset in (1, 2, 3):
        assert not count(at=T0 + offset).limited
    fifth = count(at=T0 + 10)
    assert (fifth.limited, fifth.remaining) == (False, 0)
    refused = count(at=T0 + 30)
    # The budget returns when the call made at T0 leaves the window, 30 s from now.
    assert (refused.limited, refused.remaining, refused.reset_seconds) == (True, 0, 30)
    assert not count("other", at=T0 + 30).limited  # another key has its own budget


def test_the_window_slides_across_a_fixed_window_boundary():
    # 5 calls in the last second of one clock minute: a fixed window would admit 5 more in the
    # first second of the next. The sliding window admits nothing until 60 s after them.
    for i in range(5):
        assert not count(at=T0 + 59.0 + i / 10).limited
    assert count(at=T0 + 60.5).limited
    assert count(at=T0 + 118.99).limited
    assert not count(at=T0 + 119.0).limited  # the call at T0+59.0 has left (T0+59, T0+119]
    assert count(at=T0 + 119.05).limited  # only one slot came back


def test_refused_requests_are_never_charged():
    for i in range(5):
        assert not count(at=T0 + i).limited
    for i in range(100):
        assert count(at=T0 + 5 + i / 10).limited
    # Had the refusals been charged, the budget would still be spent at T0+64.
    admitted = [not count(at=T0 + 64.5).limited for _ in range(6)]
    assert admitted == [True] * 5 + [False]


def test_a_request_counts_its_calls_at_once():
    assert not count(at=T0, times=3).limited
    assert count(at=T0 + 1, times=3).limited  # 3 + 3 > 5: refused whole, not partly
    assert not count(at=T0 + 1, times=2).limited
    too_many = count("batch", at=T0, times=6)  # more than the whole budget: never fits
    assert too_many.limited and too_many.reset_seconds == 60
    assert not count("batch", at=T0 + 1, times=5).limited  # and it cost nothing


def test_budgets_share_a_count_only_when_named_alike():
    assert not count(at=T0, times=5, budget="shared").limited
    assert count(at=T0 + 1, budget="shared").limited
    assert not count(at=T0 + 1).limited  # the default budget is the group's own


def test_never_more_than_the_limit_in_any_window_and_exactly_what_fits():
    """Random traffic against a reference model: the limiter admits a request exactly when the
    calls admitted in (now - 60, now] plus its own fit, so no 60 s span ever holds more."""
    rng = random.Random(12)
    admitted: list[tuple[int, int]] = []
    at = 0  # ms after T0, so boundaries are exact
    for _ in range(600):
        at += rng.choice([0, 50, 500, 3000, 17000])
        calls = rng.choice([1, 1, 1, 2, 5])
        in_window = sum(n for t, n in admitted if t > at - 60_000)
        usage = count("random", at=T0 + at / 1000, rate="12/m", times=calls)
        assert usage.limited == (in_window + calls > 12), (at, in_window, calls)
        if not usage.limited:
            admitted.append((at, calls))
    times = [t for t, _ in admitted]
    for start in times:  # every span (start - 60 s, start] and [start, start + 60 s)
        assert sum(n for t, n in admitted if start - 60_000 < t <= start) <= 12
        assert sum(n for t, n in admitted if start <= t < start + 60_000) <= 12
    assert len(admitted) > 100  # the test exercised both outcomes


def test_the_default_clock_counts():
    assert not count_request(None, group="t", key="clock", rate="1/m").limited
    assert count_request(None, group="t", key="clock", rate="1/m").limited


@pytest.mark.redis
def test_one_round_trip_per_request_whatever_it_counts(monkeypatch):
    client = counters.redis_client()
    calls = []
    original = client.execute_command

    def counting(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    count("warm", at=T0)  # the script is loaded once per client
    monkeypatch.setattr(client, "execute_command", counting)
    usage = count("rt", at=T0, rate="120/m", times=50)
    assert (usage.limited, usage.remaining) == (False, 70)
    assert calls == ["EVALSHA"]


@pytest.mark.redis
def test_a_budget_in_redis_holds_one_member_per_admitted_request():
    for i in range(5):
        count("size", at=T0 + i, rate="10/m", times=2)
    client = counters.redis_client()
    name = counters.redis_key("rl:t:size")
    assert client.zcard(name) == 5
    assert int(client.get(name + ":total")) == 10
    assert 0 < client.pttl(name) <= 60_000
    # The running total is rebuilt from the set if it is lost.
    client.delete(name + ":total")
    # At T0+61 the calls of T0 and T0+1 have left: 3 × 2 remain, + 2 = 8 of 10.
    assert count("size", at=T0 + 61, rate="10/m", times=2).remaining == 2


def test_a_store_that_cannot_count_lets_the_request_through(settings, caplog):
    settings.CACHES = {"default": {"BACKEND": f"{__name__}.BrokenCache"}}
    with caplog.at_level(logging.WARNING, logger="trcker.rate_limits"):
        assert count_request(None, group="api", key="k", rate="1/m") is None
    assert "rate-limit store unavailable; allowing api request" in caplog.text


def test_a_redis_that_is_down_lets_the_request_through(settings, caplog):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    with caplog.at_level(logging.WARNING, logger="trcker.rate_limits"):
        assert count_request(None, group="mcp", key="k", rate="1/m", times=3) is None
    assert "rate-limit store unavailable; allowing mcp request" in caplog.text
    caches["default"].close()
