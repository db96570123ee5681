"""External-issuer mode: JWT access tokens minted by a real authorization server (oidc-provider
on loopback) are validated locally against its JWKS, and refused with a reason when wrong."""

from __future__ import annotations

import base64
import json
import socket
import time
from datetime import UTC, datetime

import jwt
import pytest
import requests
import time_machine
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from brands.models import Brand
from core.errors import AuthenticationError, ServiceUnavailableError
from mcp_gateway import oauth_external
from mcp_gateway.oauth_external import (
    ExternalToken,
    brand_for_org,
    issuer_metadata,
    metadata_cache_key,
    validate_external_token,
)
from tests.factories import BrandFactory


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    oauth_external.clear_process_caches()
    yield
    oauth_external.clear_process_caches()


@pytest.fixture
def external_issuer(settings, oidc_op):
    settings.TRCKER_OAUTH_ISSUER = oidc_op.issuer
    settings.TRCKER_OAUTH_JWKS_URL = ""  # discovered from the issuer's metadata
    settings.TRCKER_OAUTH_ORG_CLAIM = "org"
    settings.TRCKER_MCP_RESOURCE_URL = oidc_op.resource
    return oidc_op


def refused(token: str) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as caught:
        validate_external_token(token)
    error = caught.value
    assert error.code == "invalid_token"
    assert error.http_status == 401
    # The message goes back to the client and into logs: never the credential itself.
    for part in (token, *token.split(".")):
        assert len(part) < 16 or part not in error.message
    return error


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def self_signed(claims: dict, *, kid: str = "not-published-by-the-issuer") -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid, "typ": "at+jwt"})


# --- accepted ---------------------------------------------------------------------------------


def test_client_credentials_token_for_the_mcp_resource_is_accepted(external_issuer):
    token = external_issuer.client_credentials_token()

    result = validate_external_token(token)

    assert isinstance(result, ExternalToken)
    assert result.subject == "svc"
    assert result.client_id == "svc"
    assert result.brand_org == "acme-org"
    assert result.scopes == frozenset({"mcp:read", "mcp:write"})
    assert result.claims["aud"] == external_issuer.resource
    assert result.claims["iss"] == external_issuer.issuer


def test_narrower_scope_is_reported_as_granted(external_issuer):
    token = external_issuer.client_credentials_token(scope="mcp:read")

    assert validate_external_token(token).scopes == frozenset({"mcp:read"})


def test_explicit_jwks_url_is_used_without_metadata(external_issuer, settings, monkeypatch):
    settings.TRCKER_OAUTH_JWKS_URL = external_issuer.metadata["jwks_uri"]
    token = external_issuer.client_credentials_token()

    def no_metadata(*args, **kwargs):
        raise AssertionError("metadata must not be fetched when the JWKS URL is configured")

    monkeypatch.setattr(oauth_external, "issuer_metadata", no_metadata)

    assert validate_external_token(token).brand_org == "acme-org"


@pytest.mark.django_db
def test_org_claim_maps_to_the_brand_with_that_external_org_id(external_issuer):
    acme = BrandFactory(slug="acme", external_org_id="acme-org")
    BrandFactory(slug="globex", external_org_id="globex-org")
    BrandFactory(slug="no-idp")

    token = validate_external_token(external_issuer.client_credentials_token())

    assert brand_for_org(token.brand_org) == acme


# --- refused ----------------------------------------------------------------------------------


def test_token_for_another_resource_is_refused(external_issuer):
    token = external_issuer.client_credentials_token(resource=external_issuer.other_resource)
    assert claims_of(token)["aud"] == external_issuer.other_resource

    error = refused(token)

    assert "audience" in error.message


