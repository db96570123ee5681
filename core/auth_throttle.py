"""Throttling of failed authentication, per client IP (docs/api.md, docs/mcp.md, docs/oauth.md).

Two layers:

* **Per client IP, any credential** (this module's counters). Each failed authentication — a
  wrong, unknown, malformed or revoked API key or OAuth token, or a failed password login —
  increments a fixed-window counter for the client IP. Once an IP is over its budget, its
  further attempts are answered 429 + Retry-After *before* the credential is looked at, so
  guessing costs the attacker time and costs us nothing. Bearer credentials (REST and MCP share
  one budget: the same keys work on both) and password logins have separate budgets, so an
  integration stuck on a revoked key cannot lock its office out of the admin. A successful
  authentication does not reset the count: an attacker holding one valid key must not be able
  to wash out their guesses. A caller from another IP is never affected.
* **Per (IP, username)** on the admin / OAuth consent login: django-axes, configured in
  settings (AXES_*), with the handler and lockout page below.

When Redis cannot answer, both layers let the attempt through and log a warning, as every
other limiter does: refusing every login and API call during a cache outage would be worse
than an unthrottled window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache
from typing import Any

from axes.handlers.cache import AxesCacheHandler
from axes.helpers import get_cache, get_client_cache_keys, get_cool_off
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from core.client_ip import request_client_ip
from core.counters import count_in_windows, redis_client, redis_key
from core.rate_limits import parse_rate

logger = logging.getLogger("trcker.auth_throttle")

BEARER = "bearer"  # API keys and OAuth access tokens, on REST and MCP
LOGIN = "login"  # username + password on the admin login (also the OAuth consent login)


def _rate_for(group: str) -> str:
    return (
        settings.TRCKER_LOGIN_FAILURES_PER_IP
        if group == LOGIN
        else settings.TRCKER_AUTH_FAILURES_PER_IP
    )


def _counter_name(group: str, ip: str) -> str:
    return f"authfail:{group}:{ip}"


def retry_after(request: HttpRequest, group: str) -> int | None:
    """Seconds until this request's IP may try ``group`` credentials again; None when it may
    now (or when the store cannot tell). Reads only: a blocked attempt is not counted, so the
    window still ends when it was going to."""
    ip = request_client_ip(request)
    if not ip:
        return None
    limit, window = parse_rate(_rate_for(group))
    try:
        count, ttl = _peek(_counter_name(group, ip), window)
    except Exception:
        logger.warning("auth throttle store unavailable; allowing %s attempt", group, exc_info=True)
        return None
    return max(1, ttl) if count >= limit else None


def _peek(name: str, window: int) -> tuple[int, int]:
    client = redis_client()
    if client is None:  # zero-setup mode (LocMem): per process, no TTL to read
        return int(caches["default"].get(name) or 0), window
    key = redis_key(name)
    pipe = client.pipeline(transaction=False)
    pipe.get(key)
    pipe.ttl(key)
    count, ttl = pipe.execute()
    return int(count or 0), int(ttl) if ttl and ttl > 0 else window


def record_failure(request: HttpRequest, group: str) -> None:
    """Count one failed authentication from this request's IP (fails open: the counter
    helper logs and carries on when Redis is down)."""
    ip = request_client_ip(request)
    if not ip:
        return
    _, window = parse_rate(_rate_for(group))
    count_in_windows([(_counter_name(group, ip), window)])


def too_many_message(seconds: int) -> str:
    return f"Too many failed authentication attempts from this address; retry in {seconds} s."


# --- admin / OAuth consent login ------------------------------------------------------------


@receiver(user_login_failed, dispatch_uid="trcker.auth_throttle.login_failed")
def _count_login_failure(
    sender: object,
    credentials: dict[str, Any],
    request: HttpRequest | None = None,
    **kwargs: Any,
) -> None:
    # Connected when this module is imported, which the middleware below guarantees for
    # every process that serves the login page.
    if request is not None:
        record_failure(request, LOGIN)


class LoginThrottleMiddleware:
    """Refuses a login POST from an IP over its failed-login budget before any password is
    checked. The per-(IP, username) lockout is axes'; this is the per-IP one that stops one
    address spraying a common password over many usernames."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.path == _login_path():
            seconds = retry_after(request, LOGIN)
            if seconds is not None:
                return _lockout_page(request, seconds)
        return self.get_response(request)


@lru_cache(maxsize=1)
def _login_path() -> str:
    return reverse(settings.LOGIN_URL)


def _lockout_page(request: HttpRequest, seconds: int) -> HttpResponse:
    response = render(
        request,
        "admin/login_locked.html",
        {"retry_after": seconds, "retry_minutes": max(1, -(-seconds // 60))},
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response


def axes_lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: axes' lockout as our 429 page with Retry-After (axes' own
    response has no Retry-After)."""
    cool_off = get_cool_off(request)
    full = int(cool_off.total_seconds()) if cool_off else 900
    return _lockout_page(request, _axes_seconds_left(request, credentials, full))


def _axes_seconds_left(request: HttpRequest, credentials: dict[str, Any] | None, full: int) -> int:
    """The cool-off still to run: the longest TTL of the client's axes counters."""
    try:
        cache = get_cache()
        client = cache._cache.get_client(write=False)  # Redis only; LocMem has no TTL
        ttls: list[int] = [
            client.ttl(cache.make_key(key)) for key in get_client_cache_keys(request, credentials)
        ]
    except Exception:
        return full
    ttls = [ttl for ttl in ttls if ttl and ttl > 0]
    return max(ttls) if ttls else full


class FailOpenAxesCacheHandler(AxesCacheHandler):  # type: ignore[misc]  # axes ships no hints
    """axes' cache handler, except that a cache it cannot reach lets the login through (and
    is logged) instead of answering 500: the same fail-open rule as the other limiters."""

    def __init__(self) -> None:
        pass  # no cache captured here: see ``cache``

    @property
    def cache(self) -> BaseCache:
        # Looked up at each use, not kept from start-up (axes keeps one handler per process):
        # Django's cache handles are per thread and follow settings overrides.
        cache: BaseCache = get_cache()
        return cache

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        try:
            failures: int = super().get_failures(request, credentials)
            return failures
        except Exception:
            logger.warning("login lockout store unavailable; allowing login attempt", exc_info=True)
            return 0

    def user_login_failed(
        self,
        sender: object,
        credentials: dict[str, Any],
        request: HttpRequest | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            super().user_login_failed(sender, credentials, request, **kwargs)
        except Exception:
            logger.warning("login lockout store unavailable; failure not counted", exc_info=True)

    def user_logged_in(
        self, sender: object, request: HttpRequest, user: object, **kwargs: Any
    ) -> None:
        try:
            super().user_logged_in(sender, request, user, **kwargs)
        except Exception:
            logger.warning("login lockout store unavailable on login", exc_info=True)


def login_cool_off(request: HttpRequest | None = None) -> timedelta:
    """AXES_COOLOFF_TIME: read at each use, so the setting stays plain seconds."""
    return timedelta(seconds=settings.TRCKER_LOGIN_COOLOFF_SECONDS)
