"""Failed bearer authentication (API keys, OAuth tokens) throttled per client IP on REST and
MCP (docs/api.md and docs/mcp.md, "Failed authentication"). Counting is in the real Redis."""

from __future__ import annotations

import json
import logging
import time

import pytest
from django.test import Client
from rest_framework.test import APIClient

from audit.actor import Actor
from brands.models import ApiKey
from brands.services import api_key_revoke
from tests.conftest import issue_key
from tests.factories import PartnerFactory
from tests.partners.partner_world import partner_key

ATTACKER = "198.51.100.66"
USER_IP = "203.0.113.10"
# Well-formed but unknown; malformed; an OAuth-looking token nobody issued.
UNKNOWN_KEY = "trk_aaaaaaaaaa_" + "A" * 43 + "AAAAAA"
MALFORMED_KEY = "trk_nope"
UNKNOWN_TOKEN = "oat_" + "x" * 40


def rest(key: str, ip: str):
    return APIClient().get("/api/v1/offers/", HTTP_AUTHORIZATION=f"Bearer {key}", REMOTE_ADDR=ip)


def mcp(key: str, ip: str):
    return Client().post(
        "/api/mcp",
        json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        content_type="application/json",
        HTTP_ACCEPT="application/json, text/event-stream",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        HTTP_MCP_PROTOCOL_VERSION="2025-06-18",
        REMOTE_ADDR=ip,
    )


def assert_rest_throttled(response) -> int:
    assert response.status_code == 429, response.content
    assert response.json()["error"]["code"] == "rate_limited"
    assert "Too many failed authentication attempts" in response.json()["error"]["message"]
    return int(response["Retry-After"])


def assert_mcp_throttled(response) -> int:
    assert response.status_code == 429, response.content
    error = response.json()["error"]
    assert error["code"] == -31429
    assert "Too many failed authentication attempts" in error["message"]
    return int(response["Retry-After"])


@pytest.fixture
def limit(settings):
    settings.TRCKER_AUTH_FAILURES_PER_IP = "3/10m"
    return settings


@pytest.mark.redis
def test_rest_bad_keys_from_one_ip_are_throttled_before_the_key_is_checked(brand, limit):
    good = issue_key(brand)
    revoked = issue_key(brand)
    api_key_revoke(
        actor=Actor.system(brand_id=brand.pk, brand_slug=brand.slug, name="tests"),
        api_key=ApiKey.objects.get(prefix=revoked.split("_")[1]),
    )
    for bad in (UNKNOWN_KEY, MALFORMED_KEY, revoked):
        assert rest(bad, ATTACKER).status_code == 401

    # Over the budget: refused before the key is looked at, so even a good key is refused.
    seconds = assert_rest_throttled(rest(good, ATTACKER))
    assert 590 <= seconds <= 600
    assert_rest_throttled(rest(UNKNOWN_KEY, ATTACKER))

    # The key's owner, from their own address, is unaffected.
    assert rest(good, USER_IP).status_code == 200


@pytest.mark.redis
def test_mcp_bad_bearer_tokens_from_one_ip_are_throttled(brand, limit):
    good = issue_key(brand)
    for bad in (UNKNOWN_TOKEN, UNKNOWN_KEY, UNKNOWN_TOKEN):
        response = mcp(bad, ATTACKER)
        assert response.status_code == 401, response.content

    seconds = assert_mcp_throttled(mcp(good, ATTACKER))
    assert 590 <= seconds <= 600
    assert mcp(good, USER_IP).status_code == 200


@pytest.mark.redis
def test_rest_and_mcp_share_one_budget_per_ip(brand, limit):
    good = issue_key(brand)
    assert rest(UNKNOWN_KEY, ATTACKER).status_code == 401
    assert rest(UNKNOWN_KEY, ATTACKER).status_code == 401
    assert mcp(UNKNOWN_TOKEN, ATTACKER).status_code == 401
    assert_rest_throttled(rest(good, ATTACKER))
    assert_mcp_throttled(mcp(good, ATTACKER))


@pytest.mark.redis
def test_a_good_key_does_not_reset_the_attackers_count(brand, limit):
    good = issue_key(brand)
    assert rest(UNKNOWN_KEY, ATTACKER).status_code == 401
    assert rest(UNKNOWN_KEY, ATTACKER).status_code == 401
    assert rest(good, ATTACKER).status_code == 200
    assert rest(UNKNOWN_KEY, ATTACKER).status_code == 401
    assert_rest_throttled(rest(good, ATTACKER))


@pytest.mark.redis
def test_the_block_ends_with_the_window(brand, settings):
    # The window is a Redis TTL, which no frozen clock reaches. The wait is the one the answer
    # announces (Redis rounds a TTL to the nearest second, hence the half second more): a slow
    # machine can only make it longer, never end it inside the window. Only the three requests
    # before it must fit in the 3 s window.
    settings.TRCKER_AUTH_FAILURES_PER_IP = "2/3s"
    good = issue_key(brand)
    assert rest(UNKNOWN_KEY, ATTACKER).status_code == 401
    assert rest(UNKNOWN_KEY, ATTACKER).status_code == 401
    seconds = assert_rest_throttled(rest(good, ATTACKER))
    assert 1 <= seconds <= 3
    time.sleep(seconds + 0.6)
    assert rest(good, ATTACKER).status_code == 200


def test_auth_works_with_redis_unreachable(brand, settings, caplog):
    # A real client against a closed port: the throttle fails open and logs.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    settings.TRCKER_AUTH_FAILURES_PER_IP = "1/10m"
    caplog.set_level(logging.WARNING)
    good = issue_key(brand)
    for _ in range(3):
        assert rest(UNKNOWN_KEY, ATTACKER).status_code == 401
        assert mcp(UNKNOWN_TOKEN, ATTACKER).status_code == 401
    assert rest(good, ATTACKER).status_code == 200
    assert mcp(good, ATTACKER).status_code == 200
    messages = [record.getMessage() for record in caplog.records]
    assert "auth throttle store unavailable; allowing bearer attempt" in messages
    assert "shared counters unavailable" in messages


@pytest.mark.redis
def test_bad_partner_keys_and_brand_keys_on_the_partner_api_share_the_ips_budget(brand, limit):
    partner = PartnerFactory(brand=brand, slug="ada")
    good = partner_key(partner)

    def partner_api(key: str, ip: str):
        return APIClient().get(
            "/api/partner/v1/me/", HTTP_AUTHORIZATION=f"Bearer {key}", REMOTE_ADDR=ip
        )

    assert partner_api(good, ATTACKER).status_code == 200
    for bad in ("trkp_aaaaaaaaaa_" + "A" * 49, "trkp_nope", issue_key(brand)):  # a brand key too
        assert partner_api(bad, ATTACKER).status_code == 401
    # Over the budget: the partner API refuses even a good partner key, and so does /api/v1/.
    assert_rest_throttled(partner_api(good, ATTACKER))
    assert_rest_throttled(rest(UNKNOWN_KEY, ATTACKER))
    assert partner_api(good, USER_IP).status_code == 200
