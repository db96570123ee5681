"""A partner adds Trcker by URL, end to end: the official MCP Python SDK's OAuth client
(``OAuthClientProvider``) against a live server, with nothing but the MCP URL — discovery from
the 401 (RFC 9728, RFC 8414), dynamic registration, PKCE — while the "browser" (plain HTTP,
cookies and CSRF like a browser) goes from the login page through "I'm a partner", the
portal's emailed link and the partner consent page, and back to the client's callback. The
connected client lists exactly the partner tools of its access, calls one, and the partner
disconnects it on the portal."""

from __future__ import annotations

import asyncio
import re
from html import unescape
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2
import pytest
import requests
from django.core import mail
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)

from audit.models import AuditEvent
from mailer.sending import emails_send_due
from operations.catalog import PARTNER_OPERATIONS
from tests.factories import BrandFactory, PartnerFactory
from tests.oauth.partner_flow import CALLBACK, hidden_inputs
from tests.partner_portal.helpers import links_in_outbox

pytestmark = pytest.mark.django_db(transaction=True)
READ_TOOLS = {n for n, op in PARTNER_OPERATIONS.items() if op.tool and not op.is_write}


class MemoryStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class PartnerBrowser:
    """The partner's browser: from the authorization URL the client opens to the callback."""

    def __init__(self, base: str, brand: str, email: str) -> None:
        self.base, self.brand, self.email = base, brand, email
        self.session = requests.Session()
        self.consent_html = ""
        self.callback: dict[str, list[str]] = {}

    def post_form(self, page: requests.Response, data: dict, *, follow: bool = True):
        return self.session.post(
            page.url,
            data={**hidden_inputs(page.text), **data},
            headers={"Referer": page.url},
            allow_redirects=follow,
            timeout=15,
        )

    def authorize(self, url: str) -> None:
        login = self.session.get(url, timeout=15)
        assert "/admin/login/" in login.url, login.url  # nobody signed in yet
        (start,) = re.findall(r'href="(/oauth/partner/\?next=[^"]+)"', login.text)
        start_page = self.session.get(urljoin(self.base, unescape(start)), timeout=15)
        portal_login = self.post_form(start_page, {"brand": self.brand})
        assert portal_login.url == f"{self.base}/p/{self.brand}/login/", portal_login.url
        mail.outbox.clear()
        sent = self.post_form(portal_login, {"email": self.email})
        assert sent.status_code == 200, sent.text[:300]
        emails_send_due()  # the worker's step: the request only queued the email (mailer/)
        (token,) = links_in_outbox()
        confirm = self.session.get(f"{self.base}/p/{self.brand}/login/link/{token}/", timeout=15)
        consent = self.post_form(confirm, {})  # the link's button: signed in, back to the request
        assert consent.status_code == 200 and "/oauth/authorize/" in consent.url, consent.url
        self.consent_html = consent.text
        approved = self.post_form(
            consent, {"partner": self.brand, "access": "read", "allow": "Authorize"}, follow=False
        )
        assert approved.status_code == 302, approved.text[:500]
        location = urlsplit(approved.headers["Location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
        self.callback = parse_qs(location.query)


@pytest.fixture
def server(live_server, settings):
    settings.TRCKER_PUBLIC_URL = live_server.url
    settings.TRCKER_MCP_ALLOWED_ORIGINS = [live_server.url]
    return live_server.url


def test_a_partner_adds_trcker_by_url_with_the_sdk_and_gets_the_partner_tools(server):
    acme = BrandFactory(slug="acme", name="Acme Shop")
    ann = PartnerFactory(brand=acme, slug="ann", name="Ann Reviews", email="ann@example.com")
    PartnerFactory(brand=acme, slug="bob", name="Bobby Deals", email="bob@example.com")
    browser = PartnerBrowser(server, "acme", ann.email)

    async def redirect_handler(url: str) -> None:
        await asyncio.to_thread(browser.authorize, url)

    async def callback_handler() -> AuthorizationCodeResult:
        return AuthorizationCodeResult(
            code=browser.callback["code"][0],
            state=browser.callback["state"][0],
            iss=browser.callback.get("iss", [None])[0],
        )

    storage = MemoryStorage()
    provider = OAuthClientProvider(
        server_url=f"{server}/api/mcp",
        client_metadata=OAuthClientMetadata(
            client_name="Claude",
            redirect_uris=[CALLBACK],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )

    async def connect():
        async with (
            httpx2.AsyncClient(auth=provider, timeout=30) as http,
            Client(streamable_http_client(f"{server}/api/mcp", http_client=http)) as client,
        ):
            tools = await client.list_tools()
            profile = await client.call_tool("get_my_profile", {})
            return {tool.name for tool in tools.tools}, profile

    names, profile = asyncio.run(connect())

    summary = browser.consent_html.split('id="consent-summary">', 1)[1].split("</p>", 1)[0]
    assert "<strong>Claude</strong> wants to read" in summary
    assert "Ann Reviews" in summary and "Acme Shop" in summary
    assert names == READ_TOOLS  # the partner tools of a read key, no brand tool
    assert profile.is_error is False
    assert "Ann Reviews" in str(profile.content) and "Bobby" not in str(profile.content)
    assert storage.tokens is not None
    assert set((storage.tokens.scope or "").split()) == {"mcp:read", f"partner:acme:{ann.pk}"}
    assert AuditEvent.objects.filter(
        action="partner_oauth.authorize", actor_label=f"partner:{ann.pk}"
    ).exists()

    # The partner disconnects the app on the portal: the client's token stops working.
    keys = browser.session.get(f"{server}/p/acme/keys/", timeout=15)
    assert "Claude" in keys.text
    (revoke,) = re.findall(r'action="(/p/acme/keys/apps/\d+/revoke/)"', keys.text)
    done = browser.session.post(
        f"{server}{revoke}",
        data={"csrfmiddlewaretoken": browser.session.cookies["csrftoken"]},
        headers={"Referer": keys.url},
        timeout=15,
    )
    assert done.status_code == 200 and "No connected apps" in done.text
    refused = requests.post(
        f"{server}/api/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        headers={"Authorization": f"Bearer {storage.tokens.access_token}"},
        timeout=15,
    )
    assert refused.status_code == 401
