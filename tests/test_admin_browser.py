"""Every admin list and the offer page in a real headless Chromium, at a 1366×768 desktop and
a 390×844 phone (issue 14: "no list cut off at desktop width ... checked in Chromium at
desktop and phone widths").

What counts as fitting, measured in the browser rather than guessed from the CSS
(tests/browser.py, LAYOUT_JS):
- the page never scrolls sideways, at either width;
- at 1366 px every list table fits its box (nothing to scroll to), no word or id in a cell
  is broken across lines ("Pendin|g"), and no cell is squeezed to more than MAX_LINES lines
  (a column forced into word-by-word wrapping). Only text marked ``.trk-url`` may break
  anywhere: a URL longer than any column;
- at 390 px a list wider than the phone scrolls inside its own box (Django's ``.results``
  wrapper), never the page.
Screenshots of the widest lists and the offer page go to artifacts/.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.contrib.admin import site
from django.urls import reverse

from audit.actor import ActorKind
from brands.fx_services import fx_rate_set
from brands.models import FxReferenceRate, StaffRole
from brands.services import api_key_create
from brands.webhooks import webhook_create
from conversions.models import Conversion, PostbackAttempt
from conversions.outbox import drain
from conversions.payouts import payouts_generate
from conversions.services import conversion_approve
from core.links import inbound_postback_url, tracking_link_template
from integrations.intake import log_event
from integrations.services import connection_set_secret
from mailer.models import OutboundEmail
from mcp_gateway.models import McpToolCall
from offers.models import OfferCapCounter
from offers.services import offer_set_payout_rule
from partners.api_keys import partner_api_key_create
from partners.invitations import partner_invite
from partners.oidc_config import sign_in_provider_set
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
from tests.factories import (
    BrandFactory,
    CouponFactory,
    OfferFactory,
    PartnerFactory,
    StaffMembershipFactory,
)
from tests.test_dashboard import DEAD_END, convert, visit
from workers.loop import Worker

# Third-party admins (users, login lockouts, OAuth toolkit internals) are Django's own pages.
NOT_OURS = {"auth", "axes", "oauth2_provider", "django_celery_beat"}


@pytest.fixture
def browser(tmp_path):
    yield from chromium_page(tmp_path)


@pytest.fixture
def busy_brand(transactional_db):
    """A brand with a row in every list, in the lengths real data has: long offer and partner
    names, 29-character conversion ids, a postback that failed with a long error."""
    acme = BrandFactory(slug="acme-outdoor", name="Acme Outdoor Europe", timezone="Europe/Berlin")
    globex = BrandFactory(slug="globex", name="Globex Corporation")
    shoes = OfferFactory(
        brand=acme,
        slug="running-shoes-spring-2026",
        name="Running shoes — spring sale 2026 (EU, mobile)",
        postback_url_template=DEAD_END,
        daily_cap=500,
        monthly_cap=10000,
    )
    tents = OfferFactory(brand=acme, slug="tents", name="Family tents", currency="EUR")
    northwind = PartnerFactory(
        brand=acme,
        slug="northwind-performance",
        name="Northwind Performance Marketing GmbH",
        email="affiliate-team@northwind-performance-marketing.example",
    )
    plain = PartnerFactory(brand=acme, slug="plain", name="Plain & Simple Media")
    CouponFactory(brand=acme, partner=northwind, code="NORTHWIND-SPRING-2026-15OFF", max_uses=250)
    visit(shoes, northwind, times=4, sub1="spring_2026_banner_728x90_homepage")
    visit(tents, plain, times=2)
    first = convert(shoes, northwind, txn="3f1e6c1a-8d2b-4f7e-9c3a-5b6d7e8f9a0b")
    convert(shoes, northwind, txn="ORDER-2026-11-27-000123456789")
    convert(tents, plain, txn="T-1", amount="1249.90")
    assert drain() == 2  # the shoes postbacks die at once: loopback is not a public address
    actor = make_actor(acme, kind=ActorKind.SYSTEM, label="system:tests")
    conversion_approve(actor=actor, conversion=first)
    assert payouts_generate(actor=actor)
    offer_set_payout_rule(
        actor=actor, offer=shoes, partner=northwind, payout_type="percent", payout_amount=12
    )
    api_key_create(actor=actor, label="Reporting dashboard (Looker, read-only)")
    partner_api_key_create(
        actor=actor, partner=northwind, label="Northwind's own reporting (Google Sheets)"
    )
    if not OfferCapCounter.objects.filter(offer=shoes).exists():
        OfferCapCounter.objects.create(offer=shoes, period="day", period_start="2026-11-27")
    for outcome, status, conversion_id in (("accepted", 200, first.pk), ("unknown_click", 422, "")):
        PostbackAttempt.objects.create(  # log rows, as the postback endpoint's worker writes
            brand=acme,
            offer_slug=shoes.slug,
            outcome=outcome,
            http_status=status,
            method="GET",
            click_id="clk_R4evJ02poa6JEMbOWYR5H4",
            txn_id="3f1e6c1a-8d2b-4f7e-9c3a-5b6d7e8f9a0b",
            conversion_id=conversion_id,
            ip="198.51.100.23",
        )
    fx_rate_set(
        actor=actor, base="EUR", quote="USD", day=dt.date(2026, 11, 26), rate=Decimal("1.0512")
    )
    FxReferenceRate.objects.create(day=dt.date(2026, 11, 26), currency="USD", rate="1.0498")
    webhook_create(
        actor=actor,
        url="https://erp.acme-outdoor-europe.example/hooks/affiliate-conversions",
        events=["conversion.approved", "conversion.reversed", "payout.paid"],
        description="ERP: book approved commissions",
    )
    connection_set_secret(
        actor=actor, provider="stripe", signing_secret="whsec_" + "A1b2C3d4E5f6G7h8" * 2
    )
    log_event(  # a refused delivery, as the Stripe endpoint logs it
        acme.pk,
        "stripe",
        outcome="refused",
        reason="bad_signature",
        detail="no v1 signature matched any of the brand's secrets",
        http_status=400,
        ip="3.18.12.63",
        event_id="evt_1QxYz2LkdIwHu7ixAbCdEfGh",
        event_type="checkout.session.completed",
    )
    Worker(name="admin-browser").run_until_idle(queues_only=True)  # refusals are queued
    partner_invite(
        actor=actor, email="partnerships@outdoor-reviews-and-deals.example", name="Outdoor Reviews"
    )
    # The invitation queued its email; the next attempt of this one failed with a long reply.
    OutboundEmail.objects.filter(brand=acme).update(
        status="failed",
        attempts=3,
        next_attempt_at=dt.datetime(2026, 11, 27, 12, 30, tzinfo=dt.UTC),
        last_error="recipient refused: 451 4.7.1 <partnerships@outdoor-reviews-and-deals.example>:"
        " Recipient address rejected: Greylisted, please try again in 300 seconds",
    )
    sign_in_provider_set(
        actor=actor,
        display_name="Acme Outdoor Login",
        issuer="https://login.acme-outdoor-europe.example/oauth2/default",
        client_id="0oa1trcker-partners-portal",
        client_secret="partner-portal-client-secret-0123456789",
    )
    McpToolCall.objects.create(
        brand=acme,
        actor_label="mcp:acme-outdoor",
        credential="trk_live_8f2a",
        tool="get_conversions",
        outcome="ok",
        duration_ms=41,
        ip="203.0.113.77",
    )
    owner = StaffMembershipFactory(brand=acme, role=StaffRole.OWNER).user
    # a member of two brands: every list keeps its brand column
    StaffMembershipFactory(user=owner, brand=globex, role=StaffRole.ANALYST)
    return {"brand": acme, "offer": shoes, "owner": owner}


def changelists() -> list[str]:
    return sorted(
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for model in site._registry
        if model._meta.app_label not in NOT_OURS
    )


@pytest.mark.django_db(transaction=True)
def test_every_admin_list_fits_a_desktop_and_a_phone(live_server, browser, busy_brand):
    log_in(browser, live_server.url, busy_brand["owner"])
    ARTIFACTS.mkdir(exist_ok=True)
    failures = {}
    for url in changelists():
        browser.navigate(f"{live_server.url}{url}")
        browser.wait_for("!!document.getElementById('changelist')")
        if not browser.evaluate("!!document.getElementById('result_list')"):
            failures[url] = ["no rows: busy_brand seeds none"]  # an empty list proves nothing
            continue
        problems = desktop_problems(layout(browser, DESKTOP))
        problems += [f"phone: {p}" for p in phone_problems(layout(browser, PHONE))]
        if problems:
            failures[url] = problems
        name = url.strip("/").split("/")[-1]
        if name in {"conversion", "postbackdelivery", "postbackattempt", "payout", "auditevent"}:
            browser.screenshot(ARTIFACTS / f"admin-{name}-list.png", width=DESKTOP[0])
            browser.screenshot(ARTIFACTS / f"admin-{name}-list-phone.png", width=PHONE[0])
    assert failures == {}, json.dumps(failures, indent=1, ensure_ascii=False)
    assert len(changelists()) >= 15
    assert (ARTIFACTS / "admin-conversion-list.png").stat().st_size > 10_000


@pytest.mark.django_db(transaction=True)
def test_the_offer_page_shows_its_links_at_both_widths(live_server, browser, busy_brand):
    offer = busy_brand["offer"]
    log_in(browser, live_server.url, busy_brand["owner"])
    browser.navigate(f"{live_server.url}{reverse('admin:offers_offer_change', args=[offer.pk])}")
    browser.wait_for("!!document.querySelector('.field-inbound_postback')")
    expected = {
        "tracking_link": tracking_link_template(brand_slug="acme-outdoor", offer_slug=offer.slug),
        "inbound_postback": inbound_postback_url(brand_slug="acme-outdoor", offer_slug=offer.slug),
    }
    # Each URL in full, and drawn inside the viewport: not cut off at the right edge.
    shown_js = """JSON.stringify(['tracking_link', 'inbound_postback'].map(name => {
      const code = document.querySelector('.field-' + name + ' .trk-url');
      const box = code.getBoundingClientRect();
      return [name, code.textContent, box.width > 0 && box.left >= 0
              && box.right <= document.documentElement.clientWidth];
    }))"""
    for size, shot in ((DESKTOP, "offer-page.png"), (PHONE, "offer-page-phone.png")):
        found = layout(browser, size)
        page, viewport = found["page"]
        assert page <= viewport, f"the offer page scrolls sideways at {size[0]} px"
        shown = json.loads(browser.evaluate(shown_js))
        assert shown == [[name, url, True] for name, url in expected.items()], size
        browser.screenshot(ARTIFACTS / shot, width=size[0])
    assert Conversion.objects.filter(offer=offer).count() == 2
