"""The partner ledger: a commission entry on every approval, reversals (before and after a
payout) as negative entries, manual adjustments, payouts that settle entries, the minimum
payout, and entries that never change (the model and, on PostgreSQL, a trigger refuse it)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from audit.models import AuditEvent
from conversions.bulk import bulk_update_conversions
from conversions.ledger import ledger_adjustment_create
from conversions.ledger_models import EntryKind, ImmutableEntryError, LedgerEntry
from conversions.ledger_selectors import balances
from conversions.models import Conversion
from conversions.payouts import payout_mark_paid, payout_void, payouts_generate
from conversions.reversals import conversion_reverse
from conversions.services import conversion_reject
from core.errors import ConflictError, InvalidTransitionError, NotFoundError, ValidationError
from tests.conversions.ledger_helpers import assert_rollups_equal_raw, entries_total, sale
from tests.factories import OfferFactory, PartnerFactory


@pytest.fixture
def shop(brand):
    return OfferFactory(brand=brand, slug="shop", payout_amount=Decimal("10.00"))


def balance_of(partner, currency="USD"):
    rows = {
        row["currency"]: row for row in balances(brand_id=partner.brand_id, partner_id=partner.pk)
    }
    return rows.get(currency)


def test_every_approval_path_writes_one_commission_entry(brand, actor, shop, partner):
    one = sale(brand, shop, partner, actor=actor)
    two, three = (sale(brand, shop, partner, approve=False) for _ in range(2))
    bulk_update_conversions(actor=actor, action="approve", conversion_ids=[two.pk, three.pk])
    commissions = LedgerEntry.objects.filter(kind=EntryKind.COMMISSION).order_by("created_at")
    assert {entry.conversion_id for entry in commissions} == {one.pk, two.pk, three.pk}
    assert {(e.amount, e.currency, e.partner_id) for e in commissions} == {
        (Decimal("10.00"), "USD", partner.pk)
    }
    # approving again writes nothing more
    bulk_update_conversions(actor=actor, action="approve", conversion_ids=[one.pk])
    assert LedgerEntry.objects.count() == 3
    row = balance_of(partner)
    assert row["balance"] == row["unpaid_commissions"] == row["unsettled"] == Decimal("30.00")


def test_a_dry_run_writes_no_entry(brand, actor, shop, partner):
    pending = sale(brand, shop, partner, approve=False)
    bulk_update_conversions(
        actor=actor, action="approve", conversion_ids=[pending.pk], dry_run=True
    )
    assert not LedgerEntry.objects.exists()


def test_reverse_before_payout_cancels_the_commission(brand, actor, shop, partner):
    conversion = sale(brand, shop, partner, actor=actor)
    reversed_ = conversion_reverse(actor=actor, conversion=conversion, reason="refund")
    assert (reversed_.status, reversed_.status_reason) == ("reversed", "refund")
    assert reversed_.reversed_at is not None
    entry = LedgerEntry.objects.get(kind=EntryKind.REVERSAL)
    assert (entry.amount, entry.reason_code, entry.conversion_id) == (
        Decimal("-10.00"),
        "refund",
        conversion.pk,
    )
    row = balance_of(partner)
    assert row["balance"] == Decimal("0.00")
    assert (row["unpaid_commissions"], row["unpaid_reversals"]) == (
        Decimal("10.00"),
        Decimal("10.00"),
    )
    event = AuditEvent.objects.get(action="conversion.reverse")
    assert event.changes["status"] == ["approved", "reversed"]
    assert event.changes["amount"] == [None, "-10.00"]
    assert_rollups_equal_raw(brand)
    # Nothing to pay: the commission and its reversal net to zero.
    batch = payouts_generate(actor=actor)
    assert list(batch) == []
    assert batch.skipped[0]["reason"] == "not_positive"


def test_reverse_is_idempotent_with_its_reason_and_refuses_another(brand, actor, shop, partner):
    conversion = sale(brand, shop, partner, actor=actor)
    conversion_reverse(actor=actor, conversion=conversion, reason="chargeback")
    conversion_reverse(actor=actor, conversion=conversion, reason="chargeback")
    assert LedgerEntry.objects.filter(kind=EntryKind.REVERSAL).count() == 1
    with pytest.raises(ConflictError) as refused:
        conversion_reverse(actor=actor, conversion=conversion, reason="fraud")
    assert refused.value.code == "already_reversed"
    assert AuditEvent.objects.filter(action="conversion.reverse").count() == 1


def test_reverse_refuses_what_was_never_approved_and_bad_reasons(brand, actor, shop, partner):
    pending = sale(brand, shop, partner, approve=False)
    with pytest.raises(InvalidTransitionError):
        conversion_reverse(actor=actor, conversion=pending, reason="refund")
    approved = sale(brand, shop, partner, actor=actor)
    for reason, note in (("refunded", ""), ("", ""), ("other", ""), ("other", "  "), (None, "")):
        with pytest.raises(ValidationError):
            conversion_reverse(actor=actor, conversion=approved, reason=reason, note=note)
    with pytest.raises(ValidationError):
        conversion_reverse(actor=actor, conversion=approved, reason="refund", note="x" * 501)
    assert not LedgerEntry.objects.filter(kind=EntryKind.REVERSAL).exists()
    conversion_reverse(actor=actor, conversion=approved, reason="other", note="Order cancelled")
    assert LedgerEntry.objects.get(kind=EntryKind.REVERSAL).note == "Order cancelled"
    # a reversed conversion is neither approved nor rejected again
    with pytest.raises(InvalidTransitionError):
        conversion_reject(actor=actor, conversion=approved)


def test_a_refund_after_payout_comes_off_the_next_payout(brand, actor, shop, partner):
    """The worked example of docs/ledger.md: paid 20, one sale refunded, one new sale."""
    first, _second = (sale(brand, shop, partner, actor=actor) for _ in range(2))
    (payout,) = payouts_generate(actor=actor)
    assert payout.amount == Decimal("20.00")
    payout_mark_paid(actor=actor, payout=payout, method="wire")
    assert balance_of(partner)["balance"] == Decimal("0.00")
    assert balance_of(partner)["paid_out"] == Decimal("20.00")

    conversion_reverse(actor=actor, conversion=first, reason="refund", note="RMA-1")
    first.refresh_from_db()
    assert first.status == "reversed" and first.payout_batch_id == payout.pk
    row = balance_of(partner)
    assert row["balance"] == Decimal("-10.00")  # the partner owes it back
    assert row["unpaid_reversals"] == Decimal("10.00")
    assert_rollups_equal_raw(brand)

    # Nothing to pay while the balance is negative: no payout, the reversal carries on.
    batch = payouts_generate(actor=actor)
    assert list(batch) == [] and batch.skipped[0]["reason"] == "not_positive"
    assert batch.skipped[0]["amount"] == Decimal("-10.00")

    # Two new sales: the next payout nets them against the reversal (a line below zero).
    new = [sale(brand, shop, partner, actor=actor) for _ in range(2)]
    (second_payout,) = payouts_generate(actor=actor)
    assert second_payout.amount == Decimal("10.00")
    kinds = sorted(second_payout.entries.values_list("kind", "amount"))
    assert kinds == [
        ("commission", Decimal("10.00")),
        ("commission", Decimal("10.00")),
        ("reversal", Decimal("-10.00")),
    ]
    payout_mark_paid(actor=actor, payout=second_payout, method="wire")
    assert {c.status for c in Conversion.objects.filter(pk__in=[c.pk for c in new])} == {"paid"}
    row = balance_of(partner)
    assert row["balance"] == Decimal("0.00")
    assert row["paid_out"] == Decimal("30.00") == -entries_total(partner, kind="payout")
    assert (row["unpaid_commissions"], row["unpaid_reversals"]) == (Decimal("0"), Decimal("0"))


def test_void_releases_the_entries_and_the_next_payout_takes_them(brand, actor, shop, partner):
    sale(brand, shop, partner, actor=actor)
    (payout,) = payouts_generate(actor=actor)
    assert balance_of(partner)["in_payout"] == Decimal("10.00")
    payout_void(actor=actor, payout=payout)
    assert LedgerEntry.objects.filter(payout__isnull=True).count() == 1
    assert not Conversion.objects.filter(payout_batch=payout).exists()
    (again,) = payouts_generate(actor=actor)
    assert again.amount == Decimal("10.00")


def test_minimum_payout_leaves_small_totals_for_later(brand, actor, shop, partner):
    brand.min_payout_amount = Decimal("25.00")
    brand.save()
    sale(brand, shop, partner, actor=actor)
    sale(brand, shop, partner, actor=actor)
    batch = payouts_generate(actor=actor)
    assert list(batch) == []
    (skip,) = batch.skipped
    assert (skip["reason"], skip["amount"], skip["partner_id"]) == (
        "below_minimum",
        Decimal("20.00"),
        "abc-123",
    )
    assert "25.00" in skip["message"]
    sale(brand, shop, partner, actor=actor)
    (payout,) = payouts_generate(actor=actor)
    assert payout.amount == Decimal("30.00")


def test_rejecting_an_approved_conversion_reverses_its_commission(brand, actor, shop, partner):
    conversion = sale(brand, shop, partner, actor=actor)
    conversion_reject(actor=actor, conversion=conversion, reason="test order")
    entry = LedgerEntry.objects.get(kind=EntryKind.REVERSAL)
    assert (entry.amount, entry.reason_code, entry.note) == (
        Decimal("-10.00"),
        "rejected",
        "test order",
    )
    assert balance_of(partner)["balance"] == Decimal("0.00")


def test_adjustments_need_a_reason_and_a_non_zero_amount(brand, actor, partner, other_brand):
    entry = ledger_adjustment_create(
        actor=actor, partner=partner, currency="EUR", amount="-4.50", reason="Fee"
    )
    assert (entry.kind, entry.amount, entry.note) == ("adjustment", Decimal("-4.50"), "Fee")
    assert balance_of(partner, "EUR")["balance"] == Decimal("-4.50")
    assert AuditEvent.objects.get(action="ledger.adjust").changes["amount"] == [None, "-4.50"]
    for bad in (
        {"amount": "0"},
        {"amount": "1.005"},
        {"amount": "NaN"},
        {"amount": "1e400"},
        {"amount": "abc"},
        {"reason": ""},
        {"reason": "bad\x00"},
        {"currency": "eur"},
        {"currency": "EURO"},
    ):
        arguments = {"currency": "EUR", "amount": "1.00", "reason": "Bonus", **bad}
        with pytest.raises(ValidationError):
            ledger_adjustment_create(actor=actor, partner=partner, **arguments)
    foreign = PartnerFactory(brand=other_brand, slug="abc-123")
    with pytest.raises(NotFoundError) as refused:
        ledger_adjustment_create(
            actor=actor, partner=foreign, currency="EUR", amount="1.00", reason="x"
        )
    assert getattr(refused.value, "code", "") == "not_found"
    assert LedgerEntry.objects.count() == 1


def test_entries_never_change_through_the_model(brand, actor, shop, partner):
    sale(brand, shop, partner, actor=actor)
    entry = LedgerEntry.objects.get()
    entry.amount = Decimal("999.00")
    with pytest.raises(ImmutableEntryError):
        entry.save()
    with pytest.raises(ImmutableEntryError):
        entry.save(update_fields=["amount"])
    with pytest.raises(ImmutableEntryError):
        entry.delete()
    with pytest.raises(ImmutableEntryError):
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=Decimal("1.00"))
    with pytest.raises(ImmutableEntryError):
        LedgerEntry.objects.filter(pk=entry.pk).delete()
    assert LedgerEntry.objects.get().amount == Decimal("10.00")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_the_database_refuses_to_change_or_delete_an_entry(brand, actor, shop, partner):
    sale(brand, shop, partner, actor=actor)
    entry = LedgerEntry.objects.get()
    for statement in (
        "UPDATE conversions_ledgerentry SET amount = 999 WHERE id = %s",
        "UPDATE conversions_ledgerentry SET note = 'edited' WHERE id = %s",
        "UPDATE conversions_ledgerentry SET created_at = now() WHERE id = %s",
        "DELETE FROM conversions_ledgerentry WHERE id = %s",
    ):
        with (
            pytest.raises(IntegrityError, match="ledger entry"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [entry.pk])
    # The settlement is the one column that moves.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE conversions_ledgerentry SET payout_id = NULL WHERE id = %s", [entry.pk]
        )
    assert LedgerEntry.objects.get().amount == Decimal("10.00")


def test_the_sign_of_each_kind_is_a_database_rule(brand, partner):
    from django.utils import timezone

    for kind, amount in (
        ("commission", "-1"),
        ("reversal", "1"),
        ("payout", "1"),
        ("adjustment", "0"),
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            LedgerEntry.objects.create(
                brand=brand,
                partner=partner,
                kind=kind,
                currency="USD",
                amount=Decimal(amount),
                created_at=timezone.now(),
            )
