"""Fraud by score: the ranking and histogram of get_fraud_summary over all scored traffic,
get_conversions' score filters and sorts (keyset paging across ties), and approving a hold
clearing its reason."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from conversions.models import Click, Conversion
from conversions.rollups import rebuild_brand
from conversions.services import conversion_approve
from conversions.stats import fraud_summary, resolve_period
from tests.conversions.factories_flow import accepted_click, record
from tests.factories import OfferFactory, PartnerFactory


def clicks(brand, offer, partner, scores, when=None):
    Click.objects.bulk_create(
        Click(
            brand=brand,
            offer=offer,
            partner=partner,
            outcome="accepted",
            created_at=when or timezone.now(),
            fraud_score=score,
        )
        for score in scores
    )


def conversion(brand, offer, partner, score, txn, *, amount="10.00", status="pending", when=None):
    return Conversion.objects.create(
        brand=brand,
        offer=offer,
        partner=partner,
        created_at=when or timezone.now(),
        status=status,
        sale_amount=Decimal(amount),
        payout=Decimal("1.00"),
        revenue=Decimal("2.00"),
        currency="USD",
        txn_id=txn,
        fraud_score=score,
    )


@pytest.fixture
def scored(brand, other_brand):
    """Scores everywhere, none at the threshold: nothing is flagged."""
    brand.fraud_mode, brand.fraud_threshold = "monitor", 95
    brand.save()
    offer = OfferFactory(brand=brand, slug="shop")
    risky = PartnerFactory(brand=brand, slug="coupon-kings", name="Coupon Kings")
    calm = PartnerFactory(brand=brand, slug="tech-reviews", name="Tech Reviews")
    clicks(brand, offer, risky, [40, 50])
    conversion(brand, offer, risky, 30, "R1")
    clicks(brand, offer, calm, [10, 0, 20])
    clicks(brand, offer, calm, [90], when=timezone.now() - dt.timedelta(days=60))  # outside
    # Another brand's higher scores must not appear.
    foreign_offer = OfferFactory(brand=other_brand, slug="shop")
    foreign = PartnerFactory(brand=other_brand, slug="coupon-kings")
    clicks(other_brand, foreign_offer, foreign, [99, 99])
    conversion(other_brand, foreign_offer, foreign, 99, "F1")
    rebuild_brand(brand_id=brand.pk)
    return offer, risky, calm


def test_partners_ranked_by_average_then_max_score_without_any_flag(actor, brand, scored):
    summary = fraud_summary(actor=actor, period=resolve_period(actor=actor, days=30))
    assert summary["top_risk_partners"] == []  # nothing flagged: the old ranking is empty
    ranked = summary["partners_by_score"]
    assert [row["partner_id"] for row in ranked] == ["coupon-kings", "tech-reviews"]
    first, second = ranked
    assert first == {
        "partner_id": "coupon-kings",
        "name": "Coupon Kings",
        "avg_score": Decimal("40.00"),  # (40 + 50 + 30) / 3
        "max_score": 50,
        "clicks": 2,
        "clicks_avg_score": Decimal("45.00"),
        "clicks_max_score": 50,
        "conversions": 1,
        "conversions_avg_score": Decimal("30.00"),
        "conversions_max_score": 30,
    }
    # The click 60 days ago (score 90) is outside the period.
    assert (second["avg_score"], second["max_score"], second["clicks"]) == (Decimal("10.00"), 20, 3)
    assert (second["conversions"], second["conversions_avg_score"]) == (0, None)


def test_equal_averages_rank_by_maximum(actor, brand):
    offer = OfferFactory(brand=brand)
    steady = PartnerFactory(brand=brand, slug="steady")
    spiky = PartnerFactory(brand=brand, slug="spiky")
    clicks(brand, offer, steady, [30, 30])
    clicks(brand, offer, spiky, [0, 60])
    ranked = fraud_summary(actor=actor, period=resolve_period(actor=actor))["partners_by_score"]
    assert [(row["partner_id"], row["max_score"]) for row in ranked] == [
        ("spiky", 60),
        ("steady", 30),
    ]


def test_histogram_buckets_of_ten(actor, brand):
    offer = OfferFactory(brand=brand)
    partner = PartnerFactory(brand=brand)
    clicks(brand, offer, partner, [0, 9, 10, 55, 89, 90, 100, 100])
    conversion(brand, offer, partner, 19, "H1")
    conversion(brand, offer, partner, 95, "H2", status="rejected")  # every status counts
    histogram = fraud_summary(actor=actor, period=resolve_period(actor=actor))["score_histogram"]
    assert [(b["score_from"], b["score_to"]) for b in histogram] == [
        *((low, low + 9) for low in range(0, 90, 10)),
        (90, 100),
    ]
    assert [b["clicks"] for b in histogram] == [2, 1, 0, 0, 0, 1, 0, 0, 1, 3]
    assert [b["conversions"] for b in histogram] == [0, 1, 0, 0, 0, 0, 0, 0, 0, 1]


def test_score_ranking_is_a_fixed_number_of_queries(actor, brand, django_assert_max_num_queries):
    offer = OfferFactory(brand=brand)
    for index in range(6):
        partner = PartnerFactory(brand=brand, slug=f"p{index}")
        clicks(brand, offer, partner, [index * 10])
        conversion(brand, offer, partner, index, f"Q{index}")
    period = resolve_period(actor=actor)
    # brand + rollup totals + rollups per partner + 2 grouped and 2 histogram queries.
    with django_assert_max_num_queries(7):
        summary = fraud_summary(actor=actor, period=period)
    assert len(summary["partners_by_score"]) == 6


def test_the_product_prompt_gets_an_answer_over_rest(api, scored):
    """ "Which partners have the highest fraud scores this month?" on a brand with scores but
    no flags."""
    body = api.get("/api/v1/fraud/summary/?days=30").json()
    assert body["conversions"]["flagged"] == 0 and body["clicks"]["flagged"] == 0
    assert body["partners_by_score"][0]["partner_id"] == "coupon-kings"
    assert body["partners_by_score"][0]["avg_score"] == "40.00"
    assert sum(b["clicks"] for b in body["score_histogram"]) == 5  # not the one 60 days ago
    assert {"mode", "threshold", "clicks", "conversions", "top_risk_partners"} <= set(body)


# --- get_conversions: score filters, sorts, paging ----------------------------------------


@pytest.fixture
def spread(brand):
    offer = OfferFactory(brand=brand, slug="shop")
    partner = PartnerFactory(brand=brand, slug="abc")
    scores = [50, 50, 50, 20, 80, 50, 0]
    amounts = ["5.00", "7.00", "5.00", "5.00", "1.00", "9.00", "5.00"]
    return [
        conversion(brand, offer, partner, score, f"S{i}", amount=amount)
        for i, (score, amount) in enumerate(zip(scores, amounts, strict=True))
    ]


def pages(api, query):
    ids, url = [], f"/api/v1/conversions/?{query}&limit=2"
    for _ in range(20):
        response = api.get(url)
        assert response.status_code == 200, response.json()
        body = response.json()
        ids += [
            (row["conversion_id"], row["fraud_score"], row["sale_amount"])
            for row in body["results"]
        ]
        url = body["next"]  # the next page's link, cursor included
        if not url:
            return ids
    raise AssertionError("paging did not end")


def test_riskiest_first_pages_across_ties(api, spread):
    got = pages(api, "order_by=-fraud_score")
    expected = sorted(spread, key=lambda c: (c.fraud_score, c.pk), reverse=True)
    assert [row[0] for row in got] == [c.pk for c in expected]  # each once, ties by id
    ascending = pages(api, "order_by=fraud_score")
    assert [row[0] for row in ascending] == [c.pk for c in reversed(expected)]


def test_sort_by_amount_and_score_range(api, spread):
    got = pages(api, "order_by=-sale_amount&min_fraud_score=20&max_fraud_score=50")
    inside = [c for c in spread if 20 <= c.fraud_score <= 50]
    expected = sorted(inside, key=lambda c: (c.sale_amount, c.pk), reverse=True)
    assert [row[0] for row in got] == [c.pk for c in expected]
    assert all(20 <= row[1] <= 50 for row in got)
    exact = pages(api, "min_fraud_score=50&max_fraud_score=50")
    assert sorted(row[0] for row in exact) == sorted(c.pk for c in spread if c.fraud_score == 50)


def test_a_cursor_is_bound_to_its_sort(api, spread):
    following = api.get("/api/v1/conversions/?order_by=-fraud_score&limit=2").json()["next"]
    assert "order_by=-fraud_score" in following
    other = api.get(following.replace("order_by=-fraud_score", "order_by=-sale_amount"))
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    "query",
    [
        "min_fraud_score=60&max_fraud_score=50",
        "min_fraud_score=-1",
        "max_fraud_score=101",
        "min_fraud_score=ten",
        "order_by=status",
        "order_by=-fraud_score,pk",
        "order_by=fraud_score%3B%20DROP%20TABLE%20conversions_conversion",
        "order_by=brand__name",
    ],
)
def test_hostile_score_and_sort_arguments_are_refused(api, spread, query):
    response = api.get(f"/api/v1/conversions/?{query}")
    assert response.status_code == 422, response.json()
    assert response.json()["error"]["code"] == "invalid_input"


# --- approving a hold ------------------------------------------------------------------------


def test_approving_a_fraud_hold_clears_its_reason(actor, brand):
    brand.fraud_mode, brand.fraud_threshold = "review", 40
    brand.save()
    offer = OfferFactory(brand=brand, min_conversion_seconds=60)
    partner = PartnerFactory(brand=brand)
    held = record(
        brand, offer, click=accepted_click(brand, offer, partner, seconds_ago=10), txn_id="H"
    )
    assert (held.status, held.status_reason) == ("pending_review", "fraud_review")
    period = resolve_period(actor=actor)
    assert fraud_summary(actor=actor, period=period)["conversions"]["held_for_review"] == 1

    approved = conversion_approve(actor=actor, conversion=held)
    held.refresh_from_db()
    assert (approved.status, held.status, held.status_reason) == ("approved", "approved", "")
    assert held.fraud_cleared_by == actor.label
    # The rollups moved with it, and agree with a rebuild from the raw rows.
    assert fraud_summary(actor=actor, period=period)["conversions"]["held_for_review"] == 0
    rebuild_brand(brand_id=brand.pk)
    assert fraud_summary(actor=actor, period=period)["conversions"]["held_for_review"] == 0
