"""/t.js: served cacheable and cookie-free, and in a real Chromium it keeps the click id of a
landing URL on the brand's own site for the checkout."""

from __future__ import annotations

import gzip

import pytest
from django.test import Client

from integrations.tracker_script import SCRIPT
from tests.browser import chromium_page

CLICK_ID = "clk_8f2aKx0Qw1Zt3Yb9"


def test_served_as_cacheable_javascript_without_cookies(db):
    response = Client().get("/t.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert "max-age=86400" in response["Cache-Control"]
    assert "public" in response["Cache-Control"]
    assert response["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert not response.cookies
    assert response.content == SCRIPT
    assert len(gzip.compress(SCRIPT)) < 800  # what a browser downloads
    again = Client().get("/t.js", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304
    assert not again.content
    assert Client().get("/t.js", HTTP_IF_NONE_MATCH='"other"').status_code == 200
    assert Client().post("/t.js").status_code == 405


@pytest.fixture
def browser(tmp_path):
    yield from chromium_page(tmp_path)


def test_the_click_id_survives_to_the_checkout_page(app_server, httpserver, browser):
    trcker = app_server(workers=1)
    page = (
        "<!doctype html><html><head>"
        f'<script src="{trcker.url("/t.js")}"></script></head><body>'
        '<a id="buy" href="https://buy.stripe.com/test_28o5mX">Buy</a>'
        '<a id="tagged" href="https://buy.stripe.com/x?client_reference_id=keep">Keep</a>'
        "</body></html>"
    )
    for path in ("/landing", "/checkout"):
        httpserver.expect_request(path).respond_with_data(page, content_type="text/html")
    # The brand's site (localhost) is another site than Trcker's (127.0.0.1).
    browser.navigate(httpserver.url_for("/landing") + f"?utm_source=x&click_id={CLICK_ID}")
    assert browser.wait_for("window.trk && trk.clickId()") == CLICK_ID
    assert browser.evaluate("localStorage.getItem('trk_click_id')") == CLICK_ID
    assert f"trk_click_id={CLICK_ID}" in browser.evaluate("document.cookie")
    assert browser.evaluate("document.getElementById('buy').href") == (
        f"https://buy.stripe.com/test_28o5mX?client_reference_id={CLICK_ID}"
    )
    assert "client_reference_id=keep" in browser.evaluate("document.getElementById('tagged').href")
    # A later page of the brand's site, without the parameter: the id is still there.
    browser.navigate(httpserver.url_for("/checkout"))
    assert browser.wait_for("window.trk && trk.clickId()") == CLICK_ID
    # A malformed id in the URL is not taken.
    browser.navigate(httpserver.url_for("/checkout") + "?click_id=clk_%3Cscript%3E")
    assert browser.wait_for("window.trk && trk.clickId()") == CLICK_ID
