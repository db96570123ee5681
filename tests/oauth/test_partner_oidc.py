"""Partner portal sign-in through the brand's own OpenID provider, against the real loopback
provider (npm oidc-provider, tools/oidc-provider/op.mjs): authorization code + PKCE, state and
nonce, the ID token verified, the partner matched by the provider's verified address with the
rule of the emailed link; replays, tampering and other brands' providers refused."""

from __future__ import annotations

import logging

import pytest
import requests
from django.conf import settings as conf
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from partner_portal.access import AFTER_SIGN_IN_KEY
from partners.models import PartnerStatus
from partners.oidc_client import (
    OidcRefused,
    authorization_url,
    endpoints,
    new_pending,
    verify_id_token,
)
from partners.oidc_config import brand_sign_in_provider
from tests.factories import BrandFactory, PartnerFactory
from tests.oauth.op import PARTNER_CLIENTS
from tests.oauth.partner_oidc_helpers import (
    PUBLIC_URL,
    at_provider,
    back_at_portal,
    configure,
    oidc_sign_in,
    provider_for,
    query_of,
    start,
    with_query,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(settings, oidc_op):
    configure(settings)
    brand = BrandFactory(slug="acme", name="Acme")
    provider_for(brand, oidc_op)
    return brand


@pytest.fixture
def globex(oidc_op):
    brand = BrandFactory(slug="globex", name="Globex")
    provider_for(brand, oidc_op)
    return brand


@pytest.fixture
def pia(acme):
    return PartnerFactory(brand=acme, slug="pia", name="Pia Media", email="Pia@Partner.test")


def home(slug: str) -> str:
    return reverse("portal-home", args=[slug])


def signed_in(client: Client, slug: str) -> bool:
    return client.get(home(slug)).status_code == 200


def test_the_login_page_offers_the_brands_provider_only_when_it_has_one(client, acme, pia):
    page = client.get(reverse("portal-login", args=["acme"]))
    assert b"Sign in with Acme Login" in page.content
    other = BrandFactory(slug="initech")
    assert b"Sign in with" not in client.get(reverse("portal-login", args=[other.slug])).content
    # No provider: the start is a not-found page, nothing redirects anywhere.
    assert client.post(reverse("portal-oidc-start", args=["initech"])).status_code == 404


def test_a_partner_signs_in_through_the_brands_provider(client, oidc_op, acme, pia):
    authorization = start(client, "acme")
    sent = query_of(authorization)
    assert authorization.startswith(oidc_op.metadata["authorization_endpoint"])
    assert sent["client_id"] == PARTNER_CLIENTS["acme"][0]
    assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) == 43
    assert sent["redirect_uri"] == "http://127.0.0.1:8999/p/acme/login/oidc/callback/"
    assert len(sent["state"]) >= 43 and len(sent["nonce"]) >= 43
    assert sent["scope"] == "openid email"

    response = back_at_portal(client, at_provider(oidc_op, authorization, "pia"))

    assert response.status_code == 302 and response["Location"] == home("acme")
    page = client.get(home("acme"))
    assert page.status_code == 200 and b"Pia Media" in page.content
    event = AuditEvent.objects.get(action="partner.sign_in")
    assert (event.actor_label, event.channel, event.brand_id) == (
        f"partner:{pia.pk}",
        "portal",
        acme.pk,
    )
    assert event.changes == {"method": [None, "oidc"]}
    assert PARTNER_CLIENTS["acme"][1] not in str(event.changes)


def test_a_paused_partner_signs_in_and_an_applicant_does_not(client, oidc_op, acme, pia):
    pia.status = PartnerStatus.PAUSED
    pia.save()
    assert oidc_sign_in(client, oidc_op, "acme", "pia").status_code == 302
    pia.status = PartnerStatus.PENDING
    pia.save()
    other = Client()
    refused = oidc_sign_in(other, oidc_op, "acme", "pia")
    assert refused.status_code == 403 and not signed_in(other, "acme")


