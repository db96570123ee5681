"""The dashboard in a real headless Chromium: log in through the admin login form, check the
charts and totals the browser shows, and that a phone-wide viewport needs no sideways
scrolling; screenshots go to artifacts/ for people to look at.

Chromium is driven over the DevTools protocol on ``--remote-debugging-pipe`` (NUL-separated
JSON on file descriptors 3 and 4), so the test needs no Python package beyond the standard
library and no WebSocket client. Skipped when /usr/bin/chromium (Debian package
``chromium``) is missing, except under CI, where that is a failure.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.admin import site
from django.urls import reverse

from audit.models import AuditEvent
from backoffice.dashboard import count_text, money_text
from brands.models import StaffRole
from conversions.models import Conversion
from conversions.outbox import drain
from conversions.stats import resolve_period
from tests.conftest import make_actor
from tests.factories import BrandFactory, OfferFactory, PartnerFactory, StaffMembershipFactory
from tests.test_dashboard import DEAD_END, EVIL_NAME, EVIL_SUB, convert, stats_totals, visit

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
TIMEOUT = 30.0  # seconds, for every single wait on the browser
PASSWORD = "pw-for-tests-only"  # tests.factories.UserFactory


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} not found: install the Debian package 'chromium' for the browser test"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}. CI must install it (apt-get install -y chromium).")
    pytest.skip(reason)


class BrowserError(AssertionError):
    """The browser did not answer as expected; its own output is in the log named here."""


class Chromium:
    """A headless Chromium and one page in it, over the DevTools pipe transport."""

    def __init__(self, profile: Path, log: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # The browser's ends must not sit on fds 3 or 4 before dup2 puts them there.
        child_in = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_browser_r)
        os.close(from_browser_w)

        def to_fds_3_and_4() -> None:  # in the child, between fork and exec
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        args = [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            "--window-size=1280,2000",
            "about:blank",
        ]
        self.log = log
        self._log = log.open("wb")
        try:
            self.process = subprocess.Popen(  # noqa: S603 - fixed binary, fixed arguments
                args,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=self._log,
                preexec_fn=to_fds_3_and_4,  # only two dup2 calls: safe beside the server thread
                close_fds=False,  # close_fds would run after preexec_fn and close 3 and 4
            )
        finally:
            os.close(child_in)
            os.close(child_out)
        self._buffer = b""
        self._next_id = 0
        self.session: str | None = None

    # --- protocol -----------------------------------------------------------------------

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError(f"Timed out waiting for Chromium (log: {self.log}).")
            ready, _, _ = select.select([self._from_browser], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise BrowserError(f"Chromium closed the DevTools pipe (log: {self.log}).")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict[str, Any] | None = None, *, page: bool = True):
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if page and self.session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") != self._next_id:
                continue  # an event, or the reply to nobody
            if "error" in reply:
                raise BrowserError(f"{method} failed: {reply['error']}")
            return reply.get("result", {})

    def open_page(self) -> None:
        target = self.call("Target.createTarget", {"url": "about:blank"}, page=False)
        attached = self.call(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, page=False
        )
        self.session = attached["sessionId"]
        self.call("Page.enable")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str) -> Any:
        """Poll ``expression`` until it is truthy; bounded by TIMEOUT."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except BrowserError:
                value = None  # the page is being replaced; try again
            if value:
                return value
            time.sleep(0.1)
        url = self.evaluate("location.href")
        raise BrowserError(f"Timed out waiting for {expression!r} on {url}.")

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", {"url": url})
        self.wait_for(f"location.href === {json.dumps(url)} && document.readyState === 'complete'")

    def screenshot(self, path: Path, *, width: int, mobile: bool = False) -> None:
        """A full-page PNG at ``width`` CSS pixels."""
        self.set_viewport(width=width, height=800, mobile=mobile)
        height = self.evaluate("document.documentElement.scrollHeight")
        self.set_viewport(width=width, height=int(height), mobile=mobile)
        shot = self.call("Page.captureScreenshot", {"format": "png"})
        path.write_bytes(base64.b64decode(shot["data"]))

    def set_viewport(self, *, width: int, height: int, mobile: bool) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {
                "width": width,
                "height": height,
                "deviceScaleFactor": 2 if mobile else 1,
                "mobile": mobile,
            },
        )
        self.wait_for(f"window.innerWidth === {width}")

    def close(self) -> None:
        try:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait(timeout=10)
        finally:
            os.close(self._to_browser)
            os.close(self._from_browser)
            self._log.close()


@pytest.fixture
def browser(tmp_path):
    require_chromium()
    chromium = Chromium(tmp_path / "profile", tmp_path / "chromium.log")
    try:
        chromium.open_page()
        yield chromium
    finally:
        chromium.close()
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)


METRICS_JS = """JSON.stringify(Array.from(document.querySelectorAll('.trk-metric')).map(card => [
    card.dataset.metric, card.dataset.currency, card.querySelector('.trk-total').textContent.trim()
]))"""


