"""Failed-login throttling on the admin login, which is also the OAuth consent login
(docs/oauth.md, "Failed logins"): axes locks a (client IP, username) pair out for the
cool-off; a per-IP budget stops one address spraying many usernames. Counting is in the real
Redis; nothing of ours is mocked."""

from __future__ import annotations

import ipaddress
import logging
import time

import pytest
from django.core.management import call_command
from django.test import Client

from tests.factories import BrandFactory, StaffMembershipFactory, UserFactory
from tests.oauth.op import oidc_op  # noqa: F401 (the OpenID provider fixture)
from tests.oauth.test_staff_sso import BACKENDS as SSO_BACKENDS
from tests.oauth.test_staff_sso import browser_login, enable_sso_context

PASSWORD = "pw-for-tests-only"
ATTACKER = "198.51.100.66"
USER_IP = "203.0.113.10"


@pytest.fixture
def staff(db):
    brand = BrandFactory(slug="acme")
    return StaffMembershipFactory(brand=brand, user=UserFactory(username="pat")).user


def login(ip: str, username: str, password: str, **extra):
    return Client().post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=ip,
        **extra,
    )


def assert_logged_in(response) -> None:
    assert response.status_code == 302, response.content[:300]
    assert response["Location"] == "/admin/"


def assert_wrong_password(response) -> None:
    # The ordinary form error: the attempt was checked, and refused.
    assert response.status_code == 200
    assert b"errornote" in response.content


def assert_throttled(response) -> int:
    assert response.status_code == 429, response.content[:300]
    assert b"Too many failed login attempts" in response.content
    seconds = int(response["Retry-After"])
    assert seconds >= 1
    return seconds


@pytest.mark.redis
def test_brute_force_on_one_account_locks_that_ip_and_account_out(staff, settings):
    settings.AXES_FAILURE_LIMIT = 5
    settings.TRCKER_LOGIN_COOLOFF_SECONDS = 900
    for _ in range(4):
        assert_wrong_password(login(ATTACKER, "pat", "guess"))
    # The failure that reaches the limit is answered with the lockout.
    assert_throttled(login(ATTACKER, "pat", "guess"))

    # Locked out: even the right password is not checked from the attacker's address.
    seconds = assert_throttled(login(ATTACKER, "pat", PASSWORD))
    assert 890 <= seconds <= 900

    # The real user, from their own address, is not locked out by someone else's guesses.
    assert_logged_in(login(USER_IP, "pat", PASSWORD))


@pytest.mark.redis
def test_the_lockout_ends_after_the_cool_off_even_while_the_attacker_keeps_trying(staff, settings):
    # The cool-off is a Redis TTL, which no frozen clock reaches: the test reads what is left
    # of it from Retry-After (Redis rounds a TTL to the nearest second) instead of guessing
    # from the wall clock, so only the try during the lockout depends on timing: it must come
    # within the 3 s cool-off.
    settings.AXES_FAILURE_LIMIT = 3
    settings.TRCKER_LOGIN_COOLOFF_SECONDS = 3
    for _ in range(2):
        assert_wrong_password(login(ATTACKER, "pat", "guess"))
    at_lockout = assert_throttled(login(ATTACKER, "pat", "guess"))
    assert at_lockout <= 3
    time.sleep(1.2)
    # Tries during the lockout do not extend it (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT
    # off), so a lockout never lasts longer than the cool-off: 1.2 s later at least a second
    # less is left, where an extension would have started it over.
    left = assert_throttled(login(ATTACKER, "pat", "guess"))
    assert left <= at_lockout - 1
    time.sleep(left + 0.6)
    # Even a user who shares the attacker's address gets back in once the cool-off is over.
    assert_logged_in(login(ATTACKER, "pat", PASSWORD))


@pytest.mark.redis
def test_one_ip_spraying_many_usernames_is_throttled_per_ip(staff, settings):
    settings.AXES_FAILURE_LIMIT = 5
    settings.TRCKER_LOGIN_FAILURES_PER_IP = "4/15m"
    for name in ("ann", "bob", "cat", "dan"):
        assert_wrong_password(login(ATTACKER, name, "Summer2026!"))

    seconds = assert_throttled(login(ATTACKER, "pat", PASSWORD))
    assert 890 <= seconds <= 900
    assert_logged_in(login(USER_IP, "pat", PASSWORD))


@pytest.mark.redis
def test_the_client_ip_is_the_one_behind_trusted_proxies(staff, settings):
    """AXES_CLIENT_IP_CALLABLE is core.client_ip: behind a trusted proxy, two clients
    are two addresses, not one proxy address locked out for everybody."""
    settings.TRCKER_TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    settings.AXES_FAILURE_LIMIT = 3
    proxy = "10.0.0.5"
    for _ in range(2):
        assert_wrong_password(login(proxy, "pat", "guess", HTTP_X_FORWARDED_FOR=ATTACKER))
    assert_throttled(login(proxy, "pat", "guess", HTTP_X_FORWARDED_FOR=ATTACKER))
    assert_throttled(login(proxy, "pat", PASSWORD, HTTP_X_FORWARDED_FOR=ATTACKER))
    assert_logged_in(login(proxy, "pat", PASSWORD, HTTP_X_FORWARDED_FOR=USER_IP))


def test_logins_still_work_with_redis_unreachable(staff, settings, caplog):
    # A real client against a closed port: the lockout stores fail open and log.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    settings.AXES_FAILURE_LIMIT = 2
    settings.TRCKER_LOGIN_FAILURES_PER_IP = "2/15m"
    caplog.set_level(logging.WARNING)
    for _ in range(4):
        assert_wrong_password(login(ATTACKER, "pat", "guess"))
    assert_logged_in(login(ATTACKER, "pat", PASSWORD))
    messages = {record.getMessage() for record in caplog.records}
    assert "login lockout store unavailable; allowing login attempt" in messages
    assert "auth throttle store unavailable; allowing login attempt" in messages


@pytest.mark.urls("tests.oauth.urls")
@pytest.mark.django_db(transaction=True)
def test_single_sign_on_still_works_behind_the_lockout_backend(
    live_server,
    settings,
    oidc_op,  # noqa: F811
):
    """The production backend list puts axes first; OIDC logins pass through it."""
    for name, value in oidc_op.mozilla_settings().items():
        setattr(settings, name, value)
    settings.AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", *SSO_BACKENDS]
    settings.LOGIN_REDIRECT_URL = "/admin/"
    settings.LOGIN_REDIRECT_URL_FAILURE = "/admin/login/"
    settings.TRCKER_OIDC_ENABLED = True
    enable_sso_context(settings)
    BrandFactory(slug="acme", external_org_id="acme-org")

    browser, landed = browser_login(live_server, oidc_op, "alice")

    assert landed.url == f"{live_server.url}/admin/", landed.url
    assert browser.get(f"{live_server.url}/admin/", timeout=10).status_code == 200


@pytest.mark.redis
def test_an_operator_can_lift_a_lockout_early(staff, settings):
    settings.AXES_FAILURE_LIMIT = 2
    assert_wrong_password(login(ATTACKER, "pat", "guess"))
    assert_throttled(login(ATTACKER, "pat", "guess"))

    call_command("axes_reset_ip_username", ATTACKER, "pat")

    assert_logged_in(login(ATTACKER, "pat", PASSWORD))
