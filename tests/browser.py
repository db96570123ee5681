"""A headless Chromium for the browser tests (tests/test_dashboard_browser.py,
tests/test_admin_browser.py), and what they measure in it.

Chromium is driven over the DevTools protocol on ``--remote-debugging-pipe`` (NUL-separated
JSON on file descriptors 3 and 4), so the tests need no Python package beyond the standard
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

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


DESKTOP = (1366, 768)
PHONE = (390, 844)
MAX_LINES = 3
# The layout of the page as the browser drew it: the page's scroll width against the
# viewport; per list table its width against its box and whether that box scrolls; the words
# (Intl.Segmenter's word-like segments: "conv_9f2aKx", "Pending") drawn on more than one line;
# and cells drawn on more than MAX_LINES lines. Lines are told apart by the top of each rect,
# a few pixels' slack for inline boxes (links, code) on the same line.
LAYOUT_JS = """(() => {
  const MAX_LINES = __MAX_LINES__;
  // Text only (element boxes have rects too), without the sort-order digits of a header.
  const texts = (cell) => {
    const found = [];
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.parentElement.closest('.sortoptions')) found.push(node);
    }
    return found;
  };
  // Rects on one line overlap vertically; a rect starting below half the line is a new one.
  const lines = (rects) => {
    let count = 0, bottom = -Infinity;
    for (const r of [...rects].filter(r => r.width > 0 && r.height > 0)
                              .sort((a, b) => a.top - b.top)) {
      if (r.top > bottom - r.height / 2) count += 1;
      bottom = Math.max(bottom, r.bottom);
    }
    return count;
  };
  const words = new Intl.Segmenter('en', {granularity: 'word'});
  const d = document.documentElement;
  const tables = [], broken = [], squeezed = [];
  for (const table of document.querySelectorAll('#content table')) {
    const box = table.parentElement;
    const overflowX = getComputedStyle(box).overflowX;
    tables.push({id: table.id || table.className, width: table.scrollWidth,
                 box: box.clientWidth, scrolls: overflowX === 'auto' || overflowX === 'scroll'});
    for (const cell of table.querySelectorAll('th, td')) {
      const nodes = texts(cell);
      const rects = nodes.flatMap(node => {
        const range = document.createRange();
        range.selectNodeContents(node);
        return [...range.getClientRects()];
      });
      if (lines(rects) > MAX_LINES) squeezed.push(cell.innerText.trim().slice(0, 60));
      for (const node of nodes) {
        if (node.parentElement.closest('.trk-url')) continue;
        for (const segment of words.segment(node.data)) {
          if (!segment.isWordLike) continue;
          const range = document.createRange();
          range.setStart(node, segment.index);
          range.setEnd(node, segment.index + segment.segment.length);
          if (lines(range.getClientRects()) > 1) broken.push(segment.segment);
        }
      }
    }
  }
  return {page: [d.scrollWidth, d.clientWidth], tables, broken, squeezed};
})()""".replace("__MAX_LINES__", str(MAX_LINES))


def layout(browser, size: tuple[int, int]) -> dict:
    width, height = size
    browser.set_viewport(width=width, height=height, mobile=width < 768)
    return browser.evaluate(LAYOUT_JS)


def desktop_problems(found: dict) -> list[str]:
    problems = []
    page, viewport = found["page"]
    if page > viewport:
        problems.append(f"the page scrolls sideways ({page} > {viewport} px)")
    for table in found["tables"]:
        if table["width"] > table["box"] + 1:
            problems.append(f"table {table['id']} is cut off ({table['width']} > {table['box']})")
    if found["broken"]:
        problems.append(f"words broken across lines: {found['broken'][:8]}")
    if found["squeezed"]:
        problems.append(f"cells on more than {MAX_LINES} lines: {found['squeezed'][:4]}")
    return problems


def phone_problems(found: dict) -> list[str]:
    problems = []
    page, viewport = found["page"]
    if page > viewport:
        problems.append(f"the page scrolls sideways ({page} > {viewport} px)")
    for table in found["tables"]:
        if table["width"] > table["box"] + 1 and not table["scrolls"]:
            problems.append(f"table {table['id']} overflows a box that does not scroll")
    return problems


def chromium_page(tmp_path: Path) -> Iterator[Chromium]:
    """The body of a ``browser`` fixture: one page in a fresh Chromium, closed after."""
    require_chromium()
    chromium = Chromium(tmp_path / "profile", tmp_path / "chromium.log")
    try:
        chromium.open_page()
        yield chromium
    finally:
        chromium.close()
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)


def log_in(browser: Chromium, base_url: str, user: Any) -> None:
    """Through the admin's own login form, landing on the dashboard."""
    browser.navigate(f"{base_url}{reverse('admin:login')}?next=/admin/")
    browser.evaluate(
        f"""document.getElementById('id_username').value = {json.dumps(user.username)};
        document.getElementById('id_password').value = {json.dumps(PASSWORD)};
        document.getElementById('login-form').submit();"""
    )
    browser.wait_for(
        f"location.href === {json.dumps(base_url + '/admin/')}"
        " && document.readyState === 'complete' && !!document.querySelector('.trk-dash')"
    )
