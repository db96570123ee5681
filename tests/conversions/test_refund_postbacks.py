"""Refund postbacks (issue 15): event=refund / chargeback naming the original txn_id takes the
sale back automatically — reversed through the ledger's conversion_reverse when approved or
paid, rejected when still pending — proven like any postback, idempotent, and an unknown
original is a clear refusal in the postback log. docs/tracking.md, "Refunds and chargebacks"."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from audit.models import AuditEvent
from conversions import tracking_config
from conversions.ledger_models import LedgerEntry
from conversions.models import Conversion, PostbackAttempt
from conversions.services import conversion_approve
from tests.conftest import make_actor
from tests.conversions.factories_flow import accepted_click, record
from tests.conversions.helpers import now_ts, signature, signed_query
from tests.factories import BrandFactory, OfferFactory, PartnerFactory

SECRET = "whsec_refunds"


@pytest.fixture
def shop(brand):
    offer = OfferFactory(
        brand=brand, slug="shop", min_conversion_seconds=0, payout_amount=Decimal("12.50")
    )
    partner = PartnerFactory(brand=brand, slug="abc-123")
    return brand, offer, partner


def sale(brand, offer, partner, txn_id: str, *, event: str = "sale") -> Conversion:
    click = accepted_click(brand, offer, partner, seconds_ago=120)
    return record(brand, offer, click=click, txn_id=txn_id, event=event)


def refund(client, offer: str = "shop", brand: str = "acme", **params: str):
    tracking_config.clear()
    return client.get(f"/api/postback/{brand}/{offer}", params)


def approved(brand, conversion: Conversion) -> Conversion:
    return conversion_approve(actor=make_actor(brand), conversion=conversion)


def test_a_refund_reverses_an_approved_sale_through_the_ledger(client, shop):
    brand, offer, partner = shop
    conversion = approved(brand, sale(brand, offer, partner, "ORDER-1"))
    response = refund(client, event="refund", txn_id="ORDER-1")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["conversion_id"] == conversion.pk
    assert (body["status"], body["status_reason"], body["duplicate"]) == (
        "reversed",
        "refund",
        False,
    )
    assert body["refund"] == {
        "outcome": "reversed",
        "original_txn_id": "ORDER-1",
        "original_event": "sale",
        "refunded_amount": "100.00",
        "currency": "USD",
        "commission_reversed": "12.50",
    }
    conversion.refresh_from_db()
    assert (conversion.status, conversion.status_reason) == ("reversed", "refund")
    entries = LedgerEntry.objects.filter(conversion=conversion).order_by("created_at")
    assert [(e.kind, e.amount) for e in entries] == [
        ("commission", Decimal("12.50")),
        ("reversal", Decimal("-12.50")),
    ]
    assert entries[1].reason_code == "refund"
    event = AuditEvent.objects.get(action="conversion.reverse")
    assert (event.actor_label, event.channel) == ("system:postback", "postback")
    attempt = PostbackAttempt.objects.get(txn_id="ORDER-1")
    assert (attempt.outcome, attempt.conversion_id) == ("accepted", conversion.pk)


def test_a_repeated_refund_changes_nothing_and_says_so(client, shop):
    brand, offer, partner = shop
    conversion = approved(brand, sale(brand, offer, partner, "ORDER-2"))
    first = refund(client, event="refund", txn_id="R-9", original_txn_id="ORDER-2")
    again = refund(client, event="refund", txn_id="R-9", original_txn_id="ORDER-2")
    assert first.json()["refund"]["outcome"] == "reversed"
    assert again.status_code == 200
    assert (again.json()["duplicate"], again.json()["refund"]["outcome"]) == (
        True,
        "already_reversed",
    )
    # A chargeback after the refund: the sale is taken back once.
    late = refund(client, event="chargeback", txn_id="CB-1", original_txn_id="ORDER-2")
    assert late.json()["refund"]["outcome"] == "already_reversed"
    assert LedgerEntry.objects.filter(conversion=conversion, kind="reversal").count() == 1
    assert AuditEvent.objects.filter(action="conversion.reverse").count() == 1
    assert PostbackAttempt.objects.filter(outcome="duplicate").count() == 2


def test_a_refund_of_a_pending_sale_rejects_it(client, shop):
    brand, offer, partner = shop
    conversion = sale(brand, offer, partner, "ORDER-3")
    body = refund(client, event="chargeback", txn_id="ORDER-3").json()
    assert (body["status"], body["status_reason"], body["refund"]["outcome"]) == (
        "rejected",
        "chargeback",
        "rejected",
    )
    conversion.refresh_from_db()
    assert conversion.status == "rejected"
    assert not LedgerEntry.objects.filter(conversion=conversion).exists()  # nothing was owed
    again = refund(client, event="refund", txn_id="ORDER-3").json()
    assert (again["duplicate"], again["refund"]["outcome"]) == (True, "already_rejected")


def test_the_original_event_picks_the_sale(client, shop):
    brand, offer, partner = shop
    signup = approved(brand, sale(brand, offer, partner, "U-1", event="signup"))
    purchase = approved(brand, sale(brand, offer, partner, "U-1"))
    body = refund(client, event="refund", txn_id="U-1", original_event="signup").json()
    assert body["conversion_id"] == signup.pk
    purchase.refresh_from_db()
    assert purchase.status == "approved"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"event": "refund", "txn_id": "NEVER"}, "unknown_original_txn"),
        ({"event": "refund", "txn_id": "R-1", "original_txn_id": "NEVER"}, "unknown_original_txn"),
        (
            {"event": "refund", "txn_id": "ORDER-4", "original_event": "signup"},
            "unknown_original_txn",
        ),
        ({"event": "refund", "txn_id": "ORDER-4", "original_event": "refund"}, "invalid_event"),
        ({"event": "refund"}, "missing_txn_id"),
        ({"event": "refund", "txn_id": "R 1"}, "invalid_txn_id"),
        ({"event": "refund", "txn_id": "R-1", "original_txn_id": "a\x00b"}, "invalid_txn_id"),
        ({"event": "refund", "txn_id": "R-1", "original_txn_id": "x" * 129}, "invalid_txn_id"),
        ({"event": "refund", "txn_id": "ORDER-4", "amount": "-1"}, "invalid_amount"),
        ({"event": "refund", "txn_id": "ORDER-4", "amount": "0"}, "invalid_amount"),
        ({"event": "refund", "txn_id": "ORDER-4", "amount": "NaN"}, "invalid_amount"),
        ({"event": "refund", "txn_id": "ORDER-4", "amount": "1.001"}, "invalid_amount"),
        ({"event": "refund", "txn_id": "ORDER-4", "amount": "1e20"}, "invalid_amount"),
        ({"event": "refund", "txn_id": "ORDER-4", "currency": "EURO"}, "invalid_currency"),
        (
            {"event": "refund", "txn_id": "ORDER-4", "amount": "5", "currency": "EUR"},
            "refund_currency_mismatch",
        ),
    ],
)
def test_refusals_are_clear_logged_and_change_nothing(client, shop, params, code):
    brand, offer, partner = shop
    conversion = approved(brand, sale(brand, offer, partner, "ORDER-4"))
    response = refund(client, **params)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code
    conversion.refresh_from_db()
    assert conversion.status == "approved"
    assert not LedgerEntry.objects.filter(kind="reversal").exists()
    assert PostbackAttempt.objects.get(outcome=code).http_status == 422


def test_another_offers_or_brands_sale_is_unknown(client, shop):
    brand, _offer, partner = shop
    other_offer = OfferFactory(brand=brand, slug="other", min_conversion_seconds=0)
    mine = approved(brand, sale(brand, other_offer, partner, "SHARED"))
    globex = BrandFactory(slug="globex")
    theirs_offer = OfferFactory(brand=globex, slug="shop", min_conversion_seconds=0)
    theirs = approved(globex, sale(globex, theirs_offer, PartnerFactory(brand=globex), "G-1"))
    assert refund(client, event="refund", txn_id="SHARED").json()["error"]["code"] == (
        "unknown_original_txn"
    )
    assert refund(client, event="refund", txn_id="G-1").json()["error"]["code"] == (
        "unknown_original_txn"
    )
    for conversion in (mine, theirs):
        conversion.refresh_from_db()
        assert conversion.status == "approved"


def test_a_refund_must_prove_its_origin_like_any_postback(client, shop):
    brand, offer, partner = shop
    offer.postback_secret, offer.allow_unsigned_postbacks = SECRET, False
    offer.save()
    conversion = approved(brand, sale(brand, offer, partner, "ORDER-5"))
    unsigned = refund(client, event="refund", txn_id="ORDER-5")
    assert (unsigned.status_code, unsigned.json()["error"]["code"]) == (
        401,
        "signature_required",
    )
    forged = refund(client, event="refund", txn_id="ORDER-5", ts=str(now_ts()), sig="0" * 64)
    assert forged.json()["error"]["code"] == "bad_signature"
    conversion.refresh_from_db()
    assert conversion.status == "approved"
    signed = refund(client, **signed_query(SECRET, {"event": "refund", "txn_id": "ORDER-5"}))
    assert signed.status_code == 200, signed.json()
    # A signed JSON POST too (the body is what is signed).
    other = approved(brand, sale(brand, offer, partner, "ORDER-6"))
    body = json.dumps({"event": "chargeback", "txn_id": "ORDER-6"}).encode()
    ts = now_ts()
    tracking_config.clear()
    posted = client.generic(
        "POST",
        "/api/postback/acme/shop",
        body,
        content_type="application/json",
        HTTP_X_TRCKER_SIGNATURE=f"t={ts},v1={signature(SECRET, ts, body)}",
    )
    assert posted.status_code == 200, posted.json()
    other.refresh_from_db()
    assert (other.status, other.status_reason) == ("reversed", "chargeback")


def test_a_partial_refund_postback_reverses_its_share_and_counts_once(client, shop):
    """docs/tracking.md: amount names how much of the sale was refunded. The offer pays a flat
    12.50 here; on a 10 % revenue share the same refund takes back 10 % of 40.00."""
    brand, _offer, partner = shop
    revshare = OfferFactory(
        brand=brand,
        slug="revshare",
        min_conversion_seconds=0,
        payout_type="percent",
        payout_amount=Decimal("10"),
    )
    conversion = approved(brand, sale(brand, revshare, partner, "ORDER-9"))  # 100.00: 10.00
    params = {"event": "refund", "txn_id": "RF-1", "original_txn_id": "ORDER-9", "amount": "40"}
    first = refund(client, offer="revshare", **params)
    assert first.status_code == 200, first.json()
    body = first.json()
    assert (body["status"], body["duplicate"]) == ("approved", False)
    assert body["refund"]["outcome"] == "partially_refunded"
    assert (body["refund"]["refunded_amount"], body["refund"]["commission_reversed"]) == (
        "40.00",
        "4.00",
    )
    again = refund(client, offer="revshare", **params).json()
    assert (again["duplicate"], again["refund"]["outcome"]) == (True, "already_recorded")
    rest = refund(
        client, offer="revshare", event="refund", txn_id="RF-2", original_txn_id="ORDER-9"
    ).json()
    assert (rest["status"], rest["refund"]["commission_reversed"]) == ("reversed", "6.00")
    amounts = LedgerEntry.objects.filter(conversion=conversion, kind="reversal")
    assert sorted(entry.amount for entry in amounts) == [Decimal("-6.00"), Decimal("-4.00")]
    event = AuditEvent.objects.get(action="conversion.refund")
    assert event.changes["refund_id"] == [None, "RF-1"]
    assert (event.actor_label, event.channel) == ("system:postback", "postback")
