"""trcker_site.rate_limits: counting, limiting, and serving when the store cannot count."""

import logging

import pytest
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.test import RequestFactory

from trcker_site.rate_limits import count_request


class ExpiresBetweenAddAndIncr(LocMemCache):
    """The race django-ratelimit meets when a window's counter expires between its ADD (the
    key still exists) and its INCR (it no longer does)."""

    def add(self, *args, **kwargs):
        return False

    def incr(self, *args, **kwargs):
        raise ValueError("Key does not exist")


@pytest.fixture
def request_():
    return RequestFactory().get("/api/v1/offers/")


def test_counts_and_limits(request_, settings):
    caches["default"].clear()
    first = count_request(request_, group="t", key="k", rate="2/m")
    second = count_request(request_, group="t", key="k", rate="2/m")
    third = count_request(request_, group="t", key="k", rate="2/m")
    assert (first.limited, first.remaining) == (False, 1)
    assert (second.limited, second.remaining) == (False, 0)
    assert third.limited and third.remaining == 0 and 1 <= third.reset_seconds <= 60
    # Another key has its own budget; `times` counts one request several times.
    batch = count_request(request_, group="t", key="other", rate="2/m", times=3)
    assert batch.limited


def test_a_counter_the_store_did_not_count_lets_the_request_through(request_, settings, caplog):
    settings.CACHES = {"default": {"BACKEND": f"{__name__}.ExpiresBetweenAddAndIncr"}}
    with caplog.at_level(logging.WARNING, logger="trcker.rate_limits"):
        assert count_request(request_, group="api", key="k", rate="1/m") is None
    assert "rate-limit store did not count; allowing api request" in caplog.text
