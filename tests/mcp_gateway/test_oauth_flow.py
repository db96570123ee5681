"""OAuth for MCP over real HTTP against a live server, no shortcuts: discovery from a bare
401, dynamic registration, authorization code with PKCE through the login and consent pages,
tokens used by the official MCP SDK, refresh rotation, revocation."""

import asyncio
import base64
import hashlib
import re
import secrets
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest
import requests
from django.utils import timezone
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from oauth2_provider.models import AccessToken

from audit.models import AuditEvent
from brands.models import StaffMembership, StaffRole
from mcp_gateway.tools import TOOLS
from offers.models import Offer
from tests.factories import BrandFactory, OfferFactory, StaffMembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "pw-for-tests-only"
CALLBACK = "http://127.0.0.1:45678/callback"
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


@pytest.fixture
def server(live_server, settings):
    settings.TRCKER_PUBLIC_URL = live_server.url
    settings.TRCKER_MCP_ALLOWED_ORIGINS = [live_server.url]
    return live_server.url


@pytest.fixture
def acme():
    brand = BrandFactory(slug="acme", name="Acme")
    OfferFactory(brand=brand, slug="spring-sale")
    return brand


def _pkce():
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    return verifier, challenge


def _hidden_inputs(html):
    return {
        name: unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)
    }


