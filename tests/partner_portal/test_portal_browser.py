"""The partner portal in a real headless Chromium (tests/browser.py): a partner signs in
through the emailed link (the live server queues the email; the worker's step, run here, sends
it to Django's locmem outbox, as pytest-django configures it), opens every portal page at
desktop and phone widths without sideways scrolling, builds a deep link with a sub id and
follows it to its redirect, makes an API key (shown once), picks the currency they are paid
in and downloads a payout statement."""

from __future__ import annotations

import csv
import datetime as dt
import http.client
import io
import json
import time
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.urls import reverse

from brands.fx_services import fx_rate_set
from mailer.sending import emails_send_due
from offers.models import Offer
from partners.models import Partner
from tests.browser import (
    ARTIFACTS,
    DESKTOP,
    PHONE,
    chromium_page,
    desktop_problems,
    layout,
    phone_problems,
)
from tests.conftest import make_actor
from tests.partner_portal.helpers import links_in_outbox

PAGES = [
    "portal-home",
    "portal-links",
    "portal-conversions",
    "portal-payouts",
    "portal-coupons",
    "portal-profile",
    "portal-keys",
]


@pytest.fixture
def browser(tmp_path):
    yield from chromium_page(tmp_path)


def _wait_for_download(folder, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = list(folder.glob("statement-*.csv"))
        if done and done[0].stat().st_size > 0:
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no statement downloaded into {folder}: {list(folder.iterdir())}")


@pytest.mark.django_db(transaction=True)
def test_a_partner_signs_in_by_email_and_reads_every_page(live_server, browser, world, tmp_path):
    base = live_server.url
    ada = world["ada"]
    Offer.objects.filter(slug="shoes").update(deep_link_hosts=["shop.example.com"])
    mail.outbox.clear()

    browser.navigate(f"{base}{reverse('portal-login', args=['acme'])}")
    browser.evaluate(
        f"""document.getElementById('id_email').value = {json.dumps(ada.email)};
        document.getElementById('pp-login').submit();"""
    )
    sent = base + reverse("portal-login-sent", args=["acme"])
    browser.wait_for(
        f"location.href === {json.dumps(sent)} && !!document.getElementById('pp-sent')"
    )
    assert mail.outbox == []  # the request only queued it
    assert emails_send_due() == 1  # the worker's step
    (token,) = links_in_outbox()
    (link,) = {url for url in mail.outbox[0].body.split() if token in url}
    # The emailed link is built from TRCKER_PUBLIC_URL; the browser follows it on this server.
    browser.navigate(base + urlsplit(link).path)
    browser.wait_for("!!document.getElementById('pp-confirm')")
    browser.evaluate("document.querySelector('#pp-confirm button').click()")
    home = base + reverse("portal-home", args=["acme"])
    browser.wait_for(
        f"location.href === {json.dumps(home)} && document.readyState === 'complete'"
        " && !!document.getElementById('pp-metrics')"
    )
    assert browser.evaluate("document.querySelectorAll('svg.trk-chart').length") == 5

    ARTIFACTS.mkdir(exist_ok=True)
    problems = {}
    for name in PAGES:
        url = base + reverse(name, args=["acme"])
        browser.set_viewport(width=DESKTOP[0], height=DESKTOP[1], mobile=False)
        browser.navigate(url)
        text = browser.evaluate("document.body.innerText")
        assert "Ada Media" in text and "BOB" not in text, name
        for size, check in ((DESKTOP, desktop_problems), (PHONE, phone_problems)):
            for n, problem in enumerate(check(layout(browser, size))):
                problems[(name, size[0], n)] = problem
        shot = name.removeprefix("portal-")
        browser.screenshot(ARTIFACTS / f"portal-{shot}.png", width=DESKTOP[0])
        browser.screenshot(ARTIFACTS / f"portal-{shot}-mobile.png", width=PHONE[0], mobile=True)
    assert problems == {}

    # The link builder, as a partner uses it: pick the offer, a landing page (deep link) and a
    # sub id, build; then follow the link to its redirect.
    for size in (DESKTOP, PHONE):
        browser.set_viewport(width=size[0], height=size[1], mobile=size == PHONE)
        browser.navigate(base + reverse("portal-links", args=["acme"]))
        browser.evaluate(
            """document.getElementById('id_url').value = 'https://shop.example.com/boots?size=9';
            document.getElementById('id_sub1').value = 'summer sale';
            document.querySelector('.pp-builder').submit();"""
        )
        built = browser.wait_for(
            "document.getElementById('pp-built') && document.getElementById('pp-built').value"
        )
        assert built.endswith(
            "/c/acme/shoes/ada?sub1=summer+sale&url=https%3A%2F%2Fshop.example.com%2Fboots%3Fsize%3D9"
        )
        if size == PHONE:  # the built link fits the phone's width too
            assert phone_problems(layout(browser, PHONE)) == []
    server = urlsplit(base)
    connection = http.client.HTTPConnection(server.hostname, server.port, timeout=30)
    connection.request("GET", urlsplit(built).path + "?" + urlsplit(built).query)
    landed = connection.getresponse()
    assert landed.status == 302
    location = urlsplit(landed.getheader("Location"))
    assert (location.netloc, location.path) == ("shop.example.com", "/boots")
    assert location.query.startswith("size=9&click_id=clk_")
    connection.close()

    # An API key, made on the keys page: shown once.
    browser.set_viewport(width=DESKTOP[0], height=DESKTOP[1], mobile=False)
    browser.navigate(base + reverse("portal-keys", args=["acme"]))
    browser.evaluate(
        """document.getElementById('id_name').value = 'my sheet';
        document.querySelector('#pp-key-create form').submit();"""
    )
    key = browser.wait_for(
        "document.getElementById('pp-key') && document.getElementById('pp-key').value"
    )
    assert key.startswith("trkp_")
    browser.navigate(base + reverse("portal-keys", args=["acme"]))
    assert key not in browser.evaluate("document.body.innerHTML")

    # The payout currency, picked in the profile's payout form (the brand has a GBP rate).
    fx_rate_set(
        actor=make_actor(world["acme"]),
        base="GBP",
        quote="USD",
        day=dt.date(2026, 1, 1),
        rate=Decimal("1.27"),
    )
    browser.navigate(base + reverse("portal-profile", args=["acme"]))
    browser.evaluate(
        """document.getElementById('id_payout_currency').value = 'GBP';
        document.querySelector('#pp-payout-edit form').submit();"""
    )
    browser.wait_for("document.body.innerText.includes('Paid in GBP')")
    assert Partner.objects.get(pk=world["ada"].pk).payout_currency == "GBP"

    # The statement downloads as a file.
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.call(
        "Browser.setDownloadBehavior",
        {"behavior": "allow", "downloadPath": str(downloads)},
        page=False,
    )
    browser.navigate(base + reverse("portal-payouts", args=["acme"]))
    browser.evaluate("document.querySelector('a.pp-statement').click()")
    statement = _wait_for_download(downloads)
    rows = list(csv.reader(io.StringIO(statement.read_text())))
    facts = dict(row for row in rows if len(row) == 2)
    assert facts["payout_id"] == world["mine_payout"].pk and facts["partner_id"] == "ada"
    header = next(row for row in rows if row[:1] == ["entry_id"])
    assert "txn_id" not in header  # a partner's statement carries no advertiser ids
