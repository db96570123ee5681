"""Whatever is sent to the partner OAuth endpoints — "I'm a partner" (/oauth/partner/), the
partner consent (POST /oauth/authorize/) and the portal's disconnect — the answer is never a
500, never a redirect off this site or to anything but the brand's sign-in, the authorization
request or the client's registered callback, and never a code bound to anyone but the signed-in
partner (Hypothesis)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oauth2_provider.models import Grant

from partner_portal.access import safe_after_sign_in
from tests.factories import BrandFactory, PartnerFactory
from tests.oauth.partner_flow import CALLBACK, authorization_request, hidden_inputs, register
from tests.partner_portal.helpers import sign_in

pytestmark = pytest.mark.django_db

TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=300
)
NEXTS = st.one_of(
    TEXT,
    st.builds(lambda tail: "/oauth/authorize/?" + tail, TEXT),
    st.sampled_from(
        [
            "//evil.example/oauth/authorize/?a=1",
            "https://evil.example/",
            "/oauth/authorize/?a=1\\@evil.example",
            "/oauth/authorize/?a=1\r\nSet-Cookie: x=1",
            "/\t/evil.example/",
        ]
    ),
)
SLOW = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def world(settings):
    settings.TRCKER_PORTAL_LINKS_PER_IP = "100000/h"
    settings.TRCKER_PORTAL_LINKS_PER_EMAIL = "100000/h"
    settings.TRCKER_LOGIN_FAILURES_PER_IP = "100000/h"
    settings.TRCKER_DCR_RATE = "100000/h"
    acme = BrandFactory(slug="acme", name="Acme")
    ann = PartnerFactory(brand=acme, slug="ann", email="ann@example.com")
    PartnerFactory(brand=acme, slug="bob", email="bob@example.com")
    browser = Client()
    sign_in(browser, ann)
    return {"ann": ann, "browser": browser, "client_id": register(Client())}


def _stays_here(location: str) -> None:
    parts = urlsplit(location)
    assert not parts.scheme and not parts.netloc, location
    assert location.startswith(("/p/acme/login/", "/oauth/authorize/?")), location
    if location.startswith("/oauth/authorize/"):
        assert safe_after_sign_in(location) == location


@SLOW
@given(next_value=NEXTS, brand=st.one_of(TEXT, st.just("acme")))
def test_the_partner_start_never_fails_nor_leaves_the_site(world, next_value, brand):
    visitor = Client()
    shown = visitor.get("/oauth/partner/", {"next": next_value})
    assert shown.status_code in (200, 400), shown.status_code
    if shown.status_code == 200:
        assert safe_after_sign_in(next_value) == next_value
    for client in (visitor, world["browser"]):
        answer = client.post("/oauth/partner/", {"brand": brand, "next": next_value})
        assert answer.status_code in (302, 400), answer.status_code
        if answer.status_code == 302:
            _stays_here(answer["Location"])


FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "partner": st.one_of(TEXT, st.sampled_from(["acme", "globex", ""])),
        "access": st.one_of(TEXT, st.sampled_from(["read", "read_write"])),
        "scope": st.one_of(TEXT, st.sampled_from(["mcp:read partner:acme:1", "brand:acme"])),
        "client_id": TEXT,
        "redirect_uri": st.one_of(TEXT, st.just("https://evil.example/cb")),
        "resource": TEXT,
        "state": TEXT,
        "code_challenge": TEXT,
        "response_type": st.one_of(TEXT, st.just("token")),
        "allow": st.sampled_from(["Authorize", ""]),
    },
)


@SLOW
@given(fields=FIELDS)
def test_the_partner_consent_never_fails_nor_binds_anyone_else(world, fields):
    request = authorization_request(world["client_id"])
    page = world["browser"].get(request.path)
    assert page.status_code == 200
    data = {**hidden_inputs(page.content.decode()), **fields}
    answer = world["browser"].post(request.path, data)
    assert answer.status_code in (200, 302, 400), answer.status_code
    if answer.status_code == 302:
        location = answer["Location"]
        # Only ever the client's registered callback (an implicit-flow refusal answers in
        # the fragment, as RFC 6749 4.2.2.1 says).
        assert location.startswith((CALLBACK + "?", CALLBACK + "#")), location
    for grant in Grant.objects.all():
        assert grant.user.partner_oauth.partner_id == world["ann"].pk
        assert set(grant.scope.split()) <= {
            "mcp:read",
            "mcp:write",
            f"partner:acme:{world['ann'].pk}",
        }


@SLOW
@given(app_id=TEXT.filter(lambda t: "/" not in t and t not in ("", ".", "..")))
def test_disconnecting_any_app_id_never_fails(world, app_id):
    answer = world["browser"].post(f"/p/acme/keys/apps/{app_id}/revoke/")
    assert answer.status_code in (400, 404), (app_id, answer.status_code)