def test_a_wrong_state_signs_nobody_in(client, oidc_op, acme, pia):
    callback = at_provider(oidc_op, start(client, "acme"), "pia")
    forged = with_query(callback, state="A" * 43)
    response = back_at_portal(client, forged)
    assert response.status_code == 400 and b"not valid any more" in response.content
    assert not signed_in(client, "acme")
    missing = back_at_portal(client, with_query(callback, state=""))
    assert missing.status_code == 400
    # A callback in another browser (no state in its session) is refused too.
    assert back_at_portal(Client(), callback).status_code == 400
    assert not AuditEvent.objects.filter(action="partner.sign_in").exists()


def test_a_replayed_code_signs_nobody_in(client, oidc_op, acme, pia, caplog):
    callback = at_provider(oidc_op, start(client, "acme"), "pia")
    assert back_at_portal(client, callback).status_code == 302
    # The same callback again, in the same browser: its state was spent, so it is refused
    # before the provider is asked anything.
    with caplog.at_level(logging.WARNING, logger="partner_portal.oidc_views"):
        assert back_at_portal(client, callback).status_code == 400
    assert "token_refused" not in caplog.text
    again = Client()
    assert back_at_portal(again, callback).status_code == 400
    # The old code under a fresh state of the same browser: the provider refuses the code
    # (used, and the fresh PKCE verifier is not the one it was issued for).
    fresh = query_of(start(again, "acme"))["state"]
    replay = back_at_portal(again, with_query(callback, state=fresh))
    assert replay.status_code == 400
    assert not signed_in(again, "acme")
    assert AuditEvent.objects.filter(action="partner.sign_in").count() == 1


def test_an_id_token_with_another_nonce_is_refused(client, oidc_op, acme, pia, caplog):
    # The browser's request to the provider carries a nonce other than the one this session
    # keeps (an attacker's injected authorization request): the ID token names that nonce.
    authorization = with_query(start(client, "acme"), nonce="attacker-chosen-nonce-" + "x" * 30)
    with caplog.at_level(logging.WARNING, logger="partner_portal.oidc_views"):
        response = back_at_portal(client, at_provider(oidc_op, authorization, "pia"))
    assert response.status_code == 400
    assert "nonce_mismatch" in caplog.text
    assert not signed_in(client, "acme")


def test_an_unverified_address_is_refused(client, oidc_op, acme):
    PartnerFactory(brand=acme, slug="una", email="una@partner.test")
    response = oidc_sign_in(client, oidc_op, "acme", "una")
    assert response.status_code == 403 and b"has not verified" in response.content
    assert not signed_in(client, "acme")


def test_an_unknown_address_gets_the_same_refusal_as_a_rejected_partner(client, oidc_op, acme):
    unknown = oidc_sign_in(client, oidc_op, "acme", "nemo")
    assert unknown.status_code == 403 and b"could not sign you in" in unknown.content
    PartnerFactory(
        brand=acme, slug="nemo", email="nemo@nowhere.test", status=PartnerStatus.REJECTED
    )
    rejected = oidc_sign_in(Client(), oidc_op, "acme", "nemo")
    assert (rejected.status_code, rejected.content) == (unknown.status_code, unknown.content)
    assert b"nemo@nowhere.test" not in unknown.content
    assert not signed_in(client, "acme")


def test_another_brands_provider_cannot_sign_into_this_brand(
    client, oidc_op, acme, globex, pia, caplog
):
    PartnerFactory(brand=globex, slug="pia", email="pia@partner.test")
    at_acme = query_of(start(client, "acme"))["state"]
    globex_callback = at_provider(oidc_op, start(client, "globex"), "pia")
    acme_callback = reverse("portal-oidc-callback", args=["acme"])
    # Globex's code and state at Acme's callback: the state is not Acme's, so it is refused
    # before any exchange.
    with caplog.at_level(logging.WARNING, logger="partner_portal.oidc_views"):
        wrong_brand = client.get(acme_callback, query_of(globex_callback))
    assert wrong_brand.status_code == 400
    assert "token_refused" not in caplog.text
    # Globex's code under Acme's state: Acme's client redeems it, and the provider refuses
    # a code issued to another client.
    code = query_of(globex_callback)["code"]
    with caplog.at_level(logging.WARNING, logger="partner_portal.oidc_views"):
        swapped = client.get(acme_callback, {"state": at_acme, "code": code})
    assert swapped.status_code == 400
    assert "token_refused" in caplog.text
    assert not signed_in(client, "acme") and not signed_in(client, "globex")


