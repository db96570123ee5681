"""The queue's Redis: its own connection (``TRCKER_QUEUE_REDIS_URL``, default ``REDIS_URL``),
never the cache's, and a check that the server is configured to keep what it is given.

The cache may evict keys and ``cache.clear()`` may empty its keyspace; the queue holds
billable clicks, so its server must not evict (``maxmemory-policy noeviction``: a full server
refuses new records, and the click handler then writes the click itself) and must persist
(AOF on). Both are read with INFO (allowed on managed Redis, unlike CONFIG GET), at start by
the workers and on ``/api/health``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}


def queue_client() -> redis.Redis | None:
    """The queue's client (thread-safe, one pool per process and URL); None without a queue."""
    url = settings.TRCKER_QUEUE_REDIS_URL
    if not url:
        return None
    client = _clients.get(url)
    if client is None:
        with _lock:
            client = _clients.get(url)
            if client is None:
                client = _clients[url] = redis.Redis.from_url(
                    url, socket_connect_timeout=1, socket_timeout=2, health_check_interval=30
                )
    return client


REQUIRED_POLICY = "noeviction"
_problems_cache: dict[str, tuple[float, list[str]]] = {}
PROBLEMS_TTL_SECONDS = 30.0


def configuration_problems(client: Any | None = None) -> list[str]:
    """What is wrong with the queue server's configuration for keeping records, in words an
    operator can act on; [] when it is right. Raises redis errors when it cannot be asked."""
    client = client or queue_client()
    if client is None:
        return []
    memory = client.info("memory")
    persistence = client.info("persistence")
    problems = []
    policy = str(memory.get("maxmemory_policy", ""))
    if policy != REQUIRED_POLICY:
        problems.append(
            f"maxmemory-policy is {policy!r}: set it to 'noeviction' so queued clicks are "
            "never evicted"
        )
    if not int(persistence.get("aof_enabled", 0)):
        problems.append(
            "appendonly is off: turn AOF on (appendonly yes, appendfsync everysec) so a Redis "
            "restart keeps queued clicks"
        )
    return problems


def configuration_problems_cached() -> list[str]:
    """``configuration_problems()`` at most once per PROBLEMS_TTL_SECONDS per process (for
    health probes); an unreachable server is reported as a problem."""
    url = settings.TRCKER_QUEUE_REDIS_URL
    now = time.monotonic()
    cached = _problems_cache.get(url)
    if cached is not None and cached[0] > now:
        return cached[1]
    try:
        problems = configuration_problems()
    except redis.RedisError as exc:
        problems = [f"queue Redis unreachable: {type(exc).__name__}"]
    _problems_cache[url] = (now + PROBLEMS_TTL_SECONDS, problems)
    return problems
