"""Brand A's key against every REST endpoint with brand B's ids: 404, and B unchanged."""

import hashlib
import json

import pytest
from django.core import serializers as dj_serializers
from django.utils import timezone

from audit.models import AuditEvent
from brands.models import Brand
from conversions.models import Conversion, Payout, PostbackDelivery
from offers.models import Offer, PayoutRule
from partners.models import Coupon, Partner
from tests.conftest import client_with_key, issue_key
from tests.factories import BrandFactory, CouponFactory, OfferFactory, PartnerFactory

B_OFFER, B_PARTNER, B_COUPON = "b-offer", "b-partner", "BCOUPON"
B_CONVERSION, B_PAYOUT, B_DELIVERY = (
    "conv_brandbconversion0001",
    "pay_brandbpayout000000001",
    987654,
)

OBJECT_ENDPOINTS = [
    ("get", f"/api/v1/offers/{B_OFFER}/", None),
    ("patch", f"/api/v1/offers/{B_OFFER}/", {"name": "hijacked"}),
    ("post", f"/api/v1/offers/{B_OFFER}/pause/", None),
    ("post", f"/api/v1/offers/{B_OFFER}/resume/", None),
    ("post", f"/api/v1/offers/{B_OFFER}/archive/", None),
    ("post", f"/api/v1/offers/{B_OFFER}/caps/", {"daily": 1}),
    (
        "post",
        f"/api/v1/offers/{B_OFFER}/payout-rules/",
        {"event_type": "sale", "payout_type": "flat", "payout_amount": "99"},
    ),
    ("post", f"/api/v1/offers/{B_OFFER}/rotate-postback-secret/", {}),
    ("get", f"/api/v1/partners/{B_PARTNER}/", None),
    ("patch", f"/api/v1/partners/{B_PARTNER}/", {"name": "hijacked"}),
    ("post", f"/api/v1/partners/{B_PARTNER}/approve/", None),
    ("post", f"/api/v1/partners/{B_PARTNER}/reject/", None),
    ("post", f"/api/v1/partners/{B_PARTNER}/pause/", None),
    ("post", f"/api/v1/partners/{B_PARTNER}/resume/", None),
    ("get", f"/api/v1/coupons/{B_COUPON}/", None),
    ("post", f"/api/v1/coupons/{B_COUPON}/disable/", None),
    ("get", f"/api/v1/conversions/{B_CONVERSION}/", None),
    ("post", f"/api/v1/conversions/{B_CONVERSION}/approve/", None),
    ("post", f"/api/v1/conversions/{B_CONVERSION}/reject/", {"reason": "x"}),
    ("get", f"/api/v1/payouts/{B_PAYOUT}/", None),
    ("post", f"/api/v1/payouts/{B_PAYOUT}/mark-paid/", {"method": "wire"}),
    ("post", f"/api/v1/payouts/{B_PAYOUT}/void/", None),
    ("get", f"/api/v1/deliveries/{B_DELIVERY}/", None),
    ("post", f"/api/v1/deliveries/{B_DELIVERY}/replay/", None),
    ("post", "/api/v1/payouts/generate/", {"partner_id": B_PARTNER}),
    # nested ids: A's offer with B's partner, A's partner with B's offer
    (
        "post",
        "/api/v1/offers/a-offer/payout-rules/",
        {"partner_id": B_PARTNER, "payout_type": "flat", "payout_amount": "1"},
    ),
    ("post", "/api/v1/coupons/", {"partner_id": B_PARTNER, "code": "STEAL1"}),
    (
        "post",
        "/api/v1/coupons/",
        {"partner_id": "a-partner", "offer_id": B_OFFER, "code": "STEAL2"},
    ),
]


def brand_b_checksum(brand_b: Brand) -> str:
    rows = []
    for model in (
        Brand,
        Offer,
        PayoutRule,
        Partner,
        Coupon,
        AuditEvent,
        Conversion,
        Payout,
        PostbackDelivery,
    ):
        field = "pk" if model is Brand else "brand"
        rows.append(
            dj_serializers.serialize(
                "json", model.objects.filter(**{field: brand_b.pk}).order_by("pk")
            )
        )
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


