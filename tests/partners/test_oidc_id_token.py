"""The ID token and discovery checks of partner OIDC sign-in (partners/oidc_client.py) for what
the real loopback provider never sends: unsigned, symmetric, expired, foreign-issuer and
several-audience tokens, keys it does not publish, a rotated key, and a discovery document
naming another issuer. The issuer is a real HTTP server (pytest-httpserver) with a key of the
test's own."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.cache import cache

from partners.models import PartnerSignInProvider
from partners.oidc_client import OidcRefused, endpoints, verify_id_token
from tests.factories import BrandFactory

pytestmark = pytest.mark.django_db

CLIENT_ID = "acme-partners"
NONCE = "n" * 43


class Issuer:
    def __init__(self, httpserver) -> None:
        self.server = httpserver
        self.url = httpserver.url_for("/").rstrip("/")
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "key-1"
        self.jwks_requests = 0

    def publish(self, *, issuer: str | None = None) -> None:
        self.server.expect_request("/.well-known/openid-configuration").respond_with_json(
            {
                "issuer": issuer or self.url,
                "authorization_endpoint": f"{self.url}/auth",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks",
            }
        )
        self.server.expect_request("/jwks").respond_with_handler(self._jwks)

    def _jwks(self, request):
        from werkzeug import Response

        self.jwks_requests += 1
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        body = {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}
        return Response(json.dumps(body), content_type="application/json")

    def token(self, *, key=None, algorithm: str = "RS256", kid: str | None = None, **claims):
        now = int(time.time())
        body = {
            "iss": self.url,
            "aud": CLIENT_ID,
            "sub": "user-1",
            "iat": now,
            "exp": now + 300,
            "nonce": NONCE,
            **claims,
        }
        body = {name: value for name, value in body.items() if value is not None}
        headers = {"kid": kid or self.kid}
        return jwt.encode(body, key or self.key, algorithm=algorithm, headers=headers)


@pytest.fixture
def issuer(settings, httpserver):
    settings.TRCKER_OUTBOUND_ALLOW_PRIVATE = True
    cache.clear()
    return Issuer(httpserver)


@pytest.fixture
def provider(issuer):
    return PartnerSignInProvider.objects.create(
        brand=BrandFactory(slug="acme"),
        display_name="Acme Login",
        issuer=issuer.url,
        client_id=CLIENT_ID,
        client_secret="acme-partners-secret",
    )


def refused(provider, token: str, nonce: str = NONCE) -> str:
    with pytest.raises(OidcRefused) as caught:
        verify_id_token(provider, endpoints(provider), token, nonce)
    return caught.value.code


def test_a_good_token_verifies(issuer, provider):
    issuer.publish()
    claims = verify_id_token(provider, endpoints(provider), issuer.token(), NONCE)
    assert claims["sub"] == "user-1"


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": "https://another-issuer.example"},
        {"aud": "globex-partners"},
        {"aud": [CLIENT_ID, "globex-partners"], "azp": "globex-partners"},
        {"aud": [CLIENT_ID, "globex-partners"]},  # several audiences and no azp
        {"exp": int(time.time()) - 3600},
        {"exp": None},
        {"iat": None},
        {"sub": None},
    ],
)
def test_claims_other_than_ours_are_refused(issuer, provider, claims):
    issuer.publish()
    assert refused(provider, issuer.token(**claims)) == "id_token_invalid"


def test_a_missing_or_other_nonce_is_refused(issuer, provider):
    issuer.publish()
    assert refused(provider, issuer.token(nonce=None)) == "nonce_mismatch"
    assert refused(provider, issuer.token(nonce="other")) == "nonce_mismatch"


def test_unsigned_and_symmetric_tokens_are_refused(issuer, provider):
    issuer.publish()
    # HS256 "signed" with the client secret: the algorithm-confusion attack.
    hs256 = issuer.token(key=provider.client_secret, algorithm="HS256")
    assert refused(provider, hs256) == "id_token_invalid"
    unsigned = jwt.encode(
        jwt.decode(issuer.token(), options={"verify_signature": False}), None, algorithm="none"
    )
    assert refused(provider, unsigned) == "id_token_invalid"


def test_a_key_the_issuer_does_not_publish_is_refused_after_one_refetch(issuer, provider):
    issuer.publish()
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert refused(provider, issuer.token(key=stranger)) == "id_token_invalid"
    assert refused(provider, issuer.token(kid="unknown-kid")) == "id_token_invalid"
    before = issuer.jwks_requests
    assert refused(provider, issuer.token(kid="unknown-kid")) == "id_token_invalid"
    assert issuer.jwks_requests == before + 1  # cached set, then one fresh fetch
    other_type = ec.generate_private_key(ec.SECP256R1())
    assert refused(provider, issuer.token(key=other_type, algorithm="ES256")) == "id_token_invalid"


def test_a_rotated_key_is_fetched_once_and_then_verifies(issuer, provider):
    issuer.publish()
    verify_id_token(provider, endpoints(provider), issuer.token(), NONCE)  # caches the set
    issuer.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issuer.kid = "key-2"
    claims = verify_id_token(provider, endpoints(provider), issuer.token(), NONCE)
    assert claims["sub"] == "user-1"


def test_a_discovery_document_naming_another_issuer_is_not_trusted(issuer, provider):
    issuer.publish(issuer="https://evil.example")
    with pytest.raises(OidcRefused) as caught:
        endpoints(provider)
    assert caught.value.code == "issuer_mismatch"


def test_an_issuer_that_is_not_public_is_never_fetched(settings, issuer, provider):
    settings.TRCKER_OUTBOUND_ALLOW_PRIVATE = False
    issuer.publish()
    with pytest.raises(OidcRefused) as caught:
        endpoints(provider)
    assert caught.value.code == "discovery_unreachable"
    assert issuer.jwks_requests == 0 and not issuer.server.log
