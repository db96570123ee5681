"""Partial refunds (issue 15; docs/ledger.md, "Partial refunds"): one service for refund
postbacks, Stripe and Shopify. A revenue-share commission comes back in proportion to the sale
refunded, cumulatively rounded so the entries never drift and never exceed the commission; a
flat one (a CPA) is kept until the whole sale is refunded; the refund that reaches the whole
reverses what is left; each refund id counts once."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.models import AuditEvent
from conversions.ledger_models import ConversionRefund, EntryKind, LedgerEntry
from conversions.ledger_selectors import balances
from conversions.models import Conversion
from conversions.payouts import payout_mark_paid, payouts_generate
from conversions.refund_ledger import conversion_refund
from conversions.reversals import conversion_reverse
from conversions.services import conversion_approve, conversion_reject
from conversions.statements import payout_statement
from core.errors import ValidationError
from tests.conversions.ledger_helpers import assert_rollups_equal_raw, entries_total, sale
from tests.factories import OfferFactory

D = Decimal


@pytest.fixture
def share(brand):
    """A revenue share: 10 % of the sale."""
    return OfferFactory(brand=brand, slug="share", payout_type="percent", payout_amount=D("10"))


@pytest.fixture
def cpa(brand):
    return OfferFactory(brand=brand, slug="cpa", payout_amount=D("10.00"))


def reversals(conversion) -> list[Decimal]:
    return [
        entry.amount
        for entry in LedgerEntry.objects.filter(
            conversion=conversion, kind=EntryKind.REVERSAL
        ).order_by("created_at", "pk")
    ]


def refund(actor, conversion, refund_id, amount=None, **kwargs):
    return conversion_refund(
        actor=actor,
        conversion=conversion,
        refund_id=refund_id,
        amount=None if amount is None else D(amount),
        **kwargs,
    )


def test_a_revenue_share_comes_back_in_proportion_until_the_whole_is_refunded(
    brand, actor, share, partner
):
    conversion = sale(brand, share, partner, actor=actor, amount="100.00")
    assert conversion.payout == D("10.00") and conversion.payout_type == "percent"
    first = refund(actor, conversion, "R-1", "30.00")
    assert (first.outcome, first.reversed, first.refunded) == (
        "partially_refunded",
        D("3.00"),
        D("30.00"),
    )
    assert Conversion.objects.get(pk=conversion.pk).status == "approved"
    # The same refund again: nothing more.
    again = refund(actor, conversion, "R-1", "30.00")
    assert (again.outcome, again.duplicate) == ("already_recorded", True)
    # 63.33 refunded: the share of the whole so far is 6.33 (not 3.00 + 3.33 rounded apart).
    assert refund(actor, conversion, "R-2", "33.33").reversed == D("3.33")
    # More than is left: the rest of the sale, and the rest of the commission.
    last = refund(actor, conversion, "R-3", "50.00")
    assert (last.outcome, last.reversed, last.refunded) == ("reversed", D("3.67"), D("100.00"))
    conversion.refresh_from_db()
    assert (conversion.status, conversion.status_reason) == ("reversed", "refund")
    assert reversals(conversion) == [D("-3.00"), D("-3.33"), D("-3.67")]
    assert entries_total(partner) == D("0.00")
    assert [r.amount for r in ConversionRefund.objects.order_by("created_at")] == [
        D("30.00"),
        D("33.33"),
        D("36.67"),
    ]
    # Each partial refund is audited once, the last one as the reversal.
    assert AuditEvent.objects.filter(action="conversion.refund").count() == 2
    assert AuditEvent.objects.filter(action="conversion.reverse").count() == 1
    assert refund(actor, conversion, "R-4", "1.00").outcome == "already_reversed"
    assert_rollups_equal_raw(brand)


def test_a_flat_commission_is_kept_until_the_whole_sale_is_refunded(brand, actor, cpa, partner):
    conversion = sale(brand, cpa, partner, actor=actor, amount="100.00")
    assert conversion.payout_type == "flat"
    result = refund(actor, conversion, "R-1", "99.99")
    assert (result.outcome, result.reversed) == ("partially_refunded", D("0.00"))
    assert reversals(conversion) == []
    assert refund(actor, conversion, "R-2", "0.01").outcome == "reversed"
    assert reversals(conversion) == [D("-10.00")]


def test_tiny_shares_never_drift_a_cent(brand, actor, share, partner):
    """A commission of 0.10 refunded in three thirds: each share rounds to 0.03, the total to
    0.10, never 0.09 or 0.11."""
    conversion = sale(brand, share, partner, actor=actor, amount="1.00")
    for index, amount in enumerate(("0.33", "0.33")):
        refund(actor, conversion, f"T-{index}", amount)
    assert reversals(conversion) == [D("-0.03"), D("-0.04")]  # 0.033 → 0.03, 0.066 → 0.07
    refund(actor, conversion, "T-2", "0.34")
    assert sum(reversals(conversion)) == D("-0.10")


def test_a_partial_refund_after_payout_comes_off_the_next_payout(brand, actor, share, partner):
    one = sale(brand, share, partner, actor=actor, amount="200.00")  # 20.00
    [first] = payouts_generate(actor=actor)
    payout_mark_paid(actor=actor, payout=first, method="wire")
    refund(actor, one, "R-1", "50.00")  # a quarter: 5.00 back
    assert Conversion.objects.get(pk=one.pk).status == "paid"
    row = {r["currency"]: r for r in balances(brand_id=brand.pk, partner_id=partner.pk)}["USD"]
    assert (row["balance"], row["unpaid_reversals"], row["paid_out"]) == (
        D("-5.00"),
        D("5.00"),
        D("20.00"),
    )
    sale(brand, share, partner, actor=actor, amount="100.00")  # 10.00
    [second] = payouts_generate(actor=actor)
    assert second.amount == D("5.00")
    statement = payout_statement(actor=actor, payout_id=second.pk)
    assert statement.entries_total == second.amount
    assert "reversal" in statement.content and "refund R-1" in statement.content


def test_a_pending_sale_keeps_its_partial_refunds_for_its_approval(brand, actor, share, partner):
    conversion = sale(brand, share, partner, approve=False, amount="100.00")
    result = refund(actor, conversion, "R-1", "40.00")
    assert (result.outcome, result.conversion.status) == ("partially_refunded", "pending")
    assert not LedgerEntry.objects.exists()
    conversion_approve(actor=actor, conversion=conversion)
    assert entries_total(partner) == D("6.00")  # 10.00 − 40 % of it
    assert reversals(conversion) == [D("-4.00")]
    event = AuditEvent.objects.get(action="conversion.approve")
    assert event.changes["commission_refunded"] == [None, "4.00"]


def test_partial_refunds_that_reach_a_pending_sale_reject_it(brand, actor, share, partner):
    conversion = sale(brand, share, partner, approve=False, amount="100.00")
    refund(actor, conversion, "R-1", "60.00")
    result = refund(actor, conversion, "R-2", "40.00")
    assert (result.outcome, result.conversion.status) == ("rejected", "rejected")
    assert not LedgerEntry.objects.exists()


def test_reverse_or_reject_after_partial_refunds_takes_what_is_left(brand, actor, share, partner):
    one = sale(brand, share, partner, actor=actor, amount="100.00")
    two = sale(brand, share, partner, actor=actor, amount="100.00")
    refund(actor, one, "R-1", "25.00")
    refund(actor, two, "R-2", "25.00")
    conversion_reverse(actor=actor, conversion=one, reason="fraud")
    conversion_reject(actor=actor, conversion=two, reason="duplicate order")
    assert reversals(one) == reversals(two) == [D("-2.50"), D("-7.50")]
    assert entries_total(partner) == D("0.00")


def test_refunds_are_in_the_currency_the_sale_was_reported_in(brand, actor, share, partner):
    conversion = sale(brand, share, partner, actor=actor, amount="100.00")
    with pytest.raises(ValidationError) as raised:
        refund(actor, conversion, "R-1", "10.00", currency="EUR")
    assert raised.value.code == "refund_currency_mismatch"
    assert refund(actor, conversion, "R-1", "10.00", currency="usd").reversed == D("1.00")


def test_a_cumulative_total_counts_each_refund_once_in_any_order(brand, actor, share, partner):
    """Stripe's amount_refunded: events repeated or out of order never count twice."""
    conversion = sale(brand, share, partner, actor=actor, amount="100.00")
    assert refund(actor, conversion, "ch:30", "30.00", cumulative=True).reversed == D("3.00")
    assert refund(actor, conversion, "ch:50", "50.00", cumulative=True).reversed == D("2.00")
    late = refund(actor, conversion, "ch:40", "40.00", cumulative=True)
    assert (late.outcome, late.reversed) == ("already_recorded", D("0.00"))
    assert refund(actor, conversion, "ch:100", "100.00", cumulative=True).outcome == "reversed"
    assert sum(reversals(conversion)) == D("-10.00")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_refunds_never_take_back_more_than_the_commission(brand, actor, share, partner):
    """Eight deliveries of one refund and five different fifths at once, on two connections
    each: the refund counts once, the fifths add up to the whole, and the reversals to exactly
    minus the commission."""
    conversion = sale(brand, share, partner, actor=actor, amount="100.00")
    calls = [("SAME", "10.00")] * 8 + [(f"FIFTH-{i}", "20.00") for i in range(5)]
    start, errors = threading.Barrier(len(calls)), []

    def run(refund_id, amount):
        try:
            start.wait(10)
            refund(actor, conversion, refund_id, amount)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=call) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert ConversionRefund.objects.filter(refund_id="SAME").count() == 1
    assert sum(ConversionRefund.objects.values_list("amount", flat=True)) == D("100.00")
    assert sum(reversals(conversion)) == D("-10.00")
    assert Conversion.objects.get(pk=conversion.pk).status == "reversed"


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    sale_cents=st.integers(min_value=1, max_value=10**8),
    percent=st.integers(min_value=1, max_value=100),
    parts=st.lists(st.integers(min_value=1, max_value=10**8), min_size=1, max_size=6),
)
def test_any_sequence_of_partial_refunds_keeps_the_ledger_exact(
    brand, actor, partner, sale_cents, percent, parts
):
    """Whatever the amounts: the reversals sum to the commission × the share refunded so far,
    rounded half-up, never more than the commission; the whole refunded is reversed."""
    offer = OfferFactory(brand=brand, payout_type="percent", payout_amount=D(percent))
    amount = D(sale_cents) / 100
    conversion = sale(brand, offer, partner, actor=actor, amount=str(amount))
    commission = conversion.payout
    refunded = D("0.00")
    for index, part in enumerate(parts):
        result = refund(actor, conversion, f"P-{index}", str(D(part) / 100))
        refunded = min(refunded + D(part) / 100, amount)
        taken = -sum(reversals(conversion), D("0.00"))
        assert result.refunded == refunded
        assert 0 <= taken <= commission
        if refunded < amount:
            expected = (commission * refunded / amount).quantize(
                D("0.01"), rounding="ROUND_HALF_UP"
            )
            assert taken == expected, (index, refunded, taken, expected)
            assert result.conversion.status == "approved"
        else:
            assert taken == commission
            assert result.conversion.status == "reversed"
            break


@pytest.mark.postgres
def test_the_database_refuses_to_change_or_delete_a_refund(brand, actor, share, partner):
    from django.db import IntegrityError, transaction

    conversion = sale(brand, share, partner, actor=actor, amount="100.00")
    refund(actor, conversion, "R-1", "30.00")
    row = ConversionRefund.objects.get()
    for statement in (
        "UPDATE conversions_conversionrefund SET amount = 1 WHERE id = %s",
        "DELETE FROM conversions_conversionrefund WHERE id = %s",
    ):
        with (
            pytest.raises(IntegrityError, match="written once"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [row.pk])
    assert ConversionRefund.objects.get().amount == D("30.00")
