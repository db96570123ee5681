"""The brand dashboard on the admin index: numbers from the stats layer for the staff member's
brand only, one-click review and replay through the services (audited as the user), no
buttons and a 403 for analysts, escaped partner text, and a bounded number of queries.

Traffic is made with the real code paths — clicks through the /c/ endpoint, conversions
through the postback service, failed deliveries through the outbox worker — so the daily
rollups are maintained exactly as in production."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections import defaultdict
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.contrib.admin.utils import unquote
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from backoffice.charts import chart
from backoffice.dashboard import change_text, count_text, money_text
from brands.models import StaffRole
from conversions.models import Click, Conversion, PostbackAttempt, PostbackDelivery
from conversions.outbox import drain
from conversions.selectors import conversion_pending_list
from conversions.services import conversion_approve, conversion_reject
from conversions.stats import fraud_summary, performance, resolve_period, top_publishers
from core.links import inbound_postback_url, tracking_link_template
from tests.conftest import make_actor
from tests.conversions.factories_flow import record
from tests.conversions.helpers import click
from tests.factories import (
    BrandFactory,
    OfferFactory,
    PartnerFactory,
    StaffMembershipFactory,
    UserFactory,
)
from workers.loop import Worker

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
ZERO = Decimal("0.00")
EVIL_NAME = '<script>alert("partner")</script>'
EVIL_SUB = "<img src=x onerror=alert(1)>"
# Loopback is never a public address: the worker gives up at once ("address_not_public").
DEAD_END = "http://127.0.0.1/pb?conv={CONVERSION_ID}"


# --- traffic through the real code paths ------------------------------------------------------


def visit(offer, partner, *, times: int = 1, sub1: str = "") -> list[Click]:
    """Clicks through the public /c/ endpoint (as a visitor, not a staff session)."""
    visitor = Client()
    ids = []
    for n in range(times):
        response = click(
            visitor,
            offer.brand.slug,
            offer.slug,
            partner.slug,
            ip=f"81.2.69.{n % 250 + 1}",
            sub1=sub1,
        )
        assert response.status_code == 302
        ids.append(parse_qs(urlsplit(response["Location"]).query)["c"][0])
    # Outside a test transaction clicks go through the queue: a worker writes them.
    Worker(name="test").run_until_idle(queues_only=True)
    return list(Click.objects.filter(pk__in=ids).order_by("created_at", "pk"))


def convert(offer, partner, *, txn: str, amount: str = "100.00", sub1: str = "") -> Conversion:
    (landed,) = visit(offer, partner, sub1=sub1)
    return record(offer.brand, offer, click=landed, txn_id=txn, amount=amount)


@pytest.fixture
def acme(db):
    return BrandFactory(slug="acme", name="Acme", timezone="America/New_York", currency="USD")


@pytest.fixture
def globex(db):
    return BrandFactory(slug="globex", name="Globex", timezone="UTC", currency="USD")


@pytest.fixture
def world(acme, globex):
    """Acme: two offers (USD and EUR), two partners, traffic today and on earlier days
    (one of them late evening in New York, already the next day in UTC), conversions in
    every state. Globex: its own, distinctively named traffic."""
    shoes = OfferFactory(
        brand=acme,
        slug="shoes",
        name="Shoes",
        payout_amount=Decimal("10.00"),
        revenue_amount=Decimal("25.00"),
    )
    hats = OfferFactory(
        brand=acme,
        slug="hats",
        name="Hats",
        currency="EUR",
        payout_amount=Decimal("4.00"),
        revenue_amount=Decimal("9.50"),
    )
    evil = PartnerFactory(brand=acme, slug="evil", name=EVIL_NAME)
    plain = PartnerFactory(brand=acme, slug="plain", name="Plain & Simple")
    now = timezone.now()
    # 02:30 UTC is 21:30/22:30 the evening before in New York: the brand's day, not UTC's.
    late_evening = dt.datetime.combine(
        (now - dt.timedelta(days=3)).date(), dt.time(2, 30), tzinfo=dt.UTC
    )
    with time_machine.travel(late_evening, tick=False):
        visit(shoes, plain, times=2)
        convert(shoes, plain, txn="EVE-1")
    with time_machine.travel(now - dt.timedelta(days=9), tick=False):
        visit(hats, evil, times=3)
        convert(hats, evil, txn="OLD-1", amount="40.00")
    visit(shoes, evil, times=4, sub1=EVIL_SUB)
    visit(hats, plain, times=2)
    a1 = convert(shoes, evil, txn="A-1", sub1=EVIL_SUB)
    a2 = convert(shoes, evil, txn="A-2")
    h1 = convert(hats, plain, txn="H-1")
    r1 = convert(shoes, plain, txn="R-1")
    system = make_actor(acme, label="system:tests")
    conversion_approve(actor=system, conversion=a2)
    conversion_reject(actor=system, conversion=r1)  # rejected: counted nowhere

    gx_offer = OfferFactory(
        brand=globex,
        slug="gx",
        name="Globex offer",
        payout_amount=Decimal("77.77"),
        revenue_amount=Decimal("333.33"),
    )
    gx_partner = PartnerFactory(brand=globex, slug="gx-partner", name="Globex secret partner")
    visit(gx_offer, gx_partner, times=5)
    gx_conversion = convert(gx_offer, gx_partner, txn="GX-1", sub1="globex-sub")
    return {
        "shoes": shoes,
        "hats": hats,
        "evil": evil,
        "plain": plain,
        "pending": [a1, h1],
        "late_evening": late_evening,
        "gx_conversion": gx_conversion,
    }


def staff(brand, role=StaffRole.OWNER):
    return StaffMembershipFactory(brand=brand, role=role).user


def dashboard_page(client, **params):
    response = client.get(reverse("admin:index"), params)
    assert response.status_code == 200
    return response, response.context["dashboard"], response.content.decode()


def stats_totals(actor, period) -> dict:
    """Totals as the stats selectors report them: performance rows summed over partners."""
    rows = performance(actor=actor, by="partner", period=period)
    money: dict[str, dict[str, Decimal]] = defaultdict(
        lambda: {"revenue": ZERO, "payout": ZERO, "profit": ZERO}
    )
    for row in rows:
        for metric in ("revenue", "payout", "profit"):
            money[row["currency"]][metric] += row[metric]
    return {
        "clicks": sum(row["clicks"] for row in rows),
        "conversions": sum(row["conversions"] for row in rows),
        "money": dict(money),
    }


def card_total(html: str, metric: str, currency: str = "") -> str:
    match = re.search(
        rf'data-metric="{metric}" data-currency="{currency}">.*?'
        r'<span class="trk-total">([^<]*)</span>',
        html,
        re.S,
    )
    assert match, f"no {metric} {currency} card"
    return match.group(1)


# --- numbers ----------------------------------------------------------------------------------


def test_totals_and_daily_series_equal_the_stats_selectors(client, acme, world):
    client.force_login(staff(acme))
    _, dash, html = dashboard_page(client)
    actor = make_actor(acme)
    period = resolve_period(actor=actor, days=30)
    expected = stats_totals(actor, period)

    assert dash.brand == acme
    assert (dash.period.date_from, dash.period.date_to) == (period.date_from, period.date_to)
    assert dash.series.totals() == expected
    # the traffic made above, as the stats layer counts it
    assert expected["clicks"] == 2 + 1 + 3 + 1 + 4 + 2 + 4
    assert expected["conversions"] == 5  # EVE-1, OLD-1, A-1, A-2, H-1 (R-1 rejected)
    assert expected["money"]["USD"] == {
        "revenue": Decimal("75.00"),  # EVE-1, A-1, A-2 at 25.00
        "payout": Decimal("30.00"),
        "profit": Decimal("45.00"),
    }
    assert expected["money"]["EUR"]["profit"] == Decimal("11.00")

    # the text totals on the page are those numbers
    assert card_total(html, "clicks") == count_text(expected["clicks"])
    assert card_total(html, "conversions") == count_text(expected["conversions"])
    for currency, metrics in expected["money"].items():  # one currency per page: the switch
        currency_html = dashboard_page(client, currency=currency.lower())[2]
        for metric, value in metrics.items():
            assert card_total(currency_html, metric, currency) == money_text(value)

    # every day of every chart equals the stats selectors asked about that day alone
    assert len(dash.series.days) == 30
    for index, day in enumerate(dash.series.days):
        one_day = stats_totals(actor, resolve_period(actor=actor, date_from=day, date_to=day))
        assert dash.series.clicks[index] == one_day["clicks"], day
        assert dash.series.conversions[index] == one_day["conversions"], day
        for currency, metrics in dash.series.money.items():
            for metric, values in metrics.items():
                assert values[index] == one_day["money"].get(currency, {}).get(metric, ZERO)

    # the late-evening traffic sits on New York's day, not UTC's
    evening_day = world["late_evening"].astimezone(NEW_YORK).date()
    assert evening_day != world["late_evening"].date()
    assert dash.series.clicks[dash.series.days.index(evening_day)] == 3
    assert dash.series.conversions[dash.series.days.index(evening_day)] == 1


def test_charts_are_inline_svg_with_title_desc_and_a_mark_per_day(client, acme, world):
    client.force_login(staff(acme))
    _, dash, html = dashboard_page(client)

    assert [(m.key, m.currency) for m in dash.metrics] == [
        ("clicks", ""),
        ("conversions", ""),
        ("revenue", "USD"),
        ("payout", "USD"),
        ("profit", "USD"),
    ]
    assert html.count('<svg class="trk-chart ') == len(dash.metrics)
    for metric in dash.metrics:
        chart = metric.chart
        assert len(chart.marks) == 30
        assert f'aria-labelledby="{chart.title_id} {chart.desc_id}"' in html
        assert f'<title id="{chart.title_id}">' in html
        assert f"Total {metric.total}." in chart.desc
        assert "America/New_York" in chart.desc
    # one <title> per day, with the day's value
    clicks = dash.metrics[0].chart
    today = dash.series.days[-1]
    assert clicks.marks[-1].label == f"{today:%b} {today.day}: {dash.series.clicks[-1]}"
    assert "<script" not in html.split('id="content-main"')[1].split("trk-apps-section")[0]


def test_top_lists_fraud_queue_deliveries_and_audit_come_from_the_selectors(client, acme, world):
    client.force_login(staff(acme))
    _, dash, html = dashboard_page(client)
    actor = make_actor(acme)
    period = resolve_period(actor=actor, days=30)

    # the selector's rows in the brand's currency, ranked among themselves, plus the CVR as a
    # percentage for the table
    ranked = top_publishers(actor=actor, period=period, limit=100)
    in_usd = [row for row in ranked if row["currency"] == "USD"]
    assert len(in_usd) < len(ranked)  # EUR rows exist, and are left for the EUR page
    assert dash.top_partners == [
        {**row, "rank": n + 1, "cvr_percent": row["cvr"] * 100} for n, row in enumerate(in_usd)
    ]
    for row in dash.top_partners + dash.top_offers:
        assert f'<td data-label="EPC" class="trk-num trk-epc">{row["epc"]:.4f}</td>' in html
        assert f'<td data-label="CVR" class="trk-num trk-cvr">{row["cvr"] * 100:.2f}%</td>' in html
    offers = [
        row
        for row in performance(actor=actor, by="offer", period=period)
        if row["currency"] == "USD"
    ]
    assert {(row["offer_id"], row["currency"]) for row in dash.top_offers} == {
        (row["offer_id"], row["currency"]) for row in offers
    }
    assert dash.top_offers[0]["revenue"] == max(row["revenue"] for row in offers)
    summary = fraud_summary(actor=actor, period=period)
    assert dash.fraud["clicks"] == summary["clicks"]
    assert dash.fraud["conversions"] == summary["conversions"]
    queue = conversion_pending_list(actor=actor)
    assert [c.pk for c in dash.pending] == [c.pk for c in queue[:10]]
    assert dash.pending_total == queue.count() == 4  # EVE-1, OLD-1, A-1, H-1
    assert dash.fraud_holds == [] and dash.fraud_holds_total == 0  # monitor mode holds nothing
    assert dash.audit_events[0].action == "conversion.reject"
    assert "Plain &amp; Simple" in html


# --- tenancy ----------------------------------------------------------------------------------


def test_staff_see_their_brand_and_nothing_of_another(client, acme, globex, world):
    client.force_login(staff(acme))
    _, dash, html = dashboard_page(client)

    assert dash.brands == [acme]
    assert 'name="brand"' not in html  # one brand: no switcher
    for foreign in ("Globex", "globex", "gx-partner", "333.33", "77.77", "globex-sub"):
        assert foreign not in html
    assert world["gx_conversion"].pk not in html
    assert all(e.brand_id == acme.pk for e in dash.audit_events)
    # asking for another brand is "not found", like asking for one that does not exist
    assert client.get(reverse("admin:index"), {"brand": "globex"}).status_code == 404
    assert client.get(reverse("admin:index"), {"brand": "nope"}).status_code == 404


def test_members_of_several_brands_switch_between_them(client, acme, globex, world):
    user = staff(acme)
    StaffMembershipFactory(user=user, brand=globex, role=StaffRole.ANALYST)
    client.force_login(user)

    _, dash, html = dashboard_page(client)
    assert dash.brand == acme  # the first by slug
    assert '<option value="globex">Globex (globex)</option>' in html
    _, dash, html = dashboard_page(client, brand="globex")
    assert dash.brand == globex
    assert dash.series.totals()["clicks"] == 6
    # the switch keeps the picked day choice; the period links keep the brand
    _, dash, html = dashboard_page(client, brand="globex", days=7)
    assert '<input type="hidden" name="days" value="7">' in html
    assert 'href="?brand=globex&amp;days=14"' in html
    assert card_total(html, "revenue", "USD") == "333.33"
    assert EVIL_SUB not in html and "Plain" not in html


def test_superusers_may_open_any_brand(client, acme, globex, world):
    client.force_login(UserFactory(is_superuser=True))
    _, dash, _ = dashboard_page(client, brand="globex")
    assert dash.brand == globex
    assert [b.slug for b in dash.brands] == ["acme", "globex"]


def test_staff_without_a_brand_get_the_plain_index(client, acme, world):
    client.force_login(UserFactory())
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert response.context["dashboard"] is None
    assert "not a member of any brand" in response.content.decode()


def test_the_app_list_stays_below_the_dashboard(client, acme, world):
    client.force_login(staff(acme))
    response, _, html = dashboard_page(client)
    assert response.context["app_list"]
    assert html.index('class="trk-dash"') < html.index('class="app-offers module')


def test_anonymous_visitors_are_sent_to_the_login_page(client, acme, world):
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    pending = world["pending"][0]
    approve = reverse("dashboard:conversion-approve", args=["acme", pending.pk])
    assert client.post(approve).status_code == 302
    assert Conversion.objects.get(pk=pending.pk).status == pending.status


# --- untrusted text ---------------------------------------------------------------------------


def test_partner_names_and_sub_ids_are_escaped(client, acme, world):
    client.force_login(staff(acme))
    _, _, html = dashboard_page(client)
    assert EVIL_NAME not in html
    assert EVIL_SUB not in html
    assert "&lt;script&gt;alert(&quot;partner&quot;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


# --- one-click actions ------------------------------------------------------------------------


def test_one_click_approve_and_reject_are_audited_as_the_user(client, acme, world):
    owner = staff(acme)
    client.force_login(owner)
    first, second = world["pending"]
    _, _, html = dashboard_page(client)
    approve = reverse("dashboard:conversion-approve", args=["acme", first.pk])
    reject = reverse("dashboard:conversion-reject", args=["acme", second.pk])
    assert f'action="{approve}"' in html and f'action="{reject}"' in html

    response = client.post(approve, follow=True)
    assert response.redirect_chain == [(reverse("admin:index") + "?brand=acme", 302)]
    assert f"Approved conversion {first.pk}." in response.content.decode()
    response = client.post(reject, follow=True)
    assert f"Rejected conversion {second.pk}." in response.content.decode()

    assert Conversion.objects.get(pk=first.pk).status == "approved"
    rejected = Conversion.objects.get(pk=second.pk)
    assert (rejected.status, rejected.status_reason) == ("rejected", "rejected on the dashboard")
    events = AuditEvent.objects.filter(target_id__in=[first.pk, second.pk], channel="admin")
    assert sorted((e.action, e.target_id, e.actor_label, e.brand_id) for e in events) == [
        ("conversion.approve", first.pk, f"user:{owner.pk}", acme.pk),
        ("conversion.reject", second.pk, f"user:{owner.pk}", acme.pk),
    ]
    # the approved row left the queue
    _, dash, _ = dashboard_page(client)
    assert first.pk not in [c.pk for c in dash.pending]


def test_an_invalid_transition_is_a_message_not_an_error(client, acme, world):
    client.force_login(staff(acme))
    first = world["pending"][0]
    conversion_reject(actor=make_actor(acme), conversion=first)
    response = client.post(
        reverse("dashboard:conversion-approve", args=["acme", first.pk]), follow=True
    )
    assert response.status_code == 200
    assert "Only pending and pending_review conversions can be approved" in (
        response.content.decode()
    )
    assert Conversion.objects.get(pk=first.pk).status == "rejected"


def test_failed_deliveries_are_listed_and_replayed_as_the_user(client, acme, world):
    shoes = world["shoes"]
    shoes.postback_url_template = DEAD_END
    shoes.save(update_fields=["postback_url_template"])
    conversion = convert(shoes, world["plain"], txn="PB-1")
    assert drain() == 1
    delivery = PostbackDelivery.objects.get(conversion=conversion)
    assert (delivery.status, delivery.last_error) == ("dead", "address_not_public")
    owner = staff(acme)
    client.force_login(owner)

    _, dash, html = dashboard_page(client)
    assert [d.pk for d in dash.deliveries] == [delivery.pk]
    replay = reverse("dashboard:delivery-replay", args=["acme", delivery.pk])
    assert f'action="{replay}"' in html
    assert "address_not_public" in html

    response = client.post(replay, follow=True)
    assert f"Queued delivery {delivery.pk} for another attempt." in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == "pending"
    event = AuditEvent.objects.get(action="delivery.replay")
    assert (event.actor_label, event.channel, event.target_id) == (
        f"user:{owner.pk}",
        "admin",
        str(delivery.pk),
    )


def test_every_admin_link_opens_its_row_even_an_id_that_needs_quoting(client, acme, world):
    """The admin unquotes the id in a change URL (``_5F`` is "_", ``_2F`` is "/", …: Django's
    admin.utils.quote), so a link built without admin_urlquote opens no row, or another one,
    for a conversion id whose random part starts with such a pair: about 1 in 200 ids."""
    shoes = world["shoes"]
    shoes.postback_url_template = DEAD_END  # a dead delivery: its link is on the page too
    shoes.save(update_fields=["postback_url_template"])
    conversion = convert(shoes, world["plain"], txn="Q-1")
    drain()
    # The same id with a random part that starts with "2F", as new_conversion_id() may draw.
    awkward = "conv_2F" + conversion.pk.removeprefix("conv_")[2:]
    assert len(awkward) == len(conversion.pk) and unquote(awkward) != awkward
    # Foreign keys are checked at commit, which a test never reaches: the delivery follows.
    PostbackDelivery.objects.filter(conversion_id=conversion.pk).update(conversion_id=awkward)
    Conversion.objects.filter(pk=conversion.pk).update(id=awkward)
    client.force_login(staff(acme))

    _, dash, html = dashboard_page(client)

    assert awkward in [c.pk for c in dash.pending]
    links = set(re.findall(r'href="(/admin/[a-z_]+/[a-z_]+/[^"/]+/change/)"', html))
    assert {link.split("/")[3] for link in links} >= {
        "conversion",
        "postbackdelivery",
        "auditevent",
    }, links
    for link in links:
        page = client.get(link)
        assert page.status_code == 200, (link, page.status_code, page.get("Location"))
        if link.startswith("/admin/conversions/conversion/"):
            assert page.context["original"].pk in [c.pk for c in dash.pending]
    (opened,) = [link for link in links if f"<code>{awkward}</code>" in _anchor(html, link)]
    assert client.get(opened).context["original"].pk == awkward


def _anchor(html: str, href: str) -> str:
    """The text of the first link to ``href``."""
    match = re.search(rf'href="{re.escape(href)}">(.*?)</a>', html)
    assert match, href
    return match.group(1)


def test_analysts_see_no_buttons_and_get_403(client, acme, world):
    shoes = world["shoes"]
    shoes.postback_url_template = DEAD_END
    shoes.save(update_fields=["postback_url_template"])
    convert(shoes, world["plain"], txn="PB-2")
    drain()
    delivery = PostbackDelivery.objects.get(status="dead")
    client.force_login(staff(acme, StaffRole.ANALYST))
    _, dash, html = dashboard_page(client)

    assert dash.pending and dash.deliveries and not dash.can_write
    assert "/admin/dashboard/" not in html
    assert 'method="post"' not in html.split('class="trk-dash"')[1].split("trk-apps-section")[0]
    first = world["pending"][0]
    before = AuditEvent.objects.count()
    for url in (
        reverse("dashboard:conversion-approve", args=["acme", first.pk]),
        reverse("dashboard:conversion-reject", args=["acme", first.pk]),
        reverse("dashboard:delivery-replay", args=["acme", delivery.pk]),
    ):
        assert client.post(url).status_code == 403
    assert Conversion.objects.get(pk=first.pk).status == first.status
    assert PostbackDelivery.objects.get(pk=delivery.pk).status == "dead"
    assert AuditEvent.objects.count() == before


def test_buttons_cannot_reach_another_brand(client, acme, globex, world):
    client.force_login(staff(acme))
    foreign = world["gx_conversion"]
    # through another brand's URL: not found
    url = reverse("dashboard:conversion-approve", args=["globex", foreign.pk])
    assert client.post(url).status_code == 404
    # through one's own brand's URL: the service's "not found", as for a missing id
    url = reverse("dashboard:conversion-approve", args=["acme", foreign.pk])
    response = client.post(url, follow=True)
    assert f"No conversion with id {foreign.pk} in this brand." in response.content.decode()
    assert Conversion.objects.get(pk=foreign.pk).status == foreign.status
    assert not AuditEvent.objects.filter(brand=globex, channel="admin").exists()


def test_action_endpoints_take_only_post(client, acme, world):
    client.force_login(staff(acme))
    url = reverse("dashboard:conversion-approve", args=["acme", world["pending"][0].pk])
    assert client.get(url).status_code == 405


def test_action_endpoints_check_csrf(acme, world):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff(acme))
    pending = world["pending"][0]
    url = reverse("dashboard:conversion-approve", args=["acme", pending.pk])
    assert browser.post(url).status_code == 403
    assert Conversion.objects.get(pk=pending.pk).status == pending.status


# --- queries ----------------------------------------------------------------------------------

# 30, plus the integrations panel's two (its connections, and one grouped scan of its log).
MAX_QUERIES = 32


def count_queries(client) -> int:
    client.get(reverse("admin:index"))  # warm per-process caches (content types, …)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("admin:index")).status_code == 200
    return len(captured)


def test_queries_are_bounded_and_do_not_grow_with_partners_or_offers(
    client, acme, world, django_assert_max_num_queries
):
    client.force_login(staff(acme))
    few = count_queries(client)

    for n in range(8):
        offer = OfferFactory(brand=acme, slug=f"more-{n}", postback_url_template=DEAD_END)
        partner = PartnerFactory(brand=acme, slug=f"partner-{n}")
        visit(offer, partner, times=2)
        convert(offer, partner, txn=f"MORE-{n}", sub1=f"sub-{n}")
    drain()
    assert PostbackDelivery.objects.filter(status="dead").count() == 8
    many = count_queries(client)

    assert many == few
    with django_assert_max_num_queries(MAX_QUERIES):
        client.get(reverse("admin:index"))


# --- charts -----------------------------------------------------------------------------------


def test_a_brand_without_traffic_gets_flat_charts_in_its_currency(client, globex):
    client.force_login(staff(globex))
    _, dash, html = dashboard_page(client)
    assert [(m.key, m.currency, m.total) for m in dash.metrics] == [
        ("clicks", "", "0"),
        ("conversions", "", "0"),
        ("revenue", "USD", "0.00"),
        ("payout", "USD", "0.00"),
        ("profit", "USD", "0.00"),
    ]
    for metric in dash.metrics:
        assert {mark.height for mark in metric.chart.marks} == {0}
    assert "Nothing is waiting for review." in html


def test_negative_values_are_drawn_below_the_zero_line():
    days = [dt.date(2025, 3, 1) + dt.timedelta(days=n) for n in range(3)]
    values = [Decimal("12.00"), Decimal("-30.50"), Decimal("0.00")]
    drawn = chart(
        chart_id="c",
        kind="bar",
        title="Profit",
        days=days,
        values=values,
        fmt=money_text,
        timezone="UTC",
    )
    up, down, flat = drawn.marks
    assert up.y + up.height == pytest.approx(drawn.baseline)  # above the line, ending on it
    assert down.y == drawn.baseline and down.height > up.height  # below it, and longer
    assert flat.height == 0
    assert [tick.label for tick in drawn.y_ticks] == ["-50", "0", "20"]  # nice bounds
    assert drawn.desc == (
        "Profit per day, 2025-03-01 to 2025-03-03 (UTC). Total -18.50. Highest 12.00 on 2025-03-01."
    )
    assert down.label == "Mar 2: -30.50"


def test_the_previous_period_is_drawn_over_the_same_days_on_the_same_scale():
    days = [dt.date(2025, 3, 1) + dt.timedelta(days=n) for n in range(3)]
    before = [day - dt.timedelta(days=3) for day in days]
    alone = chart(
        chart_id="c",
        kind="line",
        title="Clicks",
        days=days,
        values=[1, 2, 3],
        fmt=count_text,
        timezone="UTC",
    )
    drawn = chart(
        chart_id="c",
        kind="line",
        title="Clicks",
        days=days,
        values=[1, 2, 3],
        fmt=count_text,
        timezone="UTC",
        previous_days=before,
        previous_values=[40, 0, 7],
    )
    assert alone.previous is None
    assert drawn.previous is not None
    # day i of the previous period sits over day i of this one
    assert [mark.cx for mark in drawn.previous.marks] == [mark.cx for mark in drawn.marks]
    assert drawn.previous.points == " ".join(f"{m.cx},{m.cy}" for m in drawn.previous.marks)
    # one scale for both: the previous period's 40 sets the top, this period's 3 is low
    assert [tick.label for tick in drawn.y_ticks] == ["0", "25", "50"]
    high, zero, _ = drawn.previous.marks
    assert high.cy < drawn.marks[2].cy < drawn.baseline == zero.cy
    assert high.label == "Feb 26 (previous period): 40"
    assert drawn.previous.legend == "Feb 26 – Feb 28"
    assert drawn.desc == alone.desc + (
        " Previous period, 2025-02-26 to 2025-02-28 (dashed line): total 47, highest 40 on "
        "2025-02-26."
    )
    with pytest.raises(ValueError, match="as many days"):
        chart(
            chart_id="c",
            kind="bar",
            title="Clicks",
            days=days,
            values=[1, 2, 3],
            fmt=count_text,
            timezone="UTC",
            previous_days=before[:2],
            previous_values=[1, 2],
        )
    one = chart(
        chart_id="c",
        kind="bar",
        title="Clicks",
        days=days[:1],
        values=[1],
        fmt=count_text,
        timezone="UTC",
        previous_days=before[:1],
        previous_values=[2],
    )
    assert one.previous is not None and len(one.previous.points.split()) == 2  # a dash


def test_every_chart_overlays_the_previous_period(client, acme, world):
    client.force_login(staff(acme))
    _, dash, html = dashboard_page(client, days=7, currency="EUR")
    previous = dash.previous_series
    assert len(previous.days) == len(dash.series.days) == 7
    for metric in dash.metrics:
        drawn = metric.chart.previous
        assert drawn is not None, metric.key
        assert [mark.cx for mark in drawn.marks] == [mark.cx for mark in metric.chart.marks]
        assert (drawn.date_from, drawn.date_to) == (previous.days[0], previous.days[-1])
        assert f"Previous period, {previous.days[0].isoformat()}" in metric.chart.desc
        assert f"total {metric.previous}," in metric.chart.desc  # the card's previous total
    # OLD-1 (nine days ago, revenue 9.50 EUR) is in the previous week: drawn at its day's slot
    old_day = Conversion.objects.get(txn_id="OLD-1").created_at.astimezone(NEW_YORK).date()
    slot = previous.days.index(old_day)
    assert previous.money["EUR"]["revenue"][slot] == Decimal("9.50")
    revenue = metric_of(dash, "revenue", "EUR").chart.previous
    assert revenue.marks[slot].label == f"{old_day:%b} {old_day.day} (previous period): 9.50"
    assert revenue.marks[slot].cy < metric_of(dash, "revenue", "EUR").chart.baseline
    # drawn and explained on the page: a dashed polyline per chart, a legend per card
    assert html.count('<g class="trk-previous">') == len(dash.metrics) == 5
    assert html.count('class="trk-key trk-key-previous"') == 5
    assert f"previous period, {revenue.legend}" in html


def test_refused_postbacks_link_to_the_brands_postback_log(client, acme, globex, world):
    mine = PostbackAttempt.objects.create(
        brand=acme, offer_slug="shoes", outcome="unknown_click", http_status=422, method="GET"
    )
    PostbackAttempt.objects.create(
        brand=globex, offer_slug="gx", outcome="bad_signature", http_status=403, method="GET"
    )
    user = staff(acme)
    StaffMembershipFactory(user=user, brand=globex, role=StaffRole.ANALYST)
    client.force_login(user)
    _, dash, html = dashboard_page(client, brand="acme")
    link = dash.links["postback_attempts"]
    assert f'<a href="{link}" class="trk-attempts">' in html
    listed = client.get(link)
    assert list(listed.context["cl"].queryset) == [mine]  # this brand's log, filtered


# --- the period picker and the comparison ---------------------------------------------------


def metric_of(dash, key: str, currency: str = ""):
    (found,) = [m for m in dash.metrics if (m.key, m.currency) == (key, currency)]
    return found


def test_day_choices_compare_with_the_previous_period_of_equal_length(client, acme, world):
    client.force_login(staff(acme))
    actor = make_actor(acme)
    for days in (7, 14, 30, 90):
        _, dash, html = dashboard_page(client, days=days)
        period = resolve_period(actor=actor, days=days)
        assert (dash.period.date_from, dash.period.date_to) == (period.date_from, period.date_to)
        assert dash.period_days == days and not dash.period_error
        previous = dash.previous_period
        assert previous.date_to == period.date_from - dt.timedelta(days=1)
        assert (previous.date_to - previous.date_from).days + 1 == days
        assert len(dash.series.days) == days
        assert f'?days={days}" aria-current="true"' in html
        assert f'<span class="trk-quiet">· last {days} days</span></h1>' in html
        now, before = stats_totals(actor, period), stats_totals(actor, previous)
        for key in ("clicks", "conversions"):
            metric = metric_of(dash, key)
            assert metric.total == count_text(now[key])
            assert metric.previous == count_text(before[key])
            assert metric.change == change_text(now[key], before[key], count_text)
        for currency in ("USD", "EUR"):
            _, dash, html = dashboard_page(client, days=days, currency=currency)
            for key in ("revenue", "payout", "profit"):
                metric = metric_of(dash, key, currency)
                current = now["money"].get(currency, {}).get(key, ZERO)
                earlier = before["money"].get(currency, {}).get(key, ZERO)
                assert (metric.total, metric.previous) == (money_text(current), money_text(earlier))
                assert metric.change == change_text(current, earlier, money_text)
                assert f"previous period {metric.previous} · " in html

    # the 7 days: OLD-1 (nine days ago) falls in the previous week, everything else in this one
    _, dash, _ = dashboard_page(client, days=7)
    assert metric_of(dash, "clicks").change == "+9 (+225.0%)"  # 13 against 4
    assert metric_of(dash, "conversions").change == "+3 (+300.0%)"  # 4 against 1
    assert metric_of(dash, "revenue", "USD").change == "+75.00 (none in the previous period)"
    _, dash, _ = dashboard_page(client, days=7, currency="EUR")
    assert metric_of(dash, "revenue", "EUR").change == "0.00 (0.0%)"  # H-1 against OLD-1


def test_change_text_handles_an_empty_previous_period():
    assert change_text(5, 0, count_text) == "+5 (none in the previous period)"
    assert change_text(0, 0, count_text) == "no change"
    assert change_text(Decimal("-2.00"), Decimal("4.00"), money_text) == "-6.00 (-150.0%)"


def test_a_custom_range_and_its_previous_range(client, acme, world):
    client.force_login(staff(acme))
    actor = make_actor(acme)
    today = resolve_period(actor=actor, days=1).date_to
    date_from, date_to = today - dt.timedelta(days=10), today - dt.timedelta(days=6)
    _, dash, html = dashboard_page(
        client, date_from=date_from.isoformat(), date_to=date_to.isoformat(), currency="EUR"
    )
    assert (dash.period.date_from, dash.period.date_to) == (date_from, date_to)
    assert dash.period_days is None and not dash.period_error
    assert (dash.previous_period.date_from, dash.previous_period.date_to) == (
        date_from - dt.timedelta(days=5),
        date_from - dt.timedelta(days=1),
    )
    expected = stats_totals(actor, dash.period)
    assert expected["conversions"] == 1  # OLD-1 only
    assert metric_of(dash, "conversions").total == "1"
    assert metric_of(dash, "revenue", "EUR").total == money_text(
        expected["money"]["EUR"]["revenue"]
    )
    assert f'value="{date_from.isoformat()}"' in html
    assert '<span class="trk-quiet">· 5 days</span></h1>' in html  # not "last 5 days"
    assert not re.search(r'days=\d+" aria-current', html)  # no day choice is the current one


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"days": "5"}, "The period must be 7, 14, 30, 90 days or a custom range."),
        ({"days": "-1"}, "The period must be 7, 14, 30, 90 days or a custom range."),
        ({"days": "ten"}, "The period must be 7, 14, 30, 90 days or a custom range."),
        ({"date_from": "2025-13-01"}, "Dates must be written YYYY-MM-DD."),
        ({"date_from": "<b>x</b>"}, "Dates must be written YYYY-MM-DD."),
        ({"date_from": "2025-03-02", "date_to": "2025-03-01"}, "date_from must not be after"),
        ({"date_from": "2020-01-01", "date_to": "2025-01-01"}, "at most 366 days"),
    ],
)
def test_a_bad_period_is_a_message_and_the_last_30_days(client, acme, world, params, message):
    client.force_login(staff(acme))
    _, dash, html = dashboard_page(client, **params)
    period = resolve_period(actor=make_actor(acme), days=30)
    assert (dash.period.date_from, dash.period.date_to) == (period.date_from, period.date_to)
    assert dash.period_days == 30
    assert message in dash.period_error
    assert dash.period_error.endswith("Showing the last 30 days instead.")
    assert 'class="errornote trk-period-error" role="alert"' in html
    assert "<b>x</b>" not in html


# --- the review queue: fraud holds apart from ordinary pending ------------------------------


def held_world(acme, world):
    """Review mode at a low threshold: conversions seconds after their click ("instant") score
    over it and are held by the real recording path; their scores are then spread so the sort
    has something to order."""
    acme.fraud_mode, acme.fraud_threshold = "review", 1
    acme.save()
    holds = [convert(world["shoes"], world["plain"], txn=f"F-{n}") for n in range(3)]
    for conversion, score in zip(holds, (40, 95, 60), strict=True):
        conversion.refresh_from_db()
        assert (conversion.status, conversion.status_reason) == ("pending_review", "fraud_review")
        Conversion.objects.filter(pk=conversion.pk).update(fraud_score=score)
    h1 = world["pending"][1]
    # recorded in monitor mode: a high score, yet ordinary pending (no fraud hold)
    Conversion.objects.filter(pk=h1.pk).update(fraud_score=99)
    return holds


def test_the_queue_splits_fraud_holds_from_ordinary_pending(client, acme, globex, world):
    holds = held_world(acme, world)
    client.force_login(staff(acme))
    _, dash, html = dashboard_page(client)
    queue = conversion_pending_list(actor=make_actor(acme))

    assert [c.pk for c in dash.fraud_holds] == [c.pk for c in holds]  # oldest first
    assert dash.fraud_holds_total == 3
    ordinary = [c.pk for c in queue if c.pk not in {h.pk for h in holds}]
    assert [c.pk for c in dash.pending] == ordinary and dash.pending_total == 4
    assert all(c.status_reason != "fraud_review" for c in dash.pending)
    assert world["gx_conversion"].pk not in html
    section = html.split('id="trk-fraud-holds"')[1].split('id="trk-pending"')[0]
    for conversion in holds:  # each hold keeps its approve and reject buttons
        assert f'aria-label="Approve conversion {conversion.pk}"' in section
        assert f'aria-label="Reject conversion {conversion.pk}"' in section
    assert 'href="?sort=score"' in html


def test_the_queue_sorts_by_fraud_score(client, acme, world):
    holds = held_world(acme, world)
    client.force_login(staff(acme))
    _, dash, html = dashboard_page(client, sort="score", days="7")

    assert dash.queue_sort == "score"
    assert [c.fraud_score for c in dash.fraud_holds] == [95, 60, 40]
    assert [c.pk for c in dash.fraud_holds] == [holds[1].pk, holds[2].pk, holds[0].pk]
    scores = [c.fraud_score for c in dash.pending]
    assert scores == sorted(scores, reverse=True) and scores[0] == 99
    assert dash.pending[0].pk == world["pending"][1].pk
    # back to oldest first keeps the period; an unknown sort is the default order
    assert 'href="?days=7"' in html
    _, dash, _ = dashboard_page(client, sort="<nope>")
    assert dash.queue_sort == "" and [c.pk for c in dash.fraud_holds] == [h.pk for h in holds]


# --- one currency at a time -------------------------------------------------------------------


def test_amounts_show_one_currency_at_a_time_with_a_switch(client, acme, globex, world):
    client.force_login(staff(acme))
    actor = make_actor(acme)
    period = resolve_period(actor=actor, days=30)
    expected = stats_totals(actor, period)["money"]

    _, dash, html = dashboard_page(client)
    assert dash.currency == "USD"  # the brand's
    assert [code for code, _ in dash.currencies] == ["USD", "EUR"]  # only currencies with data
    assert {m.currency for m in dash.metrics} == {"", "USD"}
    assert {row["currency"] for row in dash.top_partners + dash.top_offers} == {"USD"}
    assert 'href="?currency=EUR" aria-current' not in html and 'href="?currency=EUR"' in html

    _, dash, html = dashboard_page(client, currency="eur")
    assert dash.currency == "EUR" and not dash.currency_error
    assert {m.currency for m in dash.metrics} == {"", "EUR"}
    assert card_total(html, "profit", "EUR") == money_text(expected["EUR"]["profit"])
    assert [row["offer_id"] for row in dash.top_offers] == ["hats"]
    assert [row["rank"] for row in dash.top_partners] == list(range(1, len(dash.top_partners) + 1))
    assert {row["currency"] for row in dash.top_partners} == {"EUR"}

    for foreign in ("GBP", "<x>", "EURO"):  # no data in it: a message, the brand's currency
        _, dash, html = dashboard_page(client, currency=foreign)
        assert dash.currency == "USD"
        assert dash.currency_error == "No amounts in that currency; showing USD."
        assert "<x>" not in html

    # another brand's currencies are not offered: globex has no EUR
    client.force_login(staff(globex))
    _, dash, html = dashboard_page(client, currency="EUR")
    assert [code for code, _ in dash.currencies] == ["USD"] and dash.currency == "USD"
    assert 'aria-label="Currency"' not in html  # nothing to switch between


# --- the offer page's links -------------------------------------------------------------------


def test_the_offer_page_shows_its_tracking_link_and_inbound_postback_url(client, acme, world):
    client.force_login(staff(acme))
    shoes = world["shoes"]
    response = client.get(reverse("admin:offers_offer_change", args=[shoes.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    link = tracking_link_template(brand_slug="acme", offer_slug="shoes")
    postback = inbound_postback_url(brand_slug="acme", offer_slug="shoes")
    assert link.endswith("/c/acme/shoes/{PARTNER_ID}")
    assert f'<code class="trk-url">{link}</code>' in html
    # the macros' braces and the query's ampersands, escaped as text
    assert f'<code class="trk-url">{postback.replace("&", "&amp;")}</code>' in html
    assert 'name="tracking_link"' not in html  # read-only: no form field


# --- admin times in the brand's time zone -----------------------------------------------------


def test_admin_lists_and_pages_show_times_in_the_brands_zone(client, acme, globex, world):
    from django.utils import formats

    conversion = Conversion.objects.get(txn_id="EVE-1")  # 02:30 UTC: the evening before in NY

    def shown(at: dt.datetime) -> str:
        return formats.date_format(at, "DATETIME_FORMAT")

    def listed(at: dt.datetime) -> str:  # backoffice.admin_columns.when: the lists' format
        return f'{at:%Y-%m-%d} <span class="trk-time">{at:%H:%M}</span>'

    in_new_york, in_utc = conversion.created_at.astimezone(NEW_YORK), conversion.created_at
    new_york, utc = shown(in_new_york), shown(in_utc)
    assert new_york != utc and listed(in_new_york) != listed(in_utc)
    changelist = reverse("admin:conversions_conversion_changelist")
    change = reverse("admin:conversions_conversion_change", args=[conversion.pk])

    client.force_login(staff(acme))  # one brand: its zone on every admin page
    html = client.get(change).content.decode()
    assert new_york in html and utc not in html
    html = client.get(changelist).content.decode()
    assert listed(in_new_york) in html and listed(in_utc) not in html

    superuser = UserFactory(is_superuser=True, is_staff=True)
    client.force_login(superuser)
    html = client.get(changelist).content.decode()  # every brand: no single zone, UTC
    assert listed(in_utc) in html and listed(in_new_york) not in html
    html = client.get(changelist, {"brand__id__exact": acme.pk}).content.decode()
    assert listed(in_new_york) in html and listed(in_utc) not in html  # that brand's zone
