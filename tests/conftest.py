from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from audit.actor import Actor, ActorKind, Channel, Scope
from brands.models import ApiKeyScope, Brand
from brands.services import api_key_create
from conversions import tracking_config
from core.queue_redis import queue_client
from tests.factories import BrandFactory, OfferFactory, PartnerFactory
from tests.live_server import Server, gunicorn

# The ``smtp`` fixture: a real SMTP server on loopback (tests/mailer/smtp.py).
pytest_plugins = ["tests.mailer.smtp"]

ON_POSTGRES = connection.vendor == "postgresql"


def pytest_configure(config: pytest.Config) -> None:
    from django.conf import settings

    # Tests do not run collectstatic; the manifest storage of production would refuse
    # to render admin pages without it.
    # Test users need no slow password hashing (PBKDF2 costs ~1 s per user here).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from django.conf import settings

    requirements = [
        (
            "postgres",
            ON_POSTGRES,
            "needs PostgreSQL row locks/concurrency; DATABASE_URL is SQLite",
            "CI must run the suite on PostgreSQL (set DATABASE_URL).",
        ),
        (
            "redis",
            bool(settings.REDIS_URL),
            "needs a shared Redis; REDIS_URL is not set",
            "CI must run the suite with Redis (set REDIS_URL).",
        ),
    ]
    for marker, available, reason, ci_error in requirements:
        needing = [item for item in items if item.get_closest_marker(marker)]
        if available or not needing:
            continue
        if os.environ.get("CI"):
            # Under CI nothing may be skipped for want of a service: the run itself is wrong.
            raise pytest.UsageError(ci_error)
        for item in needing:
            item.add_marker(pytest.mark.skip(reason=reason))


def clear_queue_keys() -> None:
    """Delete the work queue's streams, click lookups and fraud counters on the queue Redis
    (cache.clear() deliberately never touches them)."""
    client = queue_client()
    if client is None:
        return
    for pattern in ("trcker.queue.*", "trcker.count.*"):
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # Rate-limit counters, fraud counters, queued records and cached config must not leak
    # between tests (brands reuse slugs across tests with new ids).
    cache.clear()
    clear_queue_keys()
    tracking_config.clear()


@pytest.fixture
def app_server(transactional_db: None) -> Iterator[Callable[..., Server]]:
    """Starts a real gunicorn on the test database and returns it once /api/health answers:
    ``server = app_server()``, or with settings of its own and a worker process,
    ``app_server(env=app_env(TRCKER_API_RATE="120/m"), workers=1, with_worker=True)``
    (arguments: tests.live_server.gunicorn). Everything started is stopped when the test ends;
    a test may stop or kill a server sooner. The database is transactional because the server
    sees only what the test committed."""
    with ExitStack() as started:

        def start(env: dict[str, str] | None = None, **options) -> Server:
            return started.enter_context(gunicorn(env, **options))

        yield start


@pytest.fixture
def allow_private_outbound(settings):
    """Let outbound postbacks reach pytest-httpserver on 127.0.0.1 (off in production)."""
    settings.TRCKER_OUTBOUND_ALLOW_PRIVATE = True
    return settings


def make_actor(
    brand: Brand,
    *,
    write: bool = True,
    kind: ActorKind = ActorKind.API_KEY,
    label: str | None = None,
    channel: Channel = Channel.REST,
) -> Actor:
    return Actor(
        kind=kind,
        label=label or f"{kind}:test",
        channel=channel,
        brand_id=brand.pk,
        brand_slug=brand.slug,
        scopes=frozenset({Scope.READ, Scope.WRITE} if write else {Scope.READ}),
        ip="203.0.113.9",
        user_agent="pytest",
        request_id="req-test-0001",
    )


@pytest.fixture
def brand(db: None) -> Brand:
    return BrandFactory(slug="acme")


@pytest.fixture
def other_brand(db: None) -> Brand:
    return BrandFactory(slug="globex")


@pytest.fixture
def actor(brand: Brand) -> Actor:
    return make_actor(brand)


@pytest.fixture
def read_actor(brand: Brand) -> Actor:
    return make_actor(brand, write=False)


@pytest.fixture
def offer(brand: Brand):
    return OfferFactory(brand=brand, slug="spring-sale")


@pytest.fixture
def partner(brand: Brand):
    return PartnerFactory(brand=brand, slug="abc-123")


def issue_key(brand: Brand, *, read_only: bool = False) -> str:
    actor = Actor.system(brand_id=brand.pk, brand_slug=brand.slug, name="tests")
    _, plaintext = api_key_create(
        actor=actor, label="test", scope=ApiKeyScope.READ if read_only else ApiKeyScope.READ_WRITE
    )
    return plaintext


def client_with_key(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def api(brand: Brand) -> APIClient:
    return client_with_key(issue_key(brand))


@pytest.fixture
def read_api(brand: Brand) -> APIClient:
    return client_with_key(issue_key(brand, read_only=True))