class Flow:
    """A client and a person, driving the whole flow with plain HTTP."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.mcp_url = f"{base}/api/mcp"

    def discover(self) -> dict:
        unauthenticated = requests.post(self.mcp_url, json=PING, timeout=10)
        assert unauthenticated.status_code == 401
        challenge = unauthenticated.headers["WWW-Authenticate"]
        metadata_url = re.search(r'resource_metadata="([^"]+)"', challenge).group(1)
        resource = requests.get(metadata_url, timeout=10).json()
        assert resource["resource"] == self.mcp_url
        issuer = resource["authorization_servers"][0]
        server = requests.get(f"{issuer}/.well-known/oauth-authorization-server", timeout=10).json()
        assert server["code_challenge_methods_supported"] == ["S256"]
        assert server["authorization_response_iss_parameter_supported"] is True
        return server

    def register(self, server: dict) -> str:
        registered = requests.post(
            server["registration_endpoint"],
            json={
                "client_name": "Test MCP client",
                "redirect_uris": [CALLBACK],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
            },
            timeout=10,
        )
        assert registered.status_code == 201, registered.text
        return registered.json()["client_id"]

    def authorize(
        self,
        server: dict,
        client_id: str,
        *,
        username: str,
        brand: str,
        access: str,
        scope: str = "mcp:read mcp:write",
        resource: str | None = None,
    ) -> dict:
        verifier, challenge = _pkce()
        state = secrets.token_urlsafe(8)
        browser = requests.Session()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": CALLBACK,
                "scope": scope,
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "resource": resource or self.mcp_url,
            }
        )
        login_page = browser.get(f"{server['authorization_endpoint']}?{query}", timeout=10)
        assert "/admin/login/" in login_page.url  # not signed in yet: the login page, with next=
        form = _hidden_inputs(login_page.text)
        consent = browser.post(
            login_page.url,
            data={**form, "username": username, "password": PASSWORD},
            headers={"Referer": login_page.url},
            timeout=10,
        )
        assert consent.status_code == 200, consent.text[:500]
        assert "Connect Test MCP client to Trcker?" in consent.text
        assert "127.0.0.1:45678" in consent.text  # the redirect host is shown
        self.last_consent_html = consent.text
        fields = _hidden_inputs(consent.text)
        approved = browser.post(
            consent.url,
            data={**fields, "brand": brand, "access": access, "allow": "Authorize"},
            headers={"Referer": consent.url},
            allow_redirects=False,
            timeout=10,
        )
        assert approved.status_code == 302, approved.text[:500]
        location = urlsplit(approved.headers["Location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
        params = parse_qs(location.query)
        assert params["state"] == [state]
        assert params["iss"] == [self.base]  # RFC 9207 mix-up defence
        tokens = requests.post(
            server["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": params["code"][0],
                "redirect_uri": CALLBACK,
                "client_id": client_id,
                "code_verifier": verifier,
                "resource": resource or self.mcp_url,
            },
            timeout=10,
        )
        assert tokens.status_code == 200, tokens.text
        return tokens.json()

    def call(self, token: str, body: dict | None = None) -> requests.Response:
        return requests.post(
            self.mcp_url,
            json=body or PING,
            timeout=10,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )

    def tool(self, token: str, name: str, arguments: dict) -> requests.Response:
        return self.call(
            token,
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": name, "arguments": arguments},
            },
        )


def _member(brand, role):
    return StaffMembershipFactory(brand=brand, role=role).user


def test_add_mcp_server_by_url_end_to_end(server, acme):
    owner = _member(acme, StaffRole.OWNER)
    flow = Flow(server)
    metadata = flow.discover()
    client_id = flow.register(metadata)
    tokens = flow.authorize(
        metadata, client_id, username=owner.username, brand="acme", access="read_write"
    )
    assert set(tokens["scope"].split()) == {"mcp:read", "mcp:write", "brand:acme"}
    assert tokens["expires_in"] <= 3600
    access, refresh = tokens["access_token"], tokens["refresh_token"]
    assert access not in str(list(AccessToken.objects.values()))  # hashed at rest

    async def use(token):
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
            Client(streamable_http_client(flow.mcp_url, http_client=http)) as client,
        ):
            tools = await client.list_tools()
            paused = await client.call_tool("pause_offer", {"offer_id": "spring-sale"})
            return tools, paused

    tools, paused = asyncio.run(use(access))
    assert len(tools.tools) == len(TOOLS)
    assert paused.is_error is False
    assert Offer.objects.get(slug="spring-sale").status == "paused"
    event = AuditEvent.objects.get(action="offer.pause")
    assert (event.actor_label, event.channel) == ("mcp:acme", "mcp")
    assert event.actor_detail["oauth_client"] == client_id
    assert event.actor_detail["user"] == f"user:{owner.pk}"

    # refresh rotates: the new pair works, the old refresh token does not
    refreshed = requests.post(
        metadata["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": refresh, "client_id": client_id},
        timeout=10,
    ).json()
    assert refreshed["refresh_token"] != refresh
    assert flow.call(refreshed["access_token"]).status_code == 200
    reused = requests.post(
        metadata["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": refresh, "client_id": client_id},
        timeout=10,
    )
    assert reused.status_code == 400

    # revoke → the next request is refused
    revoked = requests.post(
        metadata["revocation_endpoint"],
        data={"token": refreshed["access_token"], "client_id": client_id},
        timeout=10,
    )
    assert revoked.status_code == 200
    refused = flow.call(refreshed["access_token"])
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]


def test_read_token_steps_up_with_403_insufficient_scope(server, acme):
    owner = _member(acme, StaffRole.OWNER)
    flow = Flow(server)
    metadata = flow.discover()
    tokens = flow.authorize(
        metadata, flow.register(metadata), username=owner.username, brand="acme", access="read"
    )
    assert set(tokens["scope"].split()) == {"mcp:read", "brand:acme"}
    listed = flow.call(tokens["access_token"], {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert {tool["name"] for tool in listed.json()["result"]["tools"]} >= {"list_offers"}
    denied = flow.tool(tokens["access_token"], "pause_offer", {"offer_id": "spring-sale"})
    assert denied.status_code == 403
    challenge = denied.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="mcp:read mcp:write"' in challenge
    assert "resource_metadata=" in challenge
    assert Offer.objects.get(slug="spring-sale").status == "active"


def test_analysts_token_cannot_write(server, acme):
    analyst = _member(acme, StaffRole.ANALYST)
    flow = Flow(server)
    metadata = flow.discover()
    tokens = flow.authorize(
        metadata, flow.register(metadata), username=analyst.username, brand="acme", access="read"
    )
    assert 'value="read_write"' not in flow.last_consent_html  # not offered to an analyst
    assert "mcp:write" not in tokens["scope"].split()
    assert (
        flow.tool(tokens["access_token"], "pause_offer", {"offer_id": "spring-sale"}).status_code
        == 403
    )
    # even a write-scoped token is capped by the user's current role
    owner = _member(acme, StaffRole.OWNER)
    write = flow.authorize(
        metadata,
        flow.register(metadata),
        username=owner.username,
        brand="acme",
        access="read_write",
    )
    StaffMembership.objects.filter(user=owner).update(role=StaffRole.ANALYST)
    assert (
        flow.tool(write["access_token"], "pause_offer", {"offer_id": "spring-sale"}).status_code
        == 403
    )
    StaffMembership.objects.filter(user=owner).delete()
    assert flow.call(write["access_token"]).status_code == 401  # left the brand: token dead


def test_tokens_are_refused_when_expired_tampered_foreign_or_in_the_query(server, acme):
    owner = _member(acme, StaffRole.OWNER)
    flow = Flow(server)
    metadata = flow.discover()
    client_id = flow.register(metadata)
    good = flow.authorize(
        metadata, client_id, username=owner.username, brand="acme", access="read"
    )["access_token"]
    assert flow.call(good).status_code == 200
    assert flow.call(good[:-2] + ("aa" if not good.endswith("aa") else "bb")).status_code == 401
    in_query = requests.post(f"{flow.mcp_url}?access_token={good}", json=PING, timeout=10)
    assert in_query.status_code == 401
    other_audience = flow.authorize(
        metadata,
        client_id,
        username=owner.username,
        brand="acme",
        access="read",
        resource="https://elsewhere.example/api",
    )["access_token"]
    refused = flow.call(other_audience)
    assert refused.status_code == 401
    assert "not issued for this MCP endpoint" in refused.json()["error"]["message"]
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    expired = flow.call(good)
    assert expired.status_code == 401
    assert "expired" in expired.json()["error"]["message"]


def test_a_brand_a_token_sees_nothing_of_brand_b(server, acme):
    globex = BrandFactory(slug="globex")
    OfferFactory(brand=globex, slug="globex-offer")
    owner = _member(acme, StaffRole.OWNER)
    StaffMembershipFactory(brand=globex, user=owner, role=StaffRole.OWNER)
    flow = Flow(server)
    metadata = flow.discover()
    token = flow.authorize(
        metadata,
        flow.register(metadata),
        username=owner.username,
        brand="acme",
        access="read_write",
    )["access_token"]
    result = flow.tool(token, "pause_offer", {"offer_id": "globex-offer"}).json()["result"]
    assert result["isError"] is True
    assert "not_found" in result["content"][0]["text"]
    assert Offer.objects.get(slug="globex-offer").status == "active"


def test_consent_cannot_pick_a_brand_the_user_is_not_in(server, acme):
    globex = BrandFactory(slug="globex")
    owner = _member(acme, StaffRole.OWNER)
    flow = Flow(server)
    metadata = flow.discover()
    with pytest.raises(AssertionError) as refused:
        flow.authorize(
            metadata,
            flow.register(metadata),
            username=owner.username,
            brand=globex.slug,
            access="read",
        )
    assert "assert 200 == 302" in str(refused.value)  # the consent form re-rendered, no redirect
    # only the client's registration-management token exists; no access token was issued
    assert set(AccessToken.objects.values_list("scope", flat=True)) == {
        "oauth2_provider:registration"
    }


def test_brand_staff_list_and_revoke_their_brands_clients_and_tokens(server, acme, client):
    from oauth2_provider.models import Application

    owner = _member(acme, StaffRole.OWNER)
    outsider = _member(BrandFactory(slug="globex"), StaffRole.OWNER)
    flow = Flow(server)
    metadata = flow.discover()
    client_id = flow.register(metadata)
    token = flow.authorize(
        metadata, client_id, username=owner.username, brand="acme", access="read"
    )["access_token"]
    client.force_login(outsider)
    assert client_id not in client.get("/admin/oauth2_provider/application/").content.decode()
    client.force_login(owner)
    assert client_id in client.get("/admin/oauth2_provider/application/").content.decode()
    app = Application.objects.get(client_id=client_id)
    client.post(
        "/admin/oauth2_provider/application/",
        {"action": "revoke_tokens", "_selected_action": [app.pk]},
    )
    assert flow.call(token).status_code == 401
    event = AuditEvent.objects.get(action="oauth.revoke")
    assert (event.actor_label, event.target_id, event.changes) == (
        f"user:{owner.pk}",
        client_id,
        {"tokens_revoked": [None, 1]},
    )


def test_redirect_uris_match_exactly_except_the_loopback_port_and_deny_works(server, acme):
    owner = _member(acme, StaffRole.OWNER)
    flow = Flow(server)
    metadata = flow.discover()
    registered = requests.post(
        metadata["registration_endpoint"],
        json={
            "client_name": "Loopback client",
            "redirect_uris": ["http://127.0.0.1/callback"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        },
        timeout=10,
    ).json()
    _verifier, challenge = _pkce()

    def authorize(redirect_uri):
        browser = requests.Session()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": registered["client_id"],
                "redirect_uri": redirect_uri,
                "scope": "mcp:read",
                "state": "s",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "resource": flow.mcp_url,
            }
        )
        page = browser.get(f"{metadata['authorization_endpoint']}?{query}", timeout=10)
        form = _hidden_inputs(page.text)
        return browser, browser.post(
            page.url,
            data={**form, "username": owner.username, "password": PASSWORD},
            headers={"Referer": page.url},
            timeout=10,
        )

    _, wrong_path = authorize("http://127.0.0.1:45678/elsewhere")
    assert "Connect" not in wrong_path.text  # an error page, not the consent form
    browser, consent = authorize("http://127.0.0.1:45678/callback")  # any loopback port
    assert "Connect Loopback client to Trcker?" in consent.text
    fields = _hidden_inputs(consent.text)
    # The hidden fields changed after the page was shown: refused before the library trusts
    # them (a changed redirect_uri got the denial, an unknown client_id or an emptied
    # resource was a 500).
    for changed in (
        {"redirect_uri": "https://evil.example/cb"},
        {"client_id": "no-such-client"},
        {"resource": ""},
        {"resource": "not a uri"},
    ):
        tampered = browser.post(
            consent.url,
            data={**fields, "brand": "acme", "access": "read", **changed},
            headers={"Referer": consent.url},
            allow_redirects=False,
            timeout=10,
        )
        assert tampered.status_code == 400, (changed, tampered.status_code)
        assert "evil.example" not in tampered.headers.get("Location", "")
    denied = browser.post(
        consent.url,
        data={**fields, "brand": "acme", "access": "read"},
        headers={"Referer": consent.url},
        allow_redirects=False,
        timeout=10,
    )
    assert denied.status_code == 302
    assert parse_qs(urlsplit(denied.headers["Location"]).query)["error"] == ["access_denied"]
    assert not AccessToken.objects.exclude(scope="oauth2_provider:registration").exists()
