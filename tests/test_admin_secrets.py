"""A secret shown once in the admin (a new API key, a rotated postback secret) travels in the
page, never in a cookie. Django's default message storage put it in the ``messages`` cookie,
which is signed, not encrypted: anyone holding the cookie (a proxy log, a shared machine, a
browser extension) could read the secret without the SECRET_KEY. Messages now live in the
server-side session (docs/security.md)."""

import base64
import re
import zlib
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings

from brands.models import ApiKey, ApiKeyScope, Brand
from offers.models import Offer
from tests.factories import OfferFactory
from tests.test_admin import admin_url, logged_in, member

pytestmark = pytest.mark.django_db

COOKIE_STORAGE = "django.contrib.messages.storage.cookie.CookieStorage"


def _readable_forms(value: str) -> list[str]:
    """What anyone can read from a cookie value without the SECRET_KEY: the text itself and,
    for Django's signed values ("payload:…:signature", a leading "." when compressed), the
    base64-decoded, decompressed payload."""
    value = value.strip('"').encode().decode("unicode_escape")
    forms = [value]
    payload = value.split(":", 1)[0]
    compressed = payload.startswith(".")
    payload = payload.lstrip(".")
    try:
        data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        if compressed:
            data = zlib.decompress(data)
    except (ValueError, zlib.error):
        return forms
    forms.append(data.decode("utf-8", "replace"))
    return forms


def _assert_in_no_cookie(responses: list[Any], secret: str) -> None:
    for response in responses:
        for name, morsel in response.cookies.items():
            for form in _readable_forms(morsel.value):
                assert secret not in form, f"{secret[:8]}… readable in Set-Cookie {name}"
            assert secret not in morsel.OutputString()


def _create_key(client: Client, brand: Brand) -> tuple[list[Any], str]:
    created = client.post(
        admin_url(ApiKey, "add"),
        {"brand": brand.pk, "label": "Shop backend", "scope": ApiKeyScope.READ},
    )
    assert created.status_code == 302
    shown = client.get(created["Location"])
    match = re.search(r"trk_[A-Za-z0-9_]+", shown.content.decode())
    assert match, "the new key is on the page after the redirect"
    return [created, shown], match.group(0)


def test_session_engine_keeps_sessions_server_side():
    assert settings.MESSAGE_STORAGE.endswith("session.SessionStorage")
    # The session cookie carries only a key; the data is in the database (or the cache).
    assert settings.SESSION_ENGINE in (
        "django.contrib.sessions.backends.db",
        "django.contrib.sessions.backends.cache",
        "django.contrib.sessions.backends.cached_db",
    )


def test_a_new_api_key_is_in_no_set_cookie_header(client, brand):
    logged_in(client, member(brand))
    responses, plaintext = _create_key(client, brand)
    _assert_in_no_cookie(responses, plaintext)
    # Shown once: the next page no longer carries it.
    again = client.get(admin_url(ApiKey, "changelist"))
    assert plaintext not in again.content.decode()
    _assert_in_no_cookie([again], plaintext)
    # The admin pages that show it are never cached.
    assert "no-store" in responses[1]["Cache-Control"]


def test_a_rotated_postback_secret_is_in_no_set_cookie_header(client, brand):
    offer = OfferFactory(brand=brand, slug="spring-sale")
    logged_in(client, member(brand))
    rotated = client.post(
        admin_url(Offer, "changelist"),
        {"action": "rotate_postback_secrets", "index": "0", "_selected_action": [str(offer.pk)]},
    )
    assert rotated.status_code == 302
    shown = client.get(rotated["Location"])
    offer.refresh_from_db()
    assert offer.postback_secret in shown.content.decode()
    _assert_in_no_cookie([rotated, shown], offer.postback_secret)


@override_settings(MESSAGE_STORAGE=COOKIE_STORAGE)
def test_the_check_catches_the_cookie_storage(client, brand):
    """With Django's default cookie storage the key is readable from Set-Cookie: the check
    above can fail."""
    logged_in(client, member(brand))
    responses, plaintext = _create_key(client, brand)
    with pytest.raises(AssertionError, match="readable in Set-Cookie messages"):
        _assert_in_no_cookie(responses, plaintext)