@pytest.mark.django_db(transaction=True)
def test_dashboard_in_a_real_browser(live_server, browser):
    acme = BrandFactory(slug="acme", name="Acme", timezone="America/New_York")
    globex = BrandFactory(slug="globex", name="Globex")
    shoes = OfferFactory(
        brand=acme, slug="shoes", name="Running shoes", postback_url_template=DEAD_END
    )
    hats = OfferFactory(brand=acme, slug="hats", name="Hats", currency="EUR")
    evil = PartnerFactory(brand=acme, slug="evil", name=EVIL_NAME)
    plain = PartnerFactory(brand=acme, slug="plain", name="Plain & Simple Media")
    visit(shoes, evil, times=6, sub1=EVIL_SUB)
    visit(hats, plain, times=3)
    for n in range(3):
        convert(shoes, evil, txn=f"S-{n}", sub1=EVIL_SUB)
    convert(hats, plain, txn="H-1")
    assert drain() == 3  # the shoes postbacks die at once: loopback is not a public address
    owner = StaffMembershipFactory(brand=acme, role=StaffRole.OWNER).user
    StaffMembershipFactory(user=owner, brand=globex, role=StaffRole.ANALYST)
    actor = make_actor(acme)
    expected = stats_totals(actor, resolve_period(actor=actor, days=30))

    browser.navigate(f"{live_server.url}{reverse('admin:login')}?next=/admin/")
    browser.evaluate(
        f"""document.getElementById('id_username').value = {json.dumps(owner.username)};
        document.getElementById('id_password').value = {json.dumps(PASSWORD)};
        document.getElementById('login-form').submit();"""
    )
    browser.wait_for(
        f"location.href === {json.dumps(live_server.url + '/admin/')}"
        " && document.readyState === 'complete' && !!document.querySelector('.trk-dash')"
    )

    charts = browser.evaluate("document.querySelectorAll('svg.trk-chart').length")
    shown = {(m, c): total for m, c, total in json.loads(browser.evaluate(METRICS_JS))}
    text = browser.evaluate("document.body.innerText")
    # amounts in one currency at a time: the brand's by default, a switch to the others
    assert charts == len(shown) == 2 + 3
    assert shown[("clicks", "")] == count_text(expected["clicks"])
    assert shown[("conversions", "")] == count_text(expected["conversions"])
    for metric, value in expected["money"][acme.currency].items():
        assert shown[(metric, acme.currency)] == money_text(value)
    switch = "[...document.querySelectorAll('.trk-currency-switch a')].map(a => a.textContent)"
    assert browser.evaluate(switch) == [acme.currency, "EUR"]
    days = "[...document.querySelectorAll('.trk-days a')].map(a => a.textContent)"
    assert browser.evaluate(days)[:4] == ["7 days", "14 days", "30 days", "90 days"]
    assert browser.evaluate("document.querySelectorAll('.trk-custom input[type=date]').length") == 2
    assert browser.evaluate("document.querySelectorAll('.trk-compare').length") == 5
    assert browser.evaluate("document.querySelectorAll('#trk-top-partners th abbr').length") == 2
    assert browser.evaluate("!!document.getElementById('trk-fraud-holds')")
    assert expected["clicks"] == 6 + 3 + 4
    assert EVIL_NAME in text and EVIL_SUB in text  # shown as text, never run as markup
    injected = "document.querySelectorAll('.trk-dash script, .trk-dash img').length"
    assert browser.evaluate(injected) == 0  # no element came out of a partner name or sub id
    assert browser.evaluate("document.querySelectorAll('#trk-review button').length") == 8
    assert browser.evaluate("document.querySelectorAll('#trk-deliveries button').length") == 3
    assert browser.evaluate("document.getElementById('trk-brand').options.length") == 2
    assert "Administration" in text  # the app list is still there

    # one click on Approve: a real form POST with the CSRF token, back to the dashboard
    first = browser.evaluate("document.querySelector('#trk-review code').textContent")
    browser.evaluate("document.querySelector('#trk-review .trk-approve').click()")
    message = browser.wait_for(
        "document.readyState === 'complete' && document.querySelector('.messagelist .success')"
        " && document.querySelector('.messagelist .success').textContent"
    )
    assert message.strip() == f"Approved conversion {first}."
    assert Conversion.objects.get(pk=first).status == "approved"
    event = AuditEvent.objects.get(action="conversion.approve", target_id=first)
    assert (event.actor_label, event.channel) == (f"user:{owner.pk}", "admin")

    ARTIFACTS.mkdir(exist_ok=True)
    browser.screenshot(ARTIFACTS / "dashboard.png", width=1366)
    assert browser.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )

    browser.screenshot(ARTIFACTS / "dashboard-mobile.png", width=390, mobile=True)
    widths = browser.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"horizontal scroll at 390 px: {widths}"
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
    assert (ARTIFACTS / "dashboard-mobile.png").stat().st_size > 10_000

    # every admin list the owner can open fits a 1366 px desktop: no column cut off
    browser.set_viewport(width=1366, height=900, mobile=False)
    lists = sorted(
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for model in site._registry
        if model._meta.app_label not in {"auth", "axes", "oauth2_provider", "django_celery_beat"}
    )
    cut_off = []
    for url in lists:
        browser.navigate(f"{live_server.url}{url}")
        browser.wait_for(
            "document.readyState === 'complete' && !!document.getElementById('content')"
        )
        overflow = browser.evaluate(
            "(() => { const t = document.getElementById('result_list');"
            " const d = document.documentElement;"
            " return [d.scrollWidth, d.clientWidth, t ? t.scrollWidth : 0,"
            " t ? t.parentElement.clientWidth : 0]; })()"
        )
        page_wide, page, table, box = overflow
        if page_wide > page or table > box + 1:  # the page scrolls, or the table inside its box
            cut_off.append((url, table, box))
        if url == reverse("admin:conversions_conversion_changelist"):
            browser.screenshot(ARTIFACTS / "conversions-list.png", width=1366)
    assert cut_off == [], f"lists wider than their box at 1366 px: {cut_off}"
    assert len(lists) >= 10 and (ARTIFACTS / "conversions-list.png").stat().st_size > 10_000