def test_expired_token_is_refused_after_the_leeway(external_issuer):
    token = external_issuer.client_credentials_token()
    exp = claims_of(token)["exp"]

    with time_machine.travel(datetime.fromtimestamp(exp + 20, tz=UTC), tick=False):
        validate_external_token(token)  # within the 30 s clock-skew leeway
    with time_machine.travel(datetime.fromtimestamp(exp + 31, tz=UTC), tick=False):
        error = refused(token)

    assert "expired" in error.message


def test_tampered_signature_is_refused(external_issuer):
    token = external_issuer.client_credentials_token()
    head, payload, signature = token.split(".")
    middle = len(signature) // 2
    # A middle character: flipping the last one may only touch base64 padding bits.
    flipped = "A" if signature[middle] != "A" else "B"
    tampered = f"{head}.{payload}.{signature[:middle]}{flipped}{signature[middle + 1 :]}"

    error = refused(tampered)

    assert "signature" in error.message


def test_tampered_claims_are_refused(external_issuer):
    token = external_issuer.client_credentials_token()
    head, _, signature = token.split(".")
    claims = claims_of(token) | {"org": "globex-org"}
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()

    error = refused(f"{head}.{forged}.{signature}")

    assert "signature" in error.message


def test_token_from_another_issuer_is_refused(external_issuer, settings):
    settings.TRCKER_OAUTH_ISSUER = "https://login.other-idp.test"
    settings.TRCKER_OAUTH_JWKS_URL = external_issuer.metadata["jwks_uri"]
    token = external_issuer.client_credentials_token()

    error = refused(token)

    assert "unknown issuer" in error.message


def test_token_signed_with_a_key_the_issuer_does_not_publish_is_refused(external_issuer):
    now = int(time.time())
    token = self_signed(
        {
            "iss": external_issuer.issuer,
            "aud": external_issuer.resource,
            "sub": "svc",
            "org": "acme-org",
            "scope": "mcp:read mcp:write",
            "iat": now,
            "exp": now + 300,
        }
    )

    error = refused(token)

    assert "key" in error.message


@pytest.mark.parametrize("algorithm", ["HS256", "none"])
def test_symmetric_and_unsigned_tokens_are_refused(external_issuer, algorithm):
    now = int(time.time())
    claims = {
        "iss": external_issuer.issuer,
        "aud": external_issuer.resource,
        "sub": "svc",
        "org": "acme-org",
        "exp": now + 300,
    }
    key = "a-shared-secret-of-sufficient-length-32b" if algorithm == "HS256" else None
    token = jwt.encode(claims, key, algorithm=algorithm)

    error = refused(token)

    assert "algorithm" in error.message


def test_token_without_the_configured_org_claim_is_refused(external_issuer, settings):
    settings.TRCKER_OAUTH_ORG_CLAIM = "org_id"

    error = refused(external_issuer.client_credentials_token())

    assert "'org_id'" in error.message


@pytest.mark.parametrize("garbage", ["", "not-a-jwt", "a.b.c", "Bearer x.y.z"])
def test_malformed_tokens_are_refused(external_issuer, garbage):
    error = refused(garbage)

    assert "well-formed" in error.message


def test_nothing_is_accepted_without_a_configured_issuer(settings, oidc_op):
    settings.TRCKER_OAUTH_ISSUER = ""
    settings.TRCKER_MCP_RESOURCE_URL = oidc_op.resource

    refused(oidc_op.client_credentials_token())


@pytest.mark.django_db
def test_unknown_organization_maps_to_no_brand():
    BrandFactory(slug="no-idp")  # blank external_org_id must never match a blank org

    for org in ("initech-org", ""):
        with pytest.raises(AuthenticationError) as caught:
            brand_for_org(org)
        assert caught.value.code == "unknown_organization"


@pytest.mark.django_db
def test_two_brands_cannot_share_an_external_org_id():
    BrandFactory(slug="acme", external_org_id="acme-org")
    BrandFactory(slug="one", external_org_id="")
    BrandFactory(slug="two", external_org_id="")  # blank is "none", not a shared value
    duplicate = Brand(slug="copy", name="Copy", external_org_id="acme-org")
    with pytest.raises(ValidationError):
        duplicate.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()


