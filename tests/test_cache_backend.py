"""core.cache.RedisCache against a real Redis: Django's contract, fewer round trips."""

import pytest
from django.core.cache import caches

from core.cache import RedisCache, backend_client

pytestmark = pytest.mark.redis


@pytest.fixture
def cache(settings):
    backend = RedisCache(settings.REDIS_URL, {"KEY_PREFIX": "trcker-cache-test"})
    backend.clear()
    yield backend
    backend.clear()


def test_the_configured_default_cache_is_ours():
    assert isinstance(caches["default"], RedisCache)


def test_incr_counts_an_existing_key_and_keeps_its_ttl(cache):
    cache.add("counter", 1, 60)
    assert cache.incr("counter") == 2
    assert cache.incr("counter", 5) == 7
    assert cache.get("counter") == 7
    client = backend_client(cache, write=True)
    assert 0 < client.ttl(cache.make_key("counter")) <= 60


def test_incr_of_a_missing_key_raises_and_creates_nothing(cache):
    with pytest.raises(ValueError, match="not found"):
        cache.incr("absent")
    assert cache.get("absent") is None


def test_one_client_serves_every_command(cache):
    assert backend_client(cache, write=True) is backend_client(cache, write=True)


def test_count_in_windows_counts_each_key_and_starts_its_window_once(settings):
    from core.counters import count_in_windows, redis_client, redis_key

    caches["default"].clear()
    assert count_in_windows([("w:a", 60), ("w:b", 5)]) == [1, 1]
    assert count_in_windows([("w:a", 60), ("w:b", 5)]) == [2, 2]
    client = redis_client()
    assert 55 <= client.ttl(redis_key("w:a")) <= 60
    assert 0 < client.ttl(redis_key("w:b")) <= 5
    client.expire(redis_key("w:a"), 1000)  # a later count keeps the window it started
    assert count_in_windows([("w:a", 60)]) == [3]
    assert client.ttl(redis_key("w:a")) > 60
