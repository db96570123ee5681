"""Open dynamic client registration has bounds: per-IP rate limit (429 + Retry-After in the
RFC 7591 error shape), bounded redirect URIs and strings, and only the grant types, response
types and token endpoint auth methods /.well-known/oauth-authorization-server advertises."""

from __future__ import annotations

import json

import pytest
from oauth2_provider.models import Application

from mcp_gateway.oauth_registration import MAX_REDIRECT_URIS

pytestmark = pytest.mark.django_db
REGISTER = "/oauth/register/"
CALLBACK = "http://127.0.0.1:45678/callback"
GOOD = {
    "client_name": "Test MCP client",
    "redirect_uris": [CALLBACK],
    "token_endpoint_auth_method": "none",
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
}


@pytest.fixture(autouse=True)
def _generous_rate(settings):
    settings.TRCKER_DCR_RATE = "1000/h"


def _register(client, body, *, ip="203.0.113.10"):
    return client.post(
        REGISTER,
        data=json.dumps(body) if not isinstance(body, bytes | str) else body,
        content_type="application/json",
        REMOTE_ADDR=ip,
    )


def _refused(response, *, mentioning: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "invalid_client_metadata"
    assert mentioning in body["error_description"]


def test_a_well_formed_registration_is_accepted(client):
    response = _register(client, GOOD)
    assert response.status_code == 201, response.content
    assert response.json()["redirect_uris"] == [CALLBACK]


def test_registrations_are_rate_limited_per_client_ip(client, settings):
    settings.TRCKER_DCR_RATE = "3/h"
    for _ in range(3):
        assert _register(client, GOOD).status_code == 201
    limited = _register(client, GOOD)
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) > 0
    body = limited.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == "temporarily_unavailable"
    # Another address is not affected; the limited one registered nothing more.
    assert _register(client, GOOD, ip="198.51.100.20").status_code == 201
    assert Application.objects.count() == 4


def test_refused_attempts_count_against_the_limit_too(client, settings):
    settings.TRCKER_DCR_RATE = "2/h"
    _register(client, {**GOOD, "grant_types": ["client_credentials"]})
    _register(client, {**GOOD, "grant_types": ["password"]})
    assert _register(client, GOOD).status_code == 429


def test_redirect_uri_count_is_bounded(client):
    uris = [f"http://127.0.0.1:45678/cb{i}" for i in range(MAX_REDIRECT_URIS)]
    assert _register(client, {**GOOD, "redirect_uris": uris}).status_code == 201
    too_many = [*uris, "http://127.0.0.1:45678/one-more"]
    _refused(_register(client, {**GOOD, "redirect_uris": too_many}), mentioning="at most 10")


def test_twenty_thousand_redirect_uris_are_refused_without_a_row(client):
    uris = [f"https://c{i}.example.com/cb" for i in range(20_000)]
    response = _register(client, {**GOOD, "redirect_uris": uris})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"
    assert not Application.objects.exists()


def test_redirect_uri_length_is_bounded(client):
    base = "https://client.example.com/"
    fits = base + "a" * (2000 - len(base))
    assert _register(client, {**GOOD, "redirect_uris": [fits]}).status_code == 201
    _refused(
        _register(client, {**GOOD, "redirect_uris": [fits + "a"]}), mentioning="2000 characters"
    )


@pytest.mark.parametrize(
    ("field", "value", "mentioning"),
    [
        ("client_name", "n" * 201, "client_name"),
        ("client_uri", "https://x.example.com/" + "a" * 2000, "client_uri"),
        ("logo_uri", "https://x.example.com/" + "a" * 2000, "logo_uri"),
        ("software_id", "s" * 201, "software_id"),
        ("contacts", [f"a{i}@example.com" for i in range(11)], "contacts"),
        ("redirect_uris", "http://127.0.0.1/cb", "redirect_uris must be an array"),
    ],
)
def test_other_metadata_is_bounded(client, field, value, mentioning):
    _refused(_register(client, {**GOOD, field: value}), mentioning=mentioning)


def test_an_oversized_body_is_refused(client):
    body = json.dumps({**GOOD, "padding": "x" * 20_000})
    _refused(_register(client, body), mentioning="larger than")


@pytest.mark.parametrize(
    ("field", "value", "mentioning"),
    [
        ("grant_types", ["client_credentials"], "'client_credentials'"),
        ("grant_types", ["password"], "'password'"),
        ("grant_types", ["implicit"], "'implicit'"),
        ("grant_types", ["urn:ietf:params:oauth:grant-type:device_code"], "device_code"),
        ("grant_types", ["authorization_code", "client_credentials"], "'client_credentials'"),
        ("response_types", ["token"], "'token'"),
        ("response_types", ["code", "id_token"], "'id_token'"),
        ("token_endpoint_auth_method", "private_key_jwt", "'private_key_jwt'"),
        ("token_endpoint_auth_method", "tls_client_auth", "'tls_client_auth'"),
    ],
)
def test_only_what_the_metadata_advertises_is_accepted(client, field, value, mentioning):
    response = _register(client, {**GOOD, field: value})
    _refused(response, mentioning=mentioning)
    assert "/.well-known/oauth-authorization-server" in response.json()["error_description"]
    assert not Application.objects.exists()


def test_the_accepted_values_are_exactly_the_advertised_ones(client):
    metadata = client.get("/.well-known/oauth-authorization-server").json()
    for method in metadata["token_endpoint_auth_methods_supported"]:
        body = {**GOOD, "token_endpoint_auth_method": method}
        assert _register(client, body).status_code == 201, method
    body = {
        **GOOD,
        "grant_types": metadata["grant_types_supported"],
        "response_types": metadata["response_types_supported"],
    }
    assert _register(client, body).status_code == 201


def test_code_and_authorization_code_go_together(client):
    _refused(
        _register(client, {**GOOD, "grant_types": ["authorization_code"], "response_types": []}),
        mentioning="must be used together",
    )


def test_updates_through_the_management_endpoint_are_bounded_too(client):
    registered = _register(client, GOOD).json()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {registered['registration_access_token']}"}
    path = f"/oauth/register/{registered['client_id']}/"
    too_many = [f"http://127.0.0.1:45678/cb{i}" for i in range(MAX_REDIRECT_URIS + 1)]
    response = client.put(
        path, json.dumps({**GOOD, "redirect_uris": too_many}), "application/json", **headers
    )
    _refused(response, mentioning="at most 10")
    response = client.put(
        path,
        json.dumps({**GOOD, "grant_types": ["client_credentials"]}),
        "application/json",
        **headers,
    )
    _refused(response, mentioning="'client_credentials'")
    # Without the registration token the caller learns nothing about the body.
    assert client.put(path, json.dumps(GOOD), "application/json").status_code == 401
    ok = client.put(path, json.dumps(GOOD), "application/json", **headers)
    assert ok.status_code == 200, ok.content
