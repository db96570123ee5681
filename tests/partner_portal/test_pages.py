"""The partner portal's pages: each shows the signed-in partner's own rows in that brand and
nothing else — not another partner's (same brand or another), not the brand's revenue or
profit — and anything that is not theirs is the same not-found page as what does not exist.

Traffic goes through the real paths (clicks through /c/ and the worker, conversions through
the postback service, payouts through the payout service), so the rollups the home page reads
are the production ones."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from conversions.portal import portal_conversion_list, reason_text
from core.errors import PermissionDeniedError
from tests.conftest import make_actor
from tests.partner_portal.helpers import sign_in
from tests.test_dashboard import EVIL_SUB

pytestmark = pytest.mark.django_db(transaction=True)

# What the brand books per conversion (OfferFactory): it must never reach a partner's page.
REVENUE = "25.00"


@pytest.fixture
def ada_client(world):
    client = Client()
    sign_in(client, world["ada"])
    return client


def page(client, name, *args, **params):
    response = client.get(reverse(name, args=["acme", *args]), params)
    return response, response.content.decode()


PAGES = [
    ("portal-home", {}),
    ("portal-home", {"days": "7"}),
    ("portal-home", {"days": "90"}),
    ("portal-links", {}),
    ("portal-conversions", {}),
    ("portal-conversions", {"status": "rejected"}),
    ("portal-payouts", {}),
    ("portal-coupons", {}),
    ("portal-profile", {}),
]


@pytest.mark.parametrize(("name", "params"), PAGES)
def test_every_page_shows_nothing_of_another_partner_or_the_brands_margin(
    ada_client, world, name, params
):
    response, html = page(ada_client, name, **params)
    assert response.status_code == 200
    for foreign in ("BOB", "bob@example.com", "Bob", "&lt;script", "BOB10", "GLOBEX", "globex-sub"):
        assert foreign not in html, foreign
    assert EVIL_SUB not in html and "&lt;img" not in html
    for row in ("theirs", "other_brand", "theirs_payout"):
        assert world[row].pk not in html, row
    assert REVENUE not in html and "Revenue" not in html and "Profit" not in html
    assert "Ada Media" in html


def test_home_shows_the_partners_numbers_by_day_offer_and_sub_id(ada_client, world):
    response, html = page(ada_client, "portal-home")
    cards = response.context["cards"]
    totals = {card.key: card.total for card in cards}
    # 4 visits + 3 converting clicks; 2 conversions counted (one rejected); payout 10.00 each
    assert totals["clicks"] == "7"
    assert totals["conversions"] == "2"
    assert totals["earnings"] == "20.00"
    assert totals["cvr"] == "28.57%"
    assert totals["epc"] == "2.8571"
    assert html.count('<svg class="trk-chart') == 5
    perf = response.context["perf"]
    assert [(row["offer"], row["conversions"]) for row in perf.by_offer] == [("shoes", 2)]
    assert [(row["sub1"], row["billable_clicks"]) for row in perf.by_sub] == [
        ("spring-newsletter", 7)
    ]


def test_conversions_lists_the_partners_own_conversions(ada_client, world):
    response, _ = page(ada_client, "portal-conversions")
    assert {row.id for row in response.context["rows"]} == {c.pk for c in world["mine"]}


def test_conversions_say_why_in_plain_words(ada_client, world):
    _, html = page(ada_client, "portal-conversions", status="rejected")
    assert reason_text("rejected", "manual_rejection") in html
    assert html.count('data-status="rejected"') == 1
    detail, html = page(ada_client, "portal-conversion", world["mine"][1].pk)
    assert detail.status_code == 200
    assert "Rejected by the brand on review." in html and REVENUE not in html
    assert "ADA-1" not in html  # the advertiser's transaction id is not the partner's


def test_reasons_in_plain_words():
    assert "likely fraud" in reason_text("rejected", "fraud_blocked")
    assert "cap" in reason_text("pending_review", "cap_exceeded")
    assert reason_text("rejected", "duplicate order") == "Rejected by the brand: duplicate order"
    assert reason_text("approved", "") == "Approved: it will be in your next payout."


def test_another_partners_rows_are_not_found_like_missing_ones(ada_client, world):
    missing, missing_html = page(ada_client, "portal-conversion", "conv_doesnotexist")
    assert missing.status_code == 404
    for foreign in (world["theirs"].pk, world["other_brand"].pk):
        response, html = page(ada_client, "portal-conversion", foreign)
        assert response.status_code == 404 and html == missing_html.replace(
            "conv_doesnotexist", foreign
        )
    for payout_id in (world["theirs_payout"].pk, "pay_doesnotexist"):
        response, _ = page(ada_client, "portal-statement", payout_id)
        assert response.status_code == 404


def test_another_brands_portal_with_this_session_goes_to_its_login(ada_client, world):
    response = ada_client.get(reverse("portal-home", args=["globex"]))
    assert response.status_code == 302
    assert response["Location"] == reverse("portal-login", args=["globex"])
    statement = reverse("portal-statement", args=["globex", world["mine_payout"].pk])
    assert ada_client.get(statement).status_code == 302


def test_the_statement_is_the_partners_own_payout_as_csv(ada_client, world):
    response, _ = page(ada_client, "portal-statement", world["mine_payout"].pk)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    facts = dict(row for row in rows if len(row) == 2)
    assert facts["partner_id"] == "ada" and facts["total"] == "10.00"
    assert REVENUE not in response.content.decode()


def test_links_list_open_offers_and_build_sub_id_links(ada_client, world):
    response, html = page(ada_client, "portal-links")
    assert "/c/acme/shoes/ada" in html
    assert "/c/acme/hats/" not in html  # private, and ada is not on its list
    response, html = page(ada_client, "portal-links", offer="shoes", sub1="a b&c", sub2="x")
    assert response.context["built"].endswith("/c/acme/shoes/ada?sub1=a+b%26c&sub2=x")
    for params in ({"offer": "hats"}, {"offer": "shoes", "sub1": "x" * 256}):
        response, _ = page(ada_client, "portal-links", **params)
        assert response.status_code == 200 and response.context["built"] == ""
        assert response.context["form"].errors


def test_payouts_show_the_partners_balance(ada_client, world):
    response, html = page(ada_client, "portal-payouts")
    (usd,) = response.context["balance"]
    # one conversion pending, one rejected, one approved and in the pending payout
    assert (usd["currency"], usd["pending"], usd["approved"], usd["in_payout"], usd["paid"]) == (
        "USD",
        Decimal("10.00"),
        Decimal("0.00"),
        Decimal("10.00"),
        Decimal("0.00"),
    )
    assert world["mine_payout"].pk in html


def test_coupons_and_profile_are_the_partners(ada_client, world):
    _, html = page(ada_client, "portal-coupons")
    assert "ADA10" in html and "BOB10" not in html
    _, html = page(ada_client, "portal-profile")
    assert "ada@example.com" in html


def test_an_unknown_period_or_status_falls_back_with_a_note(ada_client, world):
    response, html = page(ada_client, "portal-home", days="400")
    assert response.status_code == 200 and response.context["days"] == 30
    assert "pick 7, 30 or 90" in html
    response, _ = page(ada_client, "portal-conversions", status="everything", days="x")
    assert response.status_code == 200 and response.context["status"] == ""


def test_the_reads_refuse_a_brand_side_actor(world):
    with pytest.raises(PermissionDeniedError):
        portal_conversion_list(actor=make_actor(world["acme"]))
