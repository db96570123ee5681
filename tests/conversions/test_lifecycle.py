import datetime as dt
from decimal import Decimal

import pytest

from audit.models import AuditEvent
from conversions.models import Conversion, Payout, PostbackDelivery
from conversions.payouts import payout_mark_paid, payout_void, payouts_generate
from conversions.services import conversion_approve, conversion_reject
from core.errors import ConflictError, InvalidTransitionError, NotFoundError, PermissionDeniedError
from tests.conftest import make_actor
from tests.conversions.factories_flow import accepted_click, record
from tests.factories import OfferFactory, PartnerFactory


@pytest.fixture
def flow(brand):
    offer = OfferFactory(
        brand=brand,
        slug="shop",
        payout_amount=Decimal("10.00"),
        postback_url_template="https://adv.example/pb?c={CLICK_ID}&conv={CONVERSION_ID}",
    )
    partner = PartnerFactory(brand=brand, slug="abc-123")
    return offer, partner


def new_conversion(brand, offer, partner, txn="T1"):
    return record(brand, offer, click=accepted_click(brand, offer, partner), txn_id=txn)


def test_conversion_create_is_audited_as_the_postback_system_actor(brand, flow):
    conversion = new_conversion(brand, *flow)
    event = AuditEvent.objects.get(action="conversion.create")
    assert (event.actor_label, event.channel, event.target_id) == (
        "system:postback",
        "postback",
        conversion.id,
    )
    assert event.changes["payout"] == [None, "10.00"]


def test_approve_and_reject_transitions_are_audited(brand, flow, actor):
    first, second = new_conversion(brand, *flow, txn="A"), new_conversion(brand, *flow, txn="B")
    approved = conversion_approve(actor=actor, conversion=first)
    assert approved.status == "approved"
    assert approved.approved_at is not None
    rejected = conversion_reject(actor=actor, conversion=second, reason="duplicate order in CRM")
    assert (rejected.status, rejected.status_reason) == ("rejected", "duplicate order in CRM")
    assert AuditEvent.objects.get(action="conversion.reject").changes["reason"] == [
        None,
        "duplicate order in CRM",
    ]
    with pytest.raises(InvalidTransitionError):
        conversion_approve(actor=actor, conversion=second)
    assert AuditEvent.objects.filter(action="conversion.approve").count() == 1


def test_approving_a_held_conversion_clears_its_fraud_signal_and_fires_the_postback(
    brand, flow, actor
):
    offer, partner = flow
    brand.fraud_mode, brand.fraud_threshold = "review", 30
    brand.save()
    click = accepted_click(brand, offer, partner, seconds_ago=1)  # instant conversion: +60
    held = record(brand, offer, click=click, txn_id="R-1")
    assert (held.status, held.status_reason) == ("pending_review", "fraud_review")
    assert not PostbackDelivery.objects.exists()  # held conversions do not fire yet
    approved = conversion_approve(actor=actor, conversion=held)
    assert approved.fraud_cleared_by == actor.label
    assert approved.fraud_score == held.fraud_score  # history kept
    assert PostbackDelivery.objects.filter(conversion=approved).count() == 1
    conversion_approve(actor=actor, conversion=approved)  # idempotent, no second delivery
    assert PostbackDelivery.objects.count() == 1


def test_payouts_generate_mark_paid_cascade(brand, flow, actor):
    offer, partner = flow
    other = PartnerFactory(brand=brand, slug="other")
    conversions = [new_conversion(brand, offer, partner, txn=f"P{i}") for i in range(3)]
    theirs = record(brand, offer, click=accepted_click(brand, offer, other), txn_id="O1")
    pending_one = new_conversion(brand, offer, partner, txn="still-pending")
    for conversion in [*conversions, theirs]:
        conversion_approve(actor=actor, conversion=conversion)
    payouts = payouts_generate(actor=actor)
    assert len(payouts) == 2
    mine = Payout.objects.get(partner=partner)
    assert (mine.amount, mine.currency, mine.status) == (Decimal("30.00"), "USD", "pending")
    assert set(Conversion.objects.filter(payout_batch=mine).values_list("pk", flat=True)) == {
        c.pk for c in conversions
    }
    assert Conversion.objects.get(pk=pending_one.pk).payout_batch is None
    assert payouts_generate(actor=actor) == []  # nothing left uncovered
    with pytest.raises(InvalidTransitionError):
        conversion_reject(actor=actor, conversion=conversions[0])  # in a payout: void it first
    paid = payout_mark_paid(
        actor=actor, payout=mine, method="paypal", reference="PP-123", notes="Nov"
    )
    assert (paid.status, paid.method, paid.reference) == ("paid", "paypal", "PP-123")
    assert set(Conversion.objects.filter(payout_batch=mine).values_list("status", flat=True)) == {
        "paid"
    }
    assert Conversion.objects.get(pk=theirs.pk).status == "approved"
    event = AuditEvent.objects.get(action="payout.mark_paid")
    assert event.changes["conversions_paid"] == [None, 3]
    with pytest.raises(InvalidTransitionError):
        conversion_approve(actor=actor, conversion=conversions[0])  # paid is final
    with pytest.raises(InvalidTransitionError):
        payout_void(actor=actor, payout=paid)


