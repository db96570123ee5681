"""The partner side of "add MCP server by URL", driven through the real endpoints on the Django
test client: register a client, sign the partner in to the portal by the emailed link, consent
on /oauth/authorize/, exchange the code with PKCE. Shared by the partner OAuth tests and the
isolation matrix."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

from django.test import Client

from mcp_gateway.oauth import mcp_resource_url
from tests.partner_portal.helpers import sign_in

CALLBACK = "http://127.0.0.1:45678/callback"
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


def register(client: Client, name: str = "Partner test client") -> str:
    registered = client.post(
        "/oauth/register/",
        data=json.dumps(
            {
                "client_name": name,
                "redirect_uris": [CALLBACK],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
            }
        ),
        content_type="application/json",
    )
    assert registered.status_code == 201, registered.content
    return registered.json()["client_id"]


def hidden_inputs(html: str) -> dict[str, str]:
    return {
        name: unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)
    }


@dataclass
class Request:
    """One authorization request: its query string and the PKCE verifier behind it."""

    query: str
    verifier: str

    @property
    def path(self) -> str:
        return f"/oauth/authorize/?{self.query}"


def authorization_request(client_id: str, scope: str = "mcp:read mcp:write") -> Request:
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": CALLBACK,
            "scope": scope,
            "state": "s1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "resource": mcp_resource_url(),
        }
    )
    return Request(query=query, verifier=verifier)


def consent(client: Client, request: Request, *, brand: str, access: str = "read", allow=True):
    """GET the consent page and POST it; returns (page, answer)."""
    page = client.get(request.path)
    assert page.status_code == 200, page.content[:500]
    data = {**hidden_inputs(page.content.decode()), "partner": brand, "access": access}
    if allow:
        data["allow"] = "Authorize"
    return page, client.post(request.path, data=data)


def code_of(answer) -> str:
    assert answer.status_code == 302, answer.content[:500]
    return parse_qs(urlsplit(answer["Location"]).query)["code"][0]


def exchange(client: Client, client_id: str, code: str, verifier: str):
    return client.post(
        "/oauth/token/",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "client_id": client_id,
            "code_verifier": verifier,
            "resource": mcp_resource_url(),
        },
    )


def refresh(client: Client, client_id: str, refresh_token: str, scope: str | None = None):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    if scope is not None:
        data["scope"] = scope
    return client.post("/oauth/token/", data=data)


def mcp(client: Client, token: str, body: dict | None = None):
    return client.post(
        "/api/mcp",
        data=json.dumps(body or PING),
        content_type="application/json",
        HTTP_ACCEPT="application/json, text/event-stream",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def partner_tokens(partner, *, write: bool = False, client_id: str | None = None) -> dict:
    """A token pair the partner authorized, the whole way through (a fresh browser)."""
    browser = Client()
    client_id = client_id or register(browser)
    sign_in(browser, partner)
    request = authorization_request(client_id)
    _, answer = consent(
        browser, request, brand=partner.brand.slug, access="read_write" if write else "read"
    )
    tokens = exchange(Client(), client_id, code_of(answer), request.verifier)
    assert tokens.status_code == 200, tokens.content
    return {**tokens.json(), "client_id": client_id}
