"""/t.js: served cacheable, cookie-free and small, and in a real Chromium it keeps the click id
of a landing URL on the brand's own site for the checkout; the documented copy-paste snippets
(Stripe Payment Links, Shopify's cart attribute) run as printed in docs/integrations.md."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
from django.test import Client

from integrations.tracker_script import SCRIPT
from tests.browser import chromium_page

CLICK_ID = "clk_8f2aKx0Qw1Zt3Yb9"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"
# "A few hundred bytes" (issue 17): what is served, and what a browser downloads.
MAX_RAW_BYTES = 600
MAX_GZIP_BYTES = 450


def snippet(name: str) -> str:
    """The code block under ``<!-- snippet: name -->`` in docs/integrations.md."""
    found = re.search(
        rf"<!-- snippet: {name} -->\n```html\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S
    )
    assert found, f"docs/integrations.md has no snippet {name}"
    return found.group(1)


def test_served_small_cacheable_and_without_cookies(db):
    response = Client().get("/t.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert "max-age=86400" in response["Cache-Control"]
    assert "public" in response["Cache-Control"]
    assert response["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert not response.cookies
    assert response.content == SCRIPT
    assert len(SCRIPT) <= MAX_RAW_BYTES, f"/t.js grew to {len(SCRIPT)} bytes"
    gzipped = len(gzip.compress(SCRIPT, compresslevel=9))
    assert gzipped <= MAX_GZIP_BYTES, f"/t.js grew to {gzipped} bytes gzipped"
    again = Client().get("/t.js", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304
    assert not again.content
    assert again["ETag"] == response["ETag"]
    assert Client().get("/t.js", HTTP_IF_NONE_MATCH='"other"').status_code == 200
    assert Client().head("/t.js")["ETag"] == response["ETag"]
    assert Client().post("/t.js").status_code == 405


@pytest.fixture
def browser(tmp_path):
    yield from chromium_page(tmp_path)


def test_the_click_id_survives_to_the_checkout_page(app_server, httpserver, browser):
    trcker = app_server(workers=1)
    page = (
        "<!doctype html><html><head>"
        f'<script src="{trcker.url("/t.js")}" async></script>'
        f"{snippet('payment-links')}{snippet('shopify-cart')}</head><body>"
        '<a id="buy" href="https://buy.stripe.com/test_28o5mX">Buy</a>'
        '<a id="tagged" href="https://buy.stripe.com/x?client_reference_id=keep">Keep</a>'
        "</body></html>"
    )
    for path in ("/landing", "/checkout"):
        httpserver.expect_request(path).respond_with_data(page, content_type="text/html")
    httpserver.expect_request("/cart/update.js", method="POST").respond_with_json({"token": "c1"})
    # The brand's site (localhost) is another site than Trcker's (127.0.0.1).
    browser.navigate(httpserver.url_for("/landing") + f"?utm_source=x&click_id={CLICK_ID}")
    assert browser.wait_for("window.trk && trk.clickId()") == CLICK_ID
    assert browser.evaluate("localStorage.getItem('trk_click_id')") == CLICK_ID
    assert f"trk_click_id={CLICK_ID}" in browser.evaluate("document.cookie")
    # The Payment Links snippet.
    assert browser.wait_for("document.getElementById('buy').href.includes('client_reference_id')")
    assert browser.evaluate("document.getElementById('buy').href") == (
        f"https://buy.stripe.com/test_28o5mX?client_reference_id={CLICK_ID}"
    )
    assert "client_reference_id=keep" in browser.evaluate("document.getElementById('tagged').href")
    # The Shopify snippet: the cart attribute, once per browser session.
    assert browser.wait_for("sessionStorage.getItem('trk_click_id')") == CLICK_ID
    # A later page of the brand's site, without the parameter: the id is still there.
    browser.navigate(httpserver.url_for("/checkout"))
    assert browser.wait_for("window.trk && trk.clickId()") == CLICK_ID
    # The cookie alone (localStorage cleared) is enough, e.g. read by the brand's server.
    browser.evaluate("localStorage.clear()")
    assert browser.evaluate("trk.clickId()") == CLICK_ID
    # A malformed id in the URL is not taken.
    browser.navigate(httpserver.url_for("/checkout") + "?click_id=clk_%3Cscript%3E")
    assert browser.wait_for("window.trk && trk.clickId()") == CLICK_ID
    assert "clk_%3C" not in browser.evaluate("document.cookie")
    carts = [
        json.loads(request.get_data())
        for request, _ in httpserver.log
        if request.path == "/cart/update.js"
    ]
    assert carts == [{"attributes": {"trk_click_id": CLICK_ID}}]


def test_a_page_without_a_click_id_has_none(app_server, httpserver, browser):
    trcker = app_server(workers=1)
    page = f'<!doctype html><script src="{trcker.url("/t.js")}"></script>'
    httpserver.expect_request("/plain").respond_with_data(page, content_type="text/html")
    browser.navigate(httpserver.url_for("/plain") + "?click_id=nope&trk_click_id=clk_short")
    assert browser.wait_for("window.trk !== undefined")
    assert browser.evaluate("trk.clickId()") is None
    assert "trk_click_id" not in browser.evaluate("document.cookie")