def test_paying_a_paid_payout_again_is_a_no_op_only_when_it_repeats_the_payment(brand, flow, actor):
    conversion_approve(actor=actor, conversion=new_conversion(brand, *flow))
    (payout,) = payouts_generate(actor=actor)
    payout_mark_paid(actor=actor, payout=payout, method="paypal", reference="PP-1", notes="Nov")
    events = AuditEvent.objects.filter(action="payout.mark_paid").count()
    # The same payment again (notes left out make no claim): answered, nothing written.
    again = payout_mark_paid(actor=actor, payout=payout, method="paypal", reference="PP-1")
    assert (again.method, again.reference, again.notes) == ("paypal", "PP-1", "Nov")
    # Another reference: an error that shows what was recorded; nothing changes.
    with pytest.raises(ConflictError) as conflict:
        payout_mark_paid(actor=actor, payout=payout, method="paypal", reference="PP-2")
    assert conflict.value.code == "payout_already_paid"
    assert "'PP-1'" in conflict.value.message
    assert conflict.value.fields == {"reference": ["Recorded: 'PP-1'."]}
    with pytest.raises(ConflictError):
        payout_mark_paid(actor=actor, payout=payout, method="wire", reference="PP-1")
    stored = Payout.objects.get(pk=payout.pk)
    assert (stored.method, stored.reference, stored.notes) == ("paypal", "PP-1", "Nov")
    assert AuditEvent.objects.filter(action="payout.mark_paid").count() == events


def test_payout_void_releases_conversions(brand, flow, actor):
    conversion = new_conversion(brand, *flow)
    conversion_approve(actor=actor, conversion=conversion)
    (payout,) = payouts_generate(actor=actor)
    payout_void(actor=actor, payout=payout)
    assert Conversion.objects.get(pk=conversion.pk).payout_batch is None
    (again,) = payouts_generate(actor=actor)
    assert again.pk != payout.pk


def test_payouts_generate_respects_up_to_in_the_brand_time_zone(brand, flow, actor):
    offer, partner = flow
    brand.timezone = "America/New_York"
    brand.save()
    conversion = new_conversion(brand, offer, partner)
    conversion_approve(actor=actor, conversion=conversion)
    local_day = conversion.created_at.astimezone(dt.timezone(dt.timedelta(hours=-5))).date()
    assert payouts_generate(actor=actor, up_to=local_day - dt.timedelta(days=2)) == []
    assert len(payouts_generate(actor=actor, up_to=local_day + dt.timedelta(days=1))) == 1


def test_mark_paid_requires_a_method(brand, flow, actor):
    conversion = new_conversion(brand, *flow)
    conversion_approve(actor=actor, conversion=conversion)
    (payout,) = payouts_generate(actor=actor)
    from core.errors import ValidationError

    with pytest.raises(ValidationError):
        payout_mark_paid(actor=actor, payout=payout, method="  ")
    assert Payout.objects.get(pk=payout.pk).status == "pending"


def test_lifecycle_writes_need_write_scope_and_the_same_brand(brand, flow, read_actor, other_brand):
    conversion = new_conversion(brand, *flow)
    with pytest.raises(PermissionDeniedError):
        conversion_approve(actor=read_actor, conversion=conversion)
    with pytest.raises(PermissionDeniedError):
        payouts_generate(actor=read_actor)
    with pytest.raises(NotFoundError):
        conversion_approve(actor=make_actor(other_brand), conversion=conversion)
    assert Conversion.objects.get(pk=conversion.pk).status == "pending"
