"""Whatever a visitor types into the login form, a link or a portal page's query string and
path, the portal answers 2xx, 3xx or 4xx — never a 500 (Hypothesis)."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import BrandFactory, PartnerFactory
from tests.partner_portal.helpers import ask_for_link, sign_in

pytestmark = pytest.mark.django_db

# Text as a browser or a script may send it: any Unicode but surrogates (not encodable)
# and NUL (the edge middleware's 400 before any view), long enough to pass every max_length.
TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=400
)
PARAMS = st.dictionaries(
    st.sampled_from(["days", "status", "offer", "sub1", "sub2", "sub5", "page", "x"]),
    TEXT,
    max_size=5,
)


# Control characters are the edge middleware's 400 before any view (trcker_site/
# edge_middleware.py: in a query string tab, LF and CR pass); everything else reaches the portal.
QUERY_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
PATH_REFUSED = re.compile("[\x00-\x1f\x7f]")


PAGES = [
    "portal-home",
    "portal-links",
    "portal-conversions",
    "portal-payouts",
    "portal-coupons",
    "portal-profile",
]


@pytest.fixture
def signed_in(settings):
    # The fuzzer sends many forms from one address: budgets out of the way (throttling has
    # its own tests), so every example reaches the form and the service.
    settings.TRCKER_PORTAL_LINKS_PER_IP = "100000/h"
    settings.TRCKER_PORTAL_LINKS_PER_EMAIL = "100000/h"
    settings.TRCKER_LOGIN_FAILURES_PER_IP = "100000/h"
    brand = BrandFactory(slug="acme")
    partner = PartnerFactory(brand=brand, slug="ada", email="ada@example.com")
    client = Client()
    sign_in(client, partner)
    return client


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(email=TEXT, extra=PARAMS)
def test_the_login_form_never_fails(signed_in, email, extra):
    response = ask_for_link(Client(), "acme", email)
    assert response.status_code in (302, 400), response.status_code
    posted = Client().post(reverse("portal-login", args=["acme"]), {**extra, "email": email})
    assert posted.status_code < 500


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.sampled_from(PAGES), params=PARAMS)
def test_portal_query_strings_never_fail(signed_in, name, params):
    response = signed_in.get(reverse(name, args=["acme"]), params)
    expected = 400 if any(QUERY_REFUSED.search(t) for t in (*params, *params.values())) else 200
    assert response.status_code == expected, (name, params, response.status_code)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(segment=TEXT.filter(lambda s: s and "/" not in s))
def test_ids_and_tokens_in_the_path_never_fail(signed_in, segment):
    for name in ("portal-conversion", "portal-statement", "portal-link"):
        response = signed_in.get(reverse(name, args=["acme", segment]))
        assert response.status_code in (400, 404), (name, segment, response.status_code)
    home = signed_in.get(reverse("portal-home", args=[segment[:80]]))
    assert home.status_code in (200, 302, 400, 404)
    assert home.status_code != 400 or bool(PATH_REFUSED.search(segment))
