"""While the database cannot be read, clicks run on the last config this process loaded,
however old, and /api/health says so; with nothing loaded the click gets a 503 page, never a
500. The outage is simulated at the config loaders only (the click row itself is still
written): tests/reliability/test_database_outage.py takes a real database away."""

import logging

import pytest
from django.db import InterfaceError, OperationalError

from conversions import tracking_config
from conversions.models import Click
from core import config_cache
from core.config_cache import tracking_config_changed
from tests.conversions.helpers import click
from tests.factories import OfferFactory, PartnerFactory


@pytest.fixture
def shop(brand):
    offer = OfferFactory(brand=brand, slug="spring-sale", fallback_url="")
    partner = PartnerFactory(brand=brand, slug="abc-123")
    return offer, partner


class _Unreachable:
    """Stands in for a model in the config loaders: every query fails as if the database
    were gone."""

    def __init__(self, error: type[Exception]) -> None:
        self.error = error

    @property
    def objects(self):
        return self

    def filter(self, *args, **kwargs):
        raise self.error("could not connect to server: Connection refused")


@pytest.fixture
def database_down(monkeypatch):
    def take_down(error: type[Exception] = OperationalError) -> None:
        for model in ("Brand", "Offer", "Partner", "PayoutRule"):
            monkeypatch.setattr(tracking_config, model, _Unreachable(error))

    return take_down


@pytest.fixture(autouse=True)
def config_expires_at_once(settings):
    """Each config entry is past its TTL as soon as it is stored, as if
    TRCKER_CONFIG_CACHE_SECONDS had passed: what the cache then keeps is only what an outage
    may serve."""
    settings.TRCKER_CONFIG_CACHE_SECONDS = 0


def _health(client) -> dict:
    response = client.get("/api/health")
    assert response.status_code == 200, response.content  # stale config is no reason for 503
    return response.json()["checks"]["config_cache"]


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_expired_config_is_served_while_the_database_errors(
    client, shop, brand, database_down, error, django_capture_on_commit_callbacks
):
    assert click(client, "acme", "spring-sale", "abc-123").status_code == 302
    assert _health(client) == {"ok": True, "stale": False}
    database_down(error)
    with django_capture_on_commit_callbacks(execute=True):
        tracking_config_changed(brand.pk)  # expired, and of an older generation too

    response = click(client, "acme", "spring-sale", "abc-123", sub1="during-outage")
    assert response.status_code == 302
    assert response["Location"].startswith("https://")
    assert Click.objects.filter(sub1="during-outage", outcome="accepted").exists()
    stale = _health(client)
    assert stale["ok"] is True and stale["stale"] is True
    assert stale["since"].endswith("+00:00")


def test_health_stops_reporting_stale_once_a_load_succeeds(client, shop, monkeypatch):
    click(client, "acme", "spring-sale", "abc-123")
    with monkeypatch.context() as outage:
        for model in ("Brand", "Offer", "Partner", "PayoutRule"):
            outage.setattr(tracking_config, model, _Unreachable(OperationalError))
        assert click(client, "acme", "spring-sale", "abc-123").status_code == 302
        assert _health(client)["stale"] is True
    assert click(client, "acme", "spring-sale", "abc-123").status_code == 302
    assert _health(client) == {"ok": True, "stale": False}


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
@pytest.mark.parametrize(
    "path",
    [
        "/c/acme/spring-sale/abc-123",  # nothing cached at all
        "/c/acme/other-offer/abc-123",  # the brand is cached, this offer is not
    ],
)
def test_click_with_no_cached_config_is_a_503_page_not_a_500(
    client, shop, database_down, path, error
):
    click(client, "acme", "spring-sale", "new-partner")  # caches the brand and the offer
    if path == "/c/acme/spring-sale/abc-123":
        tracking_config.clear()
    database_down(error)
    response = client.get(path)
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert "no-store" in response["Cache-Control"]
    assert response["Content-Type"].startswith("text/html")
    assert b"Temporarily unavailable" in response.content


def test_credentials_are_never_served_stale(db):
    # API keys share the cache; a key revoked just before an outage must not come back.
    calls = []

    def load():
        calls.append(1)
        if len(calls) > 1:
            raise OperationalError("down")
        return "key-row"

    assert config_cache.cached_for_brand(("api-key", "trk_x"), None, load) == "key-row"
    with pytest.raises(OperationalError):
        config_cache.cached_for_brand(("api-key", "trk_x"), None, load)
    assert config_cache.stale_since() is None


def test_other_database_errors_are_not_hidden_by_stale_config(db):
    def load():
        raise ValueError("a bug, not an outage")

    config_cache.cached_for_brand(("k",), None, lambda: 1, stale_on_db_error=True)
    with pytest.raises(ValueError, match="a bug"):
        config_cache.cached_for_brand(("k",), None, load, stale_on_db_error=True)


def test_stale_serving_is_logged_once_a_minute_not_once_a_click(
    client, shop, database_down, caplog
):
    click(client, "acme", "spring-sale", "abc-123")
    database_down()
    with caplog.at_level(logging.WARNING, logger="core.config_cache"):
        for _ in range(20):
            assert click(client, "acme", "spring-sale", "abc-123").status_code == 302
    warnings = [r for r in caplog.records if r.name == "core.config_cache"]
    assert len(warnings) == 1
    assert "serving cached config" in warnings[0].getMessage()
