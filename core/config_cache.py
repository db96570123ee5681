"""Per-process caches of per-brand config, and their invalidation.

The click and postback endpoints keep brand/offer/partner config in process memory, and
API-key authentication keeps the keys it has checked (``cached_for_brand``). A write
that changes that config calls ``tracking_config_changed(brand_id)``; after commit it bumps a
generation counter in the shared cache (Redis in production), which each request thread
reads at most once per SHARED_GENERATION_REUSE_SECONDS (0.1 s) per brand and compares with
what its entries were loaded under, and a local one so this process sees the change at once.
Entries also expire after TRCKER_CONFIG_CACHE_SECONDS as a safety net when no shared cache is
configured.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import InterfaceError, OperationalError, transaction

logger = logging.getLogger(__name__)

_local_generation: defaultdict[int, int] = defaultdict(int)


def _key(brand_id: int) -> str:
    return f"trcker:cfg-gen:{brand_id}"


def _bump(brand_id: int) -> None:
    _local_generation[brand_id] += 1
    try:
        if not cache.add(_key(brand_id), 1, None):
            cache.incr(_key(brand_id))
    except Exception:
        logger.warning("could not publish config change of brand %s", brand_id, exc_info=True)


def tracking_config_changed(brand_id: int) -> None:
    transaction.on_commit(lambda: _bump(brand_id))


# Data that belongs to no brand (the reference exchange rates) has a generation of its own,
# under an id no brand has; a cache entry built from it keys on ``reference_generation()``.
REFERENCE_DATA = 0


def reference_data_changed() -> None:
    tracking_config_changed(REFERENCE_DATA)


def reference_generation() -> tuple[int, int | None]:
    return config_generation(REFERENCE_DATA)


# One click looks up brand, offer and partner config; reading the shared generation once per
# request instead of once per lookup saves two Redis round trips. A change made in another
# process is therefore seen at most this long after it commits (this process sees it at once).
SHARED_GENERATION_REUSE_SECONDS = 0.1
_recent_shared = threading.local()


def config_generation(brand_id: int) -> tuple[int, int | None]:
    """(local, shared) generation; shared is None when the shared cache is unreachable."""
    now = time.monotonic()
    recent = getattr(_recent_shared, "by_brand", None)
    if recent is None:
        recent = _recent_shared.by_brand = {}
    seen = recent.get(brand_id)
    if seen is not None and now - seen[0] < SHARED_GENERATION_REUSE_SECONDS:
        return _local_generation[brand_id], seen[1]
    try:
        shared = cache.get(_key(brand_id), 0)
    except Exception:
        shared = None
    recent[brand_id] = (now, shared)
    return _local_generation[brand_id], shared


_lock = threading.Lock()
_entries: dict[tuple[Any, ...], tuple[float, Any, Any]] = {}
MAX_ENTRIES = 50_000  # bounds memory against scans with random slugs or key prefixes


# When this process began serving expired config because the database could not be read
# (wall clock, for /api/health), or None once a load has succeeded again.
_stale_since: float | None = None
_stale_count = 0
_stale_logged_at: float | None = None
STALE_WARNING_INTERVAL_SECONDS = 60.0


def _note_stale_served(key: tuple[Any, ...]) -> None:
    global _stale_since, _stale_count, _stale_logged_at
    if _stale_since is None:
        _stale_since = time.time()
    _stale_count += 1
    now = time.monotonic()
    # Once a minute, not once per click: an outage must not also flood the logs.
    if _stale_logged_at is None or now - _stale_logged_at >= STALE_WARNING_INTERVAL_SECONDS:
        logger.warning(
            "database unreachable: serving cached config (%s stale serves; latest %s)",
            _stale_count,
            key[0],
        )
        _stale_logged_at = now
        _stale_count = 0


def stale_since() -> float | None:
    """Unix time this process started serving stale config, None when it is not."""
    return _stale_since


def _ttl() -> float:
    return float(
        settings.TRCKER_CONFIG_CACHE_SECONDS
        if settings.REDIS_URL
        else min(settings.TRCKER_CONFIG_CACHE_SECONDS, 2.0)
    )


T = TypeVar("T")


def cached_for_brand(
    key: tuple[Any, ...],
    brand_id: int | None,
    load: Callable[[], T],
    *,
    stale_on_db_error: bool = False,
) -> T:
    """``load()``'s value, kept in this process until the brand's config generation moves
    (or, with ``brand_id`` None, for facts that never change) or the TTL passes. With the
    shared generation unreadable (Redis down) nothing is served from the cache.

    With ``stale_on_db_error``, when ``load()`` cannot reach the database the entry kept for
    ``key`` is served however old it is (see ``stale_since``); with none, the database error
    propagates. Off by default: credentials (API keys) must fail closed, since a key revoked
    just before an outage would otherwise be accepted again."""
    global _stale_since
    now = time.monotonic()
    token = config_generation(brand_id) if brand_id is not None else None
    entry = _entries.get(key)
    if (
        entry is not None
        and entry[0] > now
        and entry[1] == token
        and (token is None or token[1] is not None)
    ):
        cached: T = entry[2]  # stored by this function from the same key's load()
        return cached
    try:
        value = load()
    except (OperationalError, InterfaceError):
        if entry is None or not stale_on_db_error:
            raise
        # The last config this process saw beats refusing every click until the database is
        # back; whatever changed meanwhile is picked up by the first load that succeeds.
        _note_stale_served(key)
        stale: T = entry[2]
        return stale
    _stale_since = None
    with _lock:
        _entries[key] = (now + _ttl(), token, value)
        if len(_entries) > MAX_ENTRIES:
            _entries.clear()
    return value


def clear_process_cache() -> None:
    global _stale_since, _stale_count, _stale_logged_at
    with _lock:
        _entries.clear()
    _stale_since, _stale_count, _stale_logged_at = None, 0, None
