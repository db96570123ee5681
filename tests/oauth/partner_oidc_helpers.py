"""Steps of the partner OIDC sign-in tests: a brand's provider set to a client of the real
loopback OpenID provider (tests/oauth/op.py), a browser at the provider, and the portal seen
through Django's test client (the callback URL the provider redirects to is read from its
Location header and requested through the client, so tests can replay or tamper with it)."""

from __future__ import annotations

import html
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import requests
from django.test import Client
from django.urls import reverse

from partners.models import PartnerSignInProvider
from tests.oauth.op import _FORM, _PROMPT, PARTNER_CLIENTS, LoopbackOP

PUBLIC_URL = "http://127.0.0.1:8999"  # the OP accepts any port on a loopback redirect URI


def configure(settings) -> None:
    settings.TRCKER_PUBLIC_URL = PUBLIC_URL
    # The loopback OP is on 127.0.0.1, a private address the SSRF guard refuses otherwise.
    settings.TRCKER_OUTBOUND_ALLOW_PRIVATE = True


def provider_for(brand, op: LoopbackOP, *, client_of: str | None = None) -> PartnerSignInProvider:
    client_id, secret = PARTNER_CLIENTS[client_of or brand.slug]
    return PartnerSignInProvider.objects.create(
        brand=brand,
        display_name="Acme Login" if brand.slug == "acme" else f"{brand.slug} SSO",
        issuer=op.issuer,
        client_id=client_id,
        client_secret=secret,
    )


def start(client: Client, brand_slug: str) -> str:
    """Press "Sign in with …": the provider's authorization URL the portal redirects to."""
    response = client.post(reverse("portal-oidc-start", args=[brand_slug]))
    assert response.status_code == 302, response.content[:500]
    return response["Location"]


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def at_provider(op: LoopbackOP, authorization_url: str, login: str) -> str:
    """Sign in at the provider as ``login`` and consent; the URL it sends the browser back to
    (not followed: the test hands it to the portal)."""
    browser = requests.Session()
    url, response = authorization_url, browser.get(authorization_url, allow_redirects=False)
    for _ in range(12):
        if response.is_redirect:
            url = urljoin(url, response.headers["Location"])
            if not url.startswith(op.issuer):
                return url
            response = browser.get(url, allow_redirects=False)
            continue
        assert response.status_code == 200, response.text[:500]
        form = _FORM.search(response.text)
        assert form, f"no form on the OP page {url}"
        prompt = _PROMPT.search(form["body"])
        assert prompt, f"no prompt on the OP page {url}"
        data = {"prompt": prompt["prompt"]}
        if prompt["prompt"] == "login":
            data |= {"login": login, "password": "any"}
        url = urljoin(url, html.unescape(form["action"]))
        response = browser.post(url, data=data, allow_redirects=False)
    raise AssertionError(f"still at the provider: {url}")


def back_at_portal(client: Client, callback_url: str):
    """Follow the provider's redirect into the portal (path and query only)."""
    assert callback_url.startswith(PUBLIC_URL), callback_url
    parts = urlsplit(callback_url)
    return client.get(parts.path, query_of(callback_url))


def oidc_sign_in(client: Client, op: LoopbackOP, brand_slug: str, login: str):
    return back_at_portal(client, at_provider(op, start(client, brand_slug), login))