# --- issuer metadata ----------------------------------------------------------------------------


def test_issuer_metadata_is_fetched_and_cached(external_issuer, monkeypatch):
    metadata = issuer_metadata()

    assert metadata["issuer"] == external_issuer.issuer
    assert metadata["jwks_uri"] == external_issuer.metadata["jwks_uri"]
    assert cache.get(metadata_cache_key(external_issuer.issuer)) == metadata

    def no_http(*args, **kwargs):
        raise AssertionError("cached metadata must not be fetched again")

    monkeypatch.setattr(oauth_external.requests, "get", no_http)
    assert issuer_metadata() == metadata


def test_issuer_metadata_survives_a_cache_outage_in_process_memory(external_issuer, monkeypatch):
    class DownCache:
        def get(self, *args, **kwargs):
            raise ConnectionError("cache down")

        def set(self, *args, **kwargs):
            raise ConnectionError("cache down")

    monkeypatch.setattr(oauth_external, "cache", DownCache())
    metadata = issuer_metadata()
    real_get = requests.get
    calls = []

    def counting_get(*args, **kwargs):
        calls.append(args)
        return real_get(*args, **kwargs)

    monkeypatch.setattr(oauth_external.requests, "get", counting_get)

    assert issuer_metadata() == metadata
    assert calls == []


def test_unreachable_issuer_is_a_service_error_not_a_bad_token(settings, oidc_op):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    settings.TRCKER_OAUTH_ISSUER = f"http://127.0.0.1:{closed_port}"
    settings.TRCKER_OAUTH_JWKS_URL = ""
    settings.TRCKER_MCP_RESOURCE_URL = oidc_op.resource

    with pytest.raises(ServiceUnavailableError) as caught:
        issuer_metadata()
    assert "cannot be reached" in caught.value.message

    # A token naming that issuer cannot be checked either: 503, so the client retries
    # instead of throwing its credential away.
    token = self_signed(
        {"iss": settings.TRCKER_OAUTH_ISSUER, "aud": oidc_op.resource, "sub": "x", "exp": 2**40}
    )
    with pytest.raises(ServiceUnavailableError):
        validate_external_token(token)


def test_metadata_naming_another_issuer_is_not_trusted(settings, httpserver):
    # RFC 8414 §3.3: otherwise a proxy or a typo could substitute someone else's jwks_uri.
    httpserver.expect_request("/.well-known/oauth-authorization-server").respond_with_json(
        {"issuer": "https://evil.test", "jwks_uri": "https://evil.test/jwks"}
    )
    settings.TRCKER_OAUTH_ISSUER = httpserver.url_for("/").rstrip("/")

    with pytest.raises(ServiceUnavailableError) as caught:
        issuer_metadata()

    assert caught.value.code == "oauth_issuer_mismatch"


def test_openid_configuration_is_the_fallback(settings, httpserver):
    issuer = httpserver.url_for("/").rstrip("/")
    httpserver.expect_request("/.well-known/oauth-authorization-server").respond_with_data(
        "not found", status=404
    )
    httpserver.expect_request("/.well-known/openid-configuration").respond_with_json(
        {"issuer": issuer, "jwks_uri": f"{issuer}/jwks"}
    )
    settings.TRCKER_OAUTH_ISSUER = issuer

    assert issuer_metadata()["jwks_uri"] == f"{issuer}/jwks"


def test_a_trailing_slash_on_the_issuer_setting_does_not_matter(external_issuer, settings):
    # Auth0 issuers end in "/" and settings may strip it; both spellings name one server.
    settings.TRCKER_OAUTH_ISSUER = f"{external_issuer.issuer}/"

    assert issuer_metadata()["issuer"] == external_issuer.issuer
    assert validate_external_token(external_issuer.client_credentials_token()).subject == "svc"
