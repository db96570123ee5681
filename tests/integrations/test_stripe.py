"""Stripe webhooks end to end through the public endpoint, signed by the stripe library."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from brands.fx_services import fx_rate_set
from conversions.models import Conversion, ConversionStatus, PostbackDelivery
from integrations.models import IntegrationCustomer, IntegrationEvent
from tests.factories import CouponFactory
from tests.integrations.payloads import (
    charge,
    checkout_session,
    dispute,
    invoice,
    stripe_body,
    stripe_event,
    stripe_headers,
)

URL = "/api/integrations/stripe/acme"
pytestmark = pytest.mark.django_db(transaction=False)


def post(event: dict, **sign) -> object:
    body = stripe_body(event)
    return Client().post(URL, body, content_type="application/json", **stripe_headers(body, **sign))


def test_checkout_records_the_sale_and_remembers_the_customer(shop, new_click):
    click_id = new_click()
    event = stripe_event("checkout.session.completed", checkout_session(click_id=click_id))
    response = post(event)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["outcome"] == "accepted"
    assert answer["reason"] == "conversion_recorded"
    conversion = Conversion.objects.get(pk=answer["conversion_id"])
    assert conversion.click_id == click_id
    assert conversion.partner == shop["partner"]
    assert conversion.sale_amount == Decimal("49.00")
    assert conversion.currency == "USD"
    assert conversion.txn_id == "in_1MtHbELkdIwHu7ixl4OzzPMv"
    assert conversion.event_type == "sale"
    customer = IntegrationCustomer.objects.get(customer_id="cus_NffrFeUfNV2Hib")
    assert customer.click_id == click_id
    assert customer.first_conversion_id == conversion.pk
    assert AuditEvent.objects.filter(
        action="conversion.create", actor_label="system:stripe"
    ).exists()


def test_the_same_event_twice_records_once(shop, new_click):
    event = stripe_event("checkout.session.completed", checkout_session(click_id=new_click()))
    first, again = post(event), post(event)
    assert first.json()["outcome"] == "accepted"
    assert again.status_code == 200
    assert again.json()["outcome"] == "duplicate"
    assert Conversion.objects.count() == 1
    assert list(IntegrationEvent.objects.order_by("pk").values_list("outcome", flat=True)) == [
        "accepted",
        "duplicate",
    ]


def test_metadata_click_id_and_payment_mode(shop, new_click):
    session = checkout_session(
        metadata={"trk_click_id": new_click()},
        mode="payment",
        invoice=None,
        payment_intent="pi_3MtwBwLkdIwHu7ix28a3tqPa",
        amount_total=1999,
    )
    answer = post(stripe_event("checkout.session.completed", session)).json()
    conversion = Conversion.objects.get(pk=answer["conversion_id"])
    assert conversion.txn_id == "pi_3MtwBwLkdIwHu7ix28a3tqPa"
    assert conversion.sale_amount == Decimal("19.99")


def test_zero_decimal_currency(shop, new_click):
    shop["offer"].currency = "JPY"
    shop["offer"].save()
    session = checkout_session(click_id=new_click(), amount_total=4900, currency="jpy")
    answer = post(stripe_event("checkout.session.completed", session)).json()
    assert Conversion.objects.get(pk=answer["conversion_id"]).sale_amount == Decimal("4900.00")


def test_another_currency_is_converted_at_the_brands_rate_or_ignored_without_one(
    shop, new_click, django_capture_on_commit_callbacks
):
    session = checkout_session(click_id=new_click(), currency="eur")
    answer = post(stripe_event("checkout.session.completed", session)).json()
    assert (answer["outcome"], answer["reason"]) == ("ignored", "fx_rate_missing")
    assert not Conversion.objects.exists()
    # The service, not a bare row: it moves the cache generation the rate lookups read.
    with django_capture_on_commit_callbacks(execute=True):
        fx_rate_set(
            actor=shop["actor"],
            base="EUR",
            quote="USD",
            day=dt.date(2026, 1, 1),
            rate=Decimal("1.10"),
        )
    again = post(stripe_event("checkout.session.completed", session, event_id="evt_again"))
    assert again.json()["reason"] == "conversion_recorded", again.json()
    conversion = Conversion.objects.get(pk=again.json()["conversion_id"])
    assert (conversion.sale_amount, conversion.currency) == (Decimal("53.90"), "USD")
    assert (conversion.original_amount, conversion.original_currency) == (Decimal("49.00"), "EUR")


def test_coupon_attributes_without_a_click(shop):
    CouponFactory(brand=shop["brand"], partner=shop["partner"], code="ADA20", offer=shop["offer"])
    session = checkout_session(discounts=[{"coupon": "ADA20", "promotion_code": None}])
    answer = post(stripe_event("checkout.session.completed", session)).json()
    conversion = Conversion.objects.get(pk=answer["conversion_id"])
    assert conversion.coupon.code == "ADA20"
    assert conversion.attribution["winner"] == "coupon"


def test_no_click_no_coupon_is_ignored(shop):
    answer = post(stripe_event("checkout.session.completed", checkout_session())).json()
    assert (answer["outcome"], answer["reason"]) == ("ignored", "no_attribution")
    assert not Conversion.objects.exists()


def test_first_invoice_after_checkout_is_the_same_sale(shop, new_click):
    post(stripe_event("checkout.session.completed", checkout_session(click_id=new_click())))
    first_invoice = invoice(
        invoice_id="in_1MtHbELkdIwHu7ixl4OzzPMv", billing_reason="subscription_create"
    )
    answer = post(stripe_event("invoice.paid", first_invoice, event_id="evt_inv1")).json()
    assert answer["reason"] == "already_recorded"
    assert Conversion.objects.count() == 1


def test_renewals_earn_the_recurring_rate_for_the_recurring_months(shop, new_click):
    offer = shop["offer"]
    offer.payout_type, offer.payout_amount = "percent", Decimal("30")
    offer.recurring_months, offer.recurring_rate_percent = 3, Decimal("50")
    offer.save()
    post(stripe_event("checkout.session.completed", checkout_session(click_id=new_click())))
    sale = Conversion.objects.get()
    assert sale.payout == Decimal("14.70")  # 30 % of 49.00
    start = timezone.now()
    answers = []
    # Three months after the first payment are 89 to 92 days: 31 and 62 are inside, 100 not.
    for days in (31, 62, 100):
        paid = int(start.timestamp()) + days * 86400
        body = invoice(invoice_id=f"in_renewal_{days}", paid_at=paid)
        with time_machine.travel(paid, tick=False):
            answers.append(post(stripe_event("invoice.paid", body, event_id=f"evt_r{days}")).json())
    assert [a["reason"] for a in answers] == [
        "conversion_recorded",
        "conversion_recorded",
        "recurring_period_over",
    ]
    renewals = Conversion.objects.filter(event_type="renewal").order_by("created_at")
    assert renewals.count() == 2
    for renewal in renewals:
        assert renewal.partner == shop["partner"]
        assert renewal.payout == Decimal("7.35")  # half of 30 % of 49.00
        assert renewal.attribution["renews"] == sale.pk


def test_renewals_without_recurring_months_are_ignored(shop, new_click):
    post(stripe_event("checkout.session.completed", checkout_session(click_id=new_click())))
    answer = post(stripe_event("invoice.paid", invoice(invoice_id="in_r1"), event_id="evt_r1"))
    assert answer.json()["reason"] == "recurring_not_commissioned"
    assert Conversion.objects.count() == 1


def test_invoice_of_an_unknown_customer_is_ignored(shop):
    answer = post(stripe_event("invoice.paid", invoice(invoice_id="in_x"), event_id="evt_x"))
    assert (answer.json()["outcome"], answer.json()["reason"]) == ("ignored", "unknown_customer")
    row = IntegrationEvent.objects.get()
    assert row.object_id == "in_x"
    assert not Conversion.objects.exists()


def test_invoice_with_subscription_metadata_is_a_first_sale(shop, new_click):
    body = invoice(invoice_id="in_meta", subscription_metadata={"trk_click_id": new_click()})
    answer = post(stripe_event("invoice.paid", body, event_id="evt_meta")).json()
    assert answer["reason"] == "conversion_recorded"
    assert Conversion.objects.get().event_type == "sale"


def test_trial_links_the_customer_and_the_first_paid_invoice_is_the_sale(shop, new_click):
    click_id = new_click()
    session = checkout_session(click_id=click_id, amount_total=0)
    assert post(stripe_event("checkout.session.completed", session)).json()["reason"] == (
        "customer_linked"
    )
    body = invoice(invoice_id="in_after_trial", billing_reason="subscription_cycle")
    answer = post(stripe_event("invoice.paid", body, event_id="evt_t")).json()
    conversion = Conversion.objects.get(pk=answer["conversion_id"])
    assert (conversion.event_type, conversion.click_id) == ("sale", click_id)


def test_full_refund_reverses(shop, new_click):
    session = checkout_session(
        click_id=new_click(), mode="payment", invoice=None, payment_intent="pi_refund_me"
    )
    post(stripe_event("checkout.session.completed", session))
    refund = charge(payment_intent="pi_refund_me")
    answer = post(stripe_event("charge.refunded", refund, event_id="evt_refund")).json()
    assert answer["reason"] == "conversion_refunded"
    conversion = Conversion.objects.get()
    assert conversion.status == ConversionStatus.REJECTED
    assert conversion.status_reason == "refunded"


def test_dispute_reverses(shop, new_click):
    session = checkout_session(
        click_id=new_click(), mode="payment", invoice=None, payment_intent="pi_disputed"
    )
    post(stripe_event("checkout.session.completed", session))
    body = dispute(charge_id="ch_x", payment_intent="pi_disputed")
    answer = post(stripe_event("charge.dispute.created", body, event_id="evt_dp")).json()
    assert answer["reason"] == "conversion_disputed"
    assert Conversion.objects.get().status == ConversionStatus.REJECTED


def test_refund_of_an_unknown_payment_is_ignored(shop):
    answer = post(stripe_event("charge.refunded", charge(payment_intent="pi_nope"), event_id="e"))
    assert answer.json()["reason"] == "unknown_payment"


def test_unhandled_event_type_is_ignored(shop):
    answer = post(stripe_event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert answer.json()["reason"] == "event_not_handled"


def test_outbound_postback_is_queued_like_any_conversion(shop, new_click):
    shop["offer"].postback_url_template = "https://adv.example/pb?c={CLICK_ID}"
    shop["offer"].save()
    post(stripe_event("checkout.session.completed", checkout_session(click_id=new_click())))
    assert PostbackDelivery.objects.count() == 1


# --- refusals: nothing is created --------------------------------------------------------


def _nothing_created() -> None:
    assert not Conversion.objects.exists()
    assert not IntegrationCustomer.objects.exists()


def test_bad_signature_is_refused(shop, new_click):
    event = stripe_event("checkout.session.completed", checkout_session(click_id=new_click()))
    response = post(event, secret="whsec_someone_elses_secret_000000")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_signature"
    _nothing_created()
    row = IntegrationEvent.objects.get()
    assert (row.outcome, row.reason, row.event_id) == ("refused", "bad_signature", "")


def test_old_event_is_refused(shop, new_click):
    event = stripe_event("checkout.session.completed", checkout_session(click_id=new_click()))
    response = post(event, timestamp=int(time.time()) - 3600)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "signature_expired"
    _nothing_created()


def test_tampered_body_is_refused(shop, new_click):
    event = stripe_event("checkout.session.completed", checkout_session(click_id=new_click()))
    body = stripe_body(event)
    headers = stripe_headers(body)
    tampered = body.replace("4900", "490000")
    response = Client().post(URL, tampered, content_type="application/json", **headers)
    assert response.json()["error"]["code"] == "bad_signature"
    _nothing_created()


@pytest.mark.parametrize(
    "body",
    ["not json", "[1, 2]", '{"id": "evt_1", "type": "checkout.session.completed"', "{}"],
)
def test_malformed_signed_body_is_refused_or_ignored(shop, body):
    response = Client().post(URL, body, content_type="application/json", **stripe_headers(body))
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"malformed_body", "malformed_event"}
    _nothing_created()


def test_nul_bytes_and_non_utf8_are_refused(shop):
    for body in (b'{"id": "evt_\x00"}', b"\xff\xfe{}"):
        response = Client().post(URL, body, content_type="application/json")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "malformed_body"
    _nothing_created()


def test_huge_body_is_refused(shop):
    body = '{"pad": "' + "x" * (600 * 1024) + '"}'
    response = Client().post(URL, body, content_type="application/json", **stripe_headers(body))
    assert response.status_code == 413
    _nothing_created()


def test_another_brands_secret_and_unknown_brands_answer_alike(shop, other_brand, new_click):
    from integrations.models import Provider
    from integrations.services import connection_set_secret
    from tests.conftest import make_actor

    globex_secret = "whsec_globex_0123456789abcdefghij"
    connection_set_secret(
        actor=make_actor(other_brand), provider=Provider.STRIPE, signing_secret=globex_secret
    )
    event = stripe_event("checkout.session.completed", checkout_session(click_id=new_click()))
    body = stripe_body(event)
    answers = []
    for url, secret in (
        (URL, globex_secret),  # acme's endpoint, globex's secret
        ("/api/integrations/stripe/nobody-here", globex_secret),
        ("/api/integrations/stripe/globex", "whsec_guess_0123456789abcdefghijk"),
    ):
        response = Client().post(
            url, body, content_type="application/json", **stripe_headers(body, secret=secret)
        )
        answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1] == answers[2]
    _nothing_created()


def test_unconnected_brand_answers_like_a_bad_signature(shop, other_brand, new_click):
    event = stripe_event("checkout.session.completed", checkout_session(click_id=new_click()))
    response = Client().post(
        "/api/integrations/stripe/globex",
        stripe_body(event),
        content_type="application/json",
        **stripe_headers(stripe_body(event)),
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_signature"
    row = IntegrationEvent.objects.get(brand=other_brand)
    assert row.reason == "not_connected"


def test_refund_of_an_approved_sale_reverses_it_through_the_ledger(shop, new_click):
    from conversions.ledger_models import LedgerEntry
    from conversions.services import conversion_approve

    session = checkout_session(
        click_id=new_click(), mode="payment", invoice=None, payment_intent="pi_approved"
    )
    post(stripe_event("checkout.session.completed", session))
    conversion_approve(actor=shop["actor"], conversion=Conversion.objects.get())
    refund = charge(payment_intent="pi_approved")
    first = post(stripe_event("charge.refunded", refund, event_id="evt_ref_1")).json()
    # Another delivery of a refund of the same charge (a new event id) changes nothing more.
    again = post(stripe_event("charge.refunded", refund, event_id="evt_ref_2")).json()
    assert first["reason"] == again["reason"] == "conversion_refunded"
    conversion = Conversion.objects.get()
    assert (conversion.status, conversion.status_reason) == ("reversed", "refund")
    entries = LedgerEntry.objects.filter(conversion=conversion)
    assert sorted((entry.kind, entry.amount) for entry in entries) == [
        ("commission", conversion.payout),
        ("reversal", -conversion.payout),
    ]


def test_dispute_of_an_approved_sale_is_a_chargeback(shop, new_click):
    from conversions.services import conversion_approve

    session = checkout_session(
        click_id=new_click(), mode="payment", invoice=None, payment_intent="pi_cb"
    )
    post(stripe_event("checkout.session.completed", session))
    conversion_approve(actor=shop["actor"], conversion=Conversion.objects.get())
    body = dispute(charge_id="ch_z", payment_intent="pi_cb")
    assert post(stripe_event("charge.dispute.created", body, event_id="evt_dp2")).status_code == 200
    assert Conversion.objects.get().status_reason == "chargeback"


def test_partial_refunds_of_a_charge_reverse_their_share_once(shop, new_click):
    """charge.refunded carries the charge's amount_refunded so far: each refund counts once,
    whether its event comes twice or late; the one that completes the charge reverses the
    rest. The offer's flat commission is kept until then (docs/ledger.md)."""
    from conversions.ledger_models import ConversionRefund, LedgerEntry
    from conversions.services import conversion_approve

    offer = shop["offer"]
    offer.payout_type, offer.payout_amount = "percent", Decimal("10")
    offer.save()
    session = checkout_session(
        click_id=new_click(), mode="payment", invoice=None, payment_intent="pi_partial"
    )
    post(stripe_event("checkout.session.completed", session))
    conversion = conversion_approve(actor=shop["actor"], conversion=Conversion.objects.get())
    assert conversion.payout == Decimal("4.90")  # 10 % of 49.00
    part = charge(payment_intent="pi_partial", amount_refunded=1000)  # 10.00 of 49.00
    for event_id in ("evt_p1", "evt_p1_again"):
        answer = post(stripe_event("charge.refunded", part, event_id=event_id)).json()
        assert answer["reason"] == "conversion_refunded", answer
    assert Conversion.objects.get().status == "approved"
    entries = LedgerEntry.objects.filter(conversion=conversion, kind="reversal")
    assert [entry.amount for entry in entries] == [Decimal("-1.00")]  # 4.90 × 10/49
    whole = charge(payment_intent="pi_partial")
    post(stripe_event("charge.refunded", whole, event_id="evt_p2"))
    assert Conversion.objects.get().status == "reversed"
    assert sum(entry.amount for entry in entries.all()) == Decimal("-4.90")
    assert ConversionRefund.objects.count() == 2