def test_an_id_token_issued_to_another_brands_client_fails_verification(oidc_op, acme, globex):
    """A real ID token of the provider, issued to Globex's client, checked as Acme's: refused
    (aud), while it verifies as Globex's, and not with another nonce."""
    acme_provider = brand_sign_in_provider(acme)
    globex_provider = brand_sign_in_provider(globex)
    assert acme_provider is not None and globex_provider is not None
    found = endpoints(globex_provider)
    pending = new_pending()
    redirect = "http://127.0.0.1:8999/p/globex/login/oidc/callback/"
    callback = at_provider(
        oidc_op, authorization_url(globex_provider, found, pending, redirect), "pia"
    )
    answer = requests.post(
        oidc_op.metadata["token_endpoint"],
        auth=PARTNER_CLIENTS["globex"],
        data={
            "grant_type": "authorization_code",
            "code": query_of(callback)["code"],
            "redirect_uri": redirect,
            "code_verifier": pending.code_verifier,
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    id_token = answer.json()["id_token"]

    claims = verify_id_token(globex_provider, found, id_token, pending.nonce)
    assert claims["sub"] == "pia"
    with pytest.raises(OidcRefused) as as_acme:
        verify_id_token(acme_provider, endpoints(acme_provider), id_token, pending.nonce)
    assert as_acme.value.code == "id_token_invalid"
    assert "InvalidAudienceError" in as_acme.value.message
    with pytest.raises(OidcRefused) as other_nonce:
        verify_id_token(globex_provider, found, id_token, "another-nonce")
    assert other_nonce.value.code == "nonce_mismatch"
    tampered = id_token[:-4] + ("AAAA" if not id_token.endswith("AAAA") else "BBBB")
    with pytest.raises(OidcRefused) as bad_signature:
        verify_id_token(globex_provider, found, tampered, pending.nonce)
    assert bad_signature.value.code == "id_token_invalid"


def test_a_partner_of_one_brand_cannot_reach_another_brands_portal(
    client, oidc_op, acme, globex, pia
):
    assert oidc_sign_in(client, oidc_op, "acme", "pia").status_code == 302
    assert signed_in(client, "acme")
    response = client.get(home("globex"))
    assert response.status_code == 302
    assert response["Location"] == reverse("portal-login", args=["globex"])
    # pia is no partner of Globex: its provider signs her in nowhere there.
    assert oidc_sign_in(client, oidc_op, "globex", "pia").status_code == 403
    assert not signed_in(client, "globex") and signed_in(client, "acme")


def test_a_partner_of_two_brands_signs_in_to_each_and_keeps_both(client, oidc_op, acme, globex):
    PartnerFactory(brand=acme, slug="pia", name="Pia at Acme", email="pia@partner.test")
    PartnerFactory(brand=globex, slug="pia-g", name="Pia at Globex", email="pia@partner.test")
    assert oidc_sign_in(client, oidc_op, "acme", "pia").status_code == 302
    assert oidc_sign_in(client, oidc_op, "globex", "pia").status_code == 302
    acme_page = client.get(home("acme"))
    globex_page = client.get(home("globex"))
    assert b"Pia at Acme" in acme_page.content and b"Pia at Globex" in globex_page.content
    # Each page lists the other brand this browser is signed in to (the switch).
    assert reverse("portal-home", args=["globex"]).encode() in acme_page.content
    assert reverse("portal-home", args=["acme"]).encode() in globex_page.content


def test_several_partners_with_the_address_get_the_links_choice(client, oidc_op, acme):
    first = PartnerFactory(brand=acme, slug="pia-1", name="Pia One", email="pia@partner.test")
    second = PartnerFactory(brand=acme, slug="pia-2", name="Pia Two", email="pia@partner.test")
    page = oidc_sign_in(client, oidc_op, "acme", "pia")
    assert page.status_code == 200
    assert b"Sign in as Pia One" in page.content and b"Sign in as Pia Two" in page.content
    assert not signed_in(client, "acme")
    outsider = PartnerFactory(brand=acme, slug="other", email="other@partner.test")
    choose = reverse("portal-oidc-choose", args=["acme"])
    # A partner not on the list is refused (and the choice is spent).
    assert client.post(choose, {"partner": str(outsider.pk)}).status_code == 400
    assert client.post(choose, {"partner": str(second.pk)}).status_code == 400
    assert oidc_sign_in(client, oidc_op, "acme", "pia").status_code == 200
    response = client.post(choose, {"partner": str(second.pk)})
    assert response.status_code == 302
    assert b"Pia Two" in client.get(home("acme")).content
    event = AuditEvent.objects.get(action="partner.sign_in")
    assert event.actor_label == f"partner:{second.pk}" != f"partner:{first.pk}"


def test_failures_count_against_the_ip_like_bad_links(settings, client, oidc_op, acme, pia):
    settings.TRCKER_LOGIN_FAILURES_PER_IP = "2/h"
    for _ in range(2):
        assert (
            client.get(
                reverse("portal-oidc-callback", args=["acme"]), {"state": "B" * 43, "code": "x"}
            ).status_code
            == 400
        )
    limited = client.get(reverse("portal-oidc-callback", args=["acme"]), {"state": "B" * 43})
    assert limited.status_code == 429 and limited["Retry-After"]
    assert client.post(reverse("portal-oidc-start", args=["acme"])).status_code == 429


def test_the_sign_in_returns_to_a_pending_mcp_authorization(client, oidc_op, acme, pia):
    # A partner adding Trcker's MCP server by URL was sent to the portal's sign-in; the
    # provider's sign-in lands back on that authorization request, as the emailed link does.
    pending = reverse("oauth2_provider:authorize") + "?client_id=abc&response_type=code"
    session = client.session
    session[AFTER_SIGN_IN_KEY] = {str(acme.pk): pending}
    session.save()
    response = oidc_sign_in(client, oidc_op, "acme", "pia")
    assert response.status_code == 302 and response["Location"] == pending


def test_a_head_request_spends_nothing(client, oidc_op, acme, pia):
    # Answering the callback spends its state: a HEAD probe of the URL must not.
    callback = at_provider(oidc_op, start(client, "acme"), "pia")
    parts = callback.split("?", 1)
    assert client.head(parts[0].removeprefix(PUBLIC_URL) + "?" + parts[1]).status_code == 405
    assert back_at_portal(client, callback).status_code == 302


def test_a_strangers_callback_makes_no_session(client, acme):
    response = client.get(
        reverse("portal-oidc-callback", args=["acme"]), {"state": "C" * 43, "code": "x"}
    )
    assert response.status_code == 400
    assert conf.SESSION_COOKIE_NAME not in response.cookies


def test_an_unreachable_provider_does_not_count_against_the_ip(settings, client, acme):
    settings.TRCKER_LOGIN_FAILURES_PER_IP = "1/h"
    provider = acme_provider_row(acme)
    provider.issuer = "http://127.0.0.1:9"  # nothing listens on the discard port
    provider.save()
    for _ in range(3):
        response = client.post(reverse("portal-oidc-start", args=["acme"]))
        assert response.status_code == 502 and b"could not complete" in response.content
    # The emailed link's budget is untouched too.
    assert client.get(reverse("portal-login", args=["acme"])).status_code == 200


def acme_provider_row(brand):
    row = brand_sign_in_provider(brand)
    assert row is not None
    return row
