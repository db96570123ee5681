"""The dashboard in a real headless Chromium (tests/browser.py): log in through the admin
login form, check the charts and totals the browser shows, and that a phone-wide viewport
needs no sideways scrolling; screenshots go to artifacts/ for people to look at. The admin
lists and the offer page: tests/test_admin_browser.py.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine
from django.utils import timezone

from audit.models import AuditEvent
from backoffice.dashboard import count_text, money_text
from brands.models import StaffRole
from conversions.models import Conversion
from conversions.outbox import drain
from conversions.stats import resolve_period
from tests.browser import (
    ARTIFACTS,
    DESKTOP,
    PHONE,
    chromium_page,
    desktop_problems,
    layout,
    log_in,
    phone_problems,
)
from tests.conftest import make_actor
from tests.factories import BrandFactory, OfferFactory, PartnerFactory, StaffMembershipFactory
from tests.test_dashboard import DEAD_END, EVIL_NAME, EVIL_SUB, convert, stats_totals, visit


@pytest.fixture
def browser(tmp_path):
    yield from chromium_page(tmp_path)


# Per chart: the x of each day of this period (bar centres, or line points) and of the
# previous period's dashed line, its dash pattern and colour against this period's, whether
# it rises above the zero line anywhere, and the legend's text.
PREVIOUS_JS = """JSON.stringify([...document.querySelectorAll('.trk-metric')].map(card => {
  const svg = card.querySelector('svg.trk-chart');
  const line = svg.querySelector('.trk-previous polyline');
  const now = svg.querySelectorAll('.trk-bars rect').length
    ? [...svg.querySelectorAll('.trk-bars rect')].map(r => +r.getAttribute('x')
                                                      + r.getAttribute('width') / 2)
    : [...svg.querySelectorAll('.trk-points circle')].map(c => +c.getAttribute('cx'));
  const zero = +svg.querySelector('.trk-zero').getAttribute('y1');
  const points = line ? line.getAttribute('points').trim().split(/\\s+/)
    .map(p => p.split(',').map(Number)) : [];
  const current = svg.querySelector('.trk-bars rect, .trk-line');
  const style = line ? getComputedStyle(line) : null;
  return {
    metric: card.dataset.metric,
    now: now.map(x => x.toFixed(1)),
    before: points.map(([x]) => x.toFixed(1)),
    dashed: !!style && style.strokeDasharray !== 'none',
    quieter: !!style && style.stroke !== getComputedStyle(current)[
      current.tagName === 'rect' ? 'fill' : 'stroke'],
    above_zero: points.some(([, y]) => y < zero - 0.5),
    legend: (card.querySelector('.trk-legend') || {}).textContent || '',
  };
}))"""

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
    with time_machine.travel(timezone.now() - dt.timedelta(days=40), tick=False):
        visit(shoes, plain, times=5)  # in the previous 30 days: the charts' dashed line
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

    log_in(browser, live_server.url, owner)

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
    # every chart draws the previous period over the same days, dashed, in another colour,
    # with a legend; the five earlier clicks lift the clicks chart's line off zero
    overlays = json.loads(browser.evaluate(PREVIOUS_JS))
    assert [chart["metric"] for chart in overlays] == [m for m, _ in shown]
    for chart in overlays:
        assert len(chart["now"]) == 30 and chart["before"] == chart["now"], chart["metric"]
        assert chart["dashed"] and chart["quieter"], chart["metric"]
        assert "this period" in chart["legend"] and "previous period" in chart["legend"]
    rising = {chart["metric"] for chart in overlays if chart["above_zero"]}
    assert rising == {"clicks"}
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

    # the tables as the admin lists are held to (tests/browser.py): at 1366 px nothing cut
    # off, no id or word broken (partner names and sub ids, untrusted and unbounded, may be),
    # no squeezed cell; at 390 px no sideways scroll (the tables turn into cards)
    assert desktop_problems(layout(browser, DESKTOP)) == []
    ARTIFACTS.mkdir(exist_ok=True)
    browser.screenshot(ARTIFACTS / "dashboard.png", width=DESKTOP[0])
    assert phone_problems(layout(browser, PHONE)) == []
    browser.screenshot(ARTIFACTS / "dashboard-mobile.png", width=PHONE[0], mobile=True)
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
    assert (ARTIFACTS / "dashboard-mobile.png").stat().st_size > 10_000
