"""Whatever arrives at the partner OIDC callback — forged, repeated or absent state and code,
provider errors, junk parameters, with or without a real pending sign-in — the portal answers
4xx (or the provider's refusal) and signs nobody in; never a 500 (Hypothesis, against the
real loopback provider)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import BrandFactory, PartnerFactory
from tests.oauth.partner_oidc_helpers import configure, provider_for, query_of, start
from tests.partner_portal.test_fuzz import QUERY_REFUSED, TEXT

pytestmark = pytest.mark.django_db

NAMES = ["state", "code", "error", "error_description", "iss", "session_state", "x"]
TOKENISH = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=300)
VALUE = st.one_of(TEXT, TOKENISH, st.just(""), st.just("A" * 43))
QUERY = st.lists(st.tuples(st.sampled_from(NAMES), VALUE), max_size=6)


@pytest.fixture
def acme(settings, oidc_op):
    configure(settings)
    # Every example fails a sign-in from one address: the budget out of the way (throttling
    # has its own test in test_partner_oidc.py).
    settings.TRCKER_LOGIN_FAILURES_PER_IP = "1000000/h"
    settings.TRCKER_PORTAL_LINKS_PER_IP = "1000000/h"
    brand = BrandFactory(slug="acme", name="Acme")
    provider_for(brand, oidc_op)
    PartnerFactory(brand=brand, slug="pia", email="pia@partner.test")
    return brand


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=QUERY, real_state=st.booleans(), brand_segment=st.sampled_from(["acme", "nope"]))
def test_the_callback_never_fails_and_never_signs_in(acme, query, real_state, brand_segment):
    client = Client()
    pairs = list(query)
    if real_state:
        # A sign-in this browser really started: the forged code reaches the provider.
        pairs.append(("state", query_of(start(client, "acme"))["state"]))
    url = reverse("portal-oidc-callback", args=[brand_segment])
    response = client.get(url, pairs)
    refused_at_edge = any(QUERY_REFUSED.search(name + value) for name, value in pairs)
    if refused_at_edge:
        assert response.status_code == 400
    elif brand_segment == "nope":
        assert response.status_code == 404
    else:
        assert response.status_code in (400, 403, 502), (pairs, response.status_code)
    assert client.get(reverse("portal-home", args=["acme"])).status_code == 302


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(form=st.dictionaries(st.sampled_from(["partner", "state", "x"]), TEXT, max_size=3))
def test_the_choice_and_the_start_take_any_form(acme, form):
    client = Client()
    chosen = client.post(reverse("portal-oidc-choose", args=["acme"]), form)
    assert chosen.status_code == 400
    started = client.post(reverse("portal-oidc-start", args=["acme"]), form)
    assert started.status_code == 302
    assert client.get(reverse("portal-home", args=["acme"])).status_code == 302
