"""Conversion, payout and delivery actions in the admin: each goes through its service and is
audited as the staff member."""

import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse

from audit.models import AuditEvent
from brands.models import StaffRole
from conversions.models import Conversion, ConversionReviewQueue, Payout, PostbackDelivery
from conversions.payouts import payouts_generate
from conversions.services import conversion_approve
from tests.conftest import make_actor
from tests.conversions.factories_flow import accepted_click, record
from tests.factories import OfferFactory, PartnerFactory, StaffMembershipFactory


@pytest.fixture
def setup(brand):
    owner = StaffMembershipFactory(brand=brand, role=StaffRole.OWNER).user
    analyst = StaffMembershipFactory(brand=brand, role=StaffRole.ANALYST).user
    offer = OfferFactory(brand=brand)
    partner = PartnerFactory(brand=brand)
    conversions = [
        record(brand, offer, click=accepted_click(brand, offer, partner), txn_id=f"A{i}")
        for i in range(3)
    ]
    return owner, analyst, conversions


def act(client, model, action, objs, **extra):
    url = reverse(f"admin:conversions_{model._meta.model_name}_changelist")
    return client.post(
        url,
        {"action": action, "index": "0", "_selected_action": [str(o.pk) for o in objs], **extra},
        follow=True,
    )


def test_review_queue_lists_only_undecided_conversions_and_approves(client, brand, setup):
    owner, _, conversions = setup
    conversion_approve(actor=make_actor(brand), conversion=conversions[2])
    client.force_login(owner)
    page = client.get(reverse("admin:conversions_conversionreviewqueue_changelist"))
    html = page.content.decode()
    assert conversions[0].id in html and conversions[1].id in html
    assert conversions[2].id not in html
    act(client, ConversionReviewQueue, "approve", [conversions[0]])
    act(client, ConversionReviewQueue, "reject", [conversions[1]])
    assert Conversion.objects.get(pk=conversions[0].pk).status == "approved"
    assert Conversion.objects.get(pk=conversions[1].pk).status == "rejected"
    events = AuditEvent.objects.filter(
        action__in=["conversion.approve", "conversion.reject"], channel="admin"
    )
    assert {(e.action, e.actor_label) for e in events} == {
        ("conversion.approve", f"user:{owner.pk}"),
        ("conversion.reject", f"user:{owner.pk}"),
    }


def test_analysts_get_no_actions(client, brand, setup):
    _, analyst, conversions = setup
    client.force_login(analyst)
    page = client.get(reverse("admin:conversions_conversion_changelist"))
    assert page.status_code == 200
    assert 'name="action"' not in page.content.decode()
    act(client, Conversion, "approve", [conversions[0]])
    assert Conversion.objects.get(pk=conversions[0].pk).status == "pending"


def test_generate_and_mark_paid_cascade_from_the_admin(client, brand, setup):
    owner, _, conversions = setup
    for conversion in conversions:
        conversion_approve(actor=make_actor(brand), conversion=conversion)
    client.force_login(owner)
    generate = client.post(
        reverse("admin:conversions_payout_generate"),
        {"brand": brand.pk, "up_to": "2099-01-01"},
        follow=True,
    )
    assert "Generated 1 payout(s)." in generate.content.decode()
    payout = Payout.objects.get()
    confirm = act(client, Payout, "mark_paid", [payout])
    assert "Mark payouts paid" in confirm.content.decode()
    assert Payout.objects.get().status == "pending"  # nothing happens before confirming
    act(
        client,
        Payout,
        "mark_paid",
        [payout],
        apply="Mark paid",
        method="wire",
        reference="W-1",
        notes="",
    )
    assert Payout.objects.get().status == "paid"
    assert set(Conversion.objects.values_list("status", flat=True)) == {"paid"}
    assert AuditEvent.objects.get(action="payout.mark_paid").actor_label == f"user:{owner.pk}"


def test_void_and_replay_from_the_admin(client, brand, setup):
    owner, _, conversions = setup
    conversion_approve(actor=make_actor(brand), conversion=conversions[0])
    (payout,) = payouts_generate(actor=make_actor(brand))
    delivery = PostbackDelivery.objects.create(
        brand=brand, conversion=conversions[0], url="https://a.example/", status="dead"
    )
    client.force_login(owner)
    act(client, Payout, "void", [payout])
    assert Payout.objects.get().status == "void"
    act(client, PostbackDelivery, "replay", [delivery])
    assert PostbackDelivery.objects.get().status == "pending"
    assert (
        AuditEvent.objects.filter(action="delivery.replay", actor_label=f"user:{owner.pk}").count()
        == 1
    )


def test_conversion_pages_are_view_only(client, brand, setup):
    owner, _, conversions = setup
    client.force_login(owner)
    # quote(): the admin unquotes the id (conv_2F… would open conv/…), see test_dashboard.py
    url = reverse("admin:conversions_conversion_change", args=[quote(conversions[0].pk)])
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert client.post(url, {"status": "paid"}).status_code == 403
    assert Conversion.objects.get(pk=conversions[0].pk).status == "pending"
