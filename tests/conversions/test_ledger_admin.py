"""The ledger in the admin: reversing conversions (a form, then the service per row), adding
an adjustment, entries shown read-only, the brand's minimum payout, and generate's skips."""

from decimal import Decimal

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from brands.models import StaffRole
from conversions.ledger_models import LedgerEntry
from conversions.models import Conversion
from tests.conftest import make_actor
from tests.conversions.ledger_helpers import sale
from tests.factories import OfferFactory, PartnerFactory, StaffMembershipFactory


@pytest.fixture
def owner(brand):
    return StaffMembershipFactory(brand=brand, role=StaffRole.OWNER).user


def test_reverse_from_the_admin_asks_for_a_reason_then_reverses(client, brand, owner):
    offer, partner = OfferFactory(brand=brand), PartnerFactory(brand=brand)
    actor = make_actor(brand)
    approved, pending = (
        sale(brand, offer, partner, actor=actor),
        sale(brand, offer, partner, approve=False),
    )
    client.force_login(owner)
    url = reverse("admin:conversions_conversion_changelist")
    selected = {"action": "reverse", "index": "0", "_selected_action": [approved.pk, pending.pk]}
    form = client.post(url, selected)
    assert form.status_code == 200 and "refund" in form.content.decode()
    assert not LedgerEntry.objects.filter(kind="reversal").exists()
    refused = client.post(
        url, {**selected, "apply": "1", "reason": "other", "note": ""}, follow=True
    )
    assert "note" in refused.content.decode()
    done = client.post(url, {**selected, "apply": "1", "reason": "refund"}, follow=True)
    html = done.content.decode()
    assert "Reversed 1 conversion(s)" in html
    assert pending.pk in html  # refused: it was never approved
    assert Conversion.objects.get(pk=approved.pk).status == "reversed"
    assert Conversion.objects.get(pk=pending.pk).status == "pending"
    event = AuditEvent.objects.get(action="conversion.reverse")
    assert (event.actor_label, event.channel) == (f"user:{owner.pk}", "admin")


def test_an_adjustment_added_in_the_admin_goes_through_the_service(client, brand, owner):
    partner = PartnerFactory(brand=brand)
    client.force_login(owner)
    url = reverse("admin:conversions_ledgerentry_add")
    assert client.get(url).status_code == 200
    answer = client.post(
        url, {"partner": partner.pk, "currency": "USD", "amount": "0", "note": "Bonus"}
    )
    assert answer.status_code == 200 and not LedgerEntry.objects.exists()  # the form again
    client.post(url, {"partner": partner.pk, "currency": "USD", "amount": "12.00", "note": "Bonus"})
    entry = LedgerEntry.objects.get()
    assert (entry.kind, entry.amount, entry.note) == ("adjustment", Decimal("12.00"), "Bonus")
    assert AuditEvent.objects.get(action="ledger.adjust").actor_label == f"user:{owner.pk}"
    page = client.get(reverse("admin:conversions_ledgerentry_change", args=[entry.pk]))
    assert page.status_code == 200
    assert 'name="amount"' not in page.content.decode()  # read-only: entries never change


def test_generate_in_the_admin_says_why_a_partner_was_left_out(client, brand, owner):
    brand.min_payout_amount = Decimal("50.00")
    brand.save()
    offer, partner = (
        OfferFactory(brand=brand, payout_amount=Decimal("10.00")),
        PartnerFactory(brand=brand),
    )
    sale(brand, offer, partner, actor=make_actor(brand))
    client.force_login(owner)
    answer = client.post(
        reverse("admin:conversions_payout_generate"),
        {"brand": brand.pk, "up_to": "2099-01-01"},
        follow=True,
    )
    assert "below the brand&#x27;s minimum payout of 50.00" in answer.content.decode()