@pytest.fixture
def two_brands(db):
    brand_a = BrandFactory(slug="brand-a")
    brand_b = BrandFactory(slug="brand-b")
    OfferFactory(brand=brand_a, slug="a-offer")
    PartnerFactory(brand=brand_a, slug="a-partner")
    b_offer = OfferFactory(brand=brand_b, slug=B_OFFER)
    b_partner = PartnerFactory(brand=brand_b, slug=B_PARTNER, status="pending")
    CouponFactory(brand=brand_b, partner=b_partner, offer=b_offer, code=B_COUPON)
    now = timezone.now()
    payout = Payout.objects.create(
        id=B_PAYOUT,
        brand=brand_b,
        partner=b_partner,
        currency="USD",
        amount=5,
        period_end=now.date(),
    )
    conversion = Conversion.objects.create(
        id=B_CONVERSION,
        brand=brand_b,
        offer=b_offer,
        partner=b_partner,
        txn_id="B1",
        currency="USD",
        created_at=now,
        status="approved",
        payout_batch=payout,
    )
    PostbackDelivery.objects.create(
        pk=B_DELIVERY, brand=brand_b, conversion=conversion, url="https://b.example/", status="dead"
    )
    Conversion.objects.create(
        brand=brand_b,
        offer=b_offer,
        partner=b_partner,
        txn_id="B2",
        currency="USD",
        created_at=now,
        status="approved",
    )
    return brand_a, brand_b


@pytest.mark.parametrize(("method", "path", "body"), OBJECT_ENDPOINTS)
def test_brand_a_key_cannot_reach_brand_b_objects(two_brands, method, path, body):
    brand_a, brand_b = two_brands
    client = client_with_key(issue_key(brand_a))
    if "generate" in path:  # A has nothing to pay; B's approved conversion must stay uncovered
        response = client.post(path, body, format="json")
        assert response.status_code == 404
        assert Conversion.objects.get(txn_id="B2").payout_batch is None
        return
    before = brand_b_checksum(brand_b)
    response = getattr(client, method)(path, body, format="json")
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "not_found"
    assert brand_b_checksum(brand_b) == before


@pytest.mark.parametrize(
    ("path", "b_marker"),
    [
        ("/api/v1/offers/", B_OFFER),
        ("/api/v1/partners/", B_PARTNER),
        ("/api/v1/coupons/", B_COUPON),
        ("/api/v1/audit-events/", "brand-b"),
        ("/api/v1/conversions/", B_CONVERSION),
        ("/api/v1/conversions/pending/", "B2"),
        ("/api/v1/payouts/", B_PAYOUT),
        ("/api/v1/deliveries/", "b.example"),
        ("/api/v1/stats/partners/", B_PARTNER),
        ("/api/v1/stats/offers/", B_OFFER),
        ("/api/v1/stats/top-publishers/", B_PARTNER),
        ("/api/v1/fraud/summary/", B_PARTNER),
    ],
)
def test_lists_and_filters_show_no_brand_b_rows(two_brands, path, b_marker):
    brand_a, brand_b = two_brands
    client_with_key(issue_key(brand_b)).post(f"/api/v1/offers/{B_OFFER}/pause/")  # B has audit rows
    response = client_with_key(issue_key(brand_a)).get(path)
    assert response.status_code == 200
    assert b_marker not in response.content.decode()


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/coupons/?partner_id={B_PARTNER}",
        f"/api/v1/coupons/?offer_id={B_OFFER}",
        f"/api/v1/conversions/?partner_id={B_PARTNER}",
        f"/api/v1/conversions/?offer_id={B_OFFER}",
        f"/api/v1/conversions/?conversion_id={B_CONVERSION}",
        f"/api/v1/conversions/pending/?partner_id={B_PARTNER}",
        f"/api/v1/payouts/?partner_id={B_PARTNER}",
        f"/api/v1/deliveries/?conversion_id={B_CONVERSION}",
        f"/api/v1/stats/partners/?partner_id={B_PARTNER}",
        f"/api/v1/stats/offers/?offer_id={B_OFFER}",
    ],
)
def test_list_filters_naming_brand_b_ids_are_not_found(two_brands, path):
    brand_a, _ = two_brands
    response = client_with_key(issue_key(brand_a)).get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_audit_event_of_brand_b_is_not_found_by_id(two_brands):
    brand_a, brand_b = two_brands
    client_with_key(issue_key(brand_b)).post(f"/api/v1/offers/{B_OFFER}/pause/")
    b_event = AuditEvent.objects.filter(brand=brand_b).latest("id")
    response = client_with_key(issue_key(brand_a)).get(f"/api/v1/audit-events/{b_event.pk}/")
    assert response.status_code == 404


def test_not_found_for_foreign_and_missing_ids_is_indistinguishable(two_brands):
    brand_a, _ = two_brands
    client = client_with_key(issue_key(brand_a))
    foreign = client.get(f"/api/v1/offers/{B_OFFER}/").json()["error"]
    missing = client.get("/api/v1/offers/zz-none/").json()["error"]
    assert foreign["code"] == missing["code"]
    assert foreign["message"].replace(B_OFFER, "X") == missing["message"].replace("zz-none", "X")
