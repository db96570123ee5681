"""The ledger's writes raced on real PostgreSQL connections (the review of issue 15): each test
queues two services behind a row lock the test holds, releases it, and checks the money is
counted once — one commission for two approvals, each entry in one payout for two
generations, a reversal racing the payment of its payout, an auto-approval racing a person's
rejection. After each: balance = sum of entries, every payout = its entries, rollups = raw."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Sum

from audit.models import AuditEvent
from conversions.auto_approval import conversions_auto_approve
from conversions.ledger_models import EntryKind, LedgerEntry
from conversions.ledger_selectors import balances
from conversions.models import Conversion, Payout
from conversions.payouts import payout_mark_paid, payouts_generate
from conversions.reversals import conversion_reverse
from conversions.services import conversion_approve, conversion_reject
from tests.conversions.ledger_helpers import assert_rollups_equal_raw, entries_total, sale
from tests.factories import OfferFactory
from tests.pg_locks import sessions_waiting_on_locks

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
D = Decimal


@pytest.fixture
def shop(brand):
    return OfferFactory(brand=brand, slug="shop", payout_amount=D("10.00"))


def behind_a_lock(hold: Callable[[], object], *calls: Callable[[], object]) -> list[object]:
    """Run ``calls`` at once in threads (each on its own connection) while this connection
    holds the lock ``hold`` takes; let them go once all of them wait for it. Each call's
    result or exception, in order."""
    results: list[object] = [None] * len(calls)

    def run(index: int, call: Callable[[], object]) -> None:
        try:
            results[index] = call()
        except Exception as exc:  # returned to the test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    with transaction.atomic():
        hold()
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while sessions_waiting_on_locks() < len(calls):
            assert time.monotonic() < deadline, ("never all waiting", results)
            time.sleep(0.01)
    for thread in threads:
        thread.join(20)
    return results


def lock_conversion(conversion: Conversion) -> Callable[[], object]:
    return lambda: Conversion.objects.select_for_update().get(pk=conversion.pk)


def assert_books_balance(brand, partner, currency: str = "USD") -> None:
    [row] = [r for r in balances(brand_id=brand.pk, partner_id=partner.pk) if r["currency"]]
    assert row["balance"] == entries_total(partner, currency)
    assert row["balance"] == row["unsettled"] + row["in_payout"]
    for payout in Payout.objects.filter(brand=brand).exclude(status="void"):
        settled = LedgerEntry.objects.filter(payout=payout).exclude(kind=EntryKind.PAYOUT)
        assert settled.aggregate(t=Sum("amount"))["t"] == payout.amount, payout.pk
    paid = Payout.objects.filter(brand=brand, status="paid").aggregate(t=Sum("amount"))["t"]
    assert row["paid_out"] == (paid or D("0"))
    assert_rollups_equal_raw(brand)


def test_two_approvals_at_once_write_one_commission(brand, actor, shop, partner):
    conversion = sale(brand, shop, partner, approve=False)
    results = behind_a_lock(
        lock_conversion(conversion),
        lambda: conversion_approve(actor=actor, conversion=conversion),
        lambda: conversion_approve(actor=actor, conversion=conversion),
    )
    assert [getattr(r, "status", r) for r in results] == ["approved", "approved"]
    assert LedgerEntry.objects.filter(kind=EntryKind.COMMISSION).count() == 1
    assert AuditEvent.objects.filter(action="conversion.approve").count() == 1
    assert_books_balance(brand, partner)


def test_two_payout_generations_at_once_settle_each_entry_once(brand, actor, shop, partner):
    for _ in range(3):
        sale(brand, shop, partner, actor=actor)
    first = LedgerEntry.objects.order_by("pk").first()
    results = behind_a_lock(
        lambda: LedgerEntry.objects.select_for_update().get(pk=first.pk),
        lambda: list(payouts_generate(actor=actor)),
        lambda: list(payouts_generate(actor=actor)),
    )
    made = [payout for batch in results for payout in batch]
    assert [payout.amount for payout in made] == [D("30.00")]
    assert not LedgerEntry.objects.filter(payout__isnull=True).exists()
    assert_books_balance(brand, partner)


@pytest.mark.parametrize("first", ["reverse", "mark_paid"])
def test_a_reversal_racing_the_payment_of_its_payout(brand, actor, shop, partner, first):
    """Whichever commits first, the payout pays the commission it settled, the conversion ends
    reversed, and its reversal is left for the next payout: balance −10.00, paid out 10.00."""
    conversion = sale(brand, shop, partner, actor=actor)
    [payout] = payouts_generate(actor=actor)

    def reverse():
        return conversion_reverse(actor=actor, conversion=conversion, reason="refund")

    def pay():
        return payout_mark_paid(actor=actor, payout=payout, method="wire")

    calls = (reverse, pay) if first == "reverse" else (pay, reverse)
    results = behind_a_lock(lock_conversion(conversion), *calls)
    assert not [r for r in results if isinstance(r, Exception)], results
    conversion.refresh_from_db()
    payout.refresh_from_db()
    assert (conversion.status, payout.status) == ("reversed", "paid")
    [row] = balances(brand_id=brand.pk, partner_id=partner.pk)
    assert (row["balance"], row["paid_out"], row["unsettled"]) == (
        D("-10.00"),
        D("10.00"),
        D("-10.00"),
    )
    assert_books_balance(brand, partner)


def test_auto_approval_racing_a_rejection_leaves_nothing_owed(brand, actor, partner):
    """The worker takes the conversion first (it skips rows a person holds), the person's
    rejection waits for it and rejects an approved conversion: its commission is reversed."""
    offer = OfferFactory(brand=brand, slug="held", hold_days=0, min_conversion_seconds=0)
    conversion = sale(brand, offer, partner, approve=False)
    started, release = threading.Event(), threading.Event()
    original = conversion_approve

    def approve_then_wait(**kwargs):
        result = original(**kwargs)
        started.set()
        release.wait(10)
        return result

    results: list[object] = []

    def worker():
        import conversions.auto_approval as auto

        auto.conversion_approve = approve_then_wait
        try:
            results.append(conversions_auto_approve())
        finally:
            auto.conversion_approve = original
            connection.close()

    def person():
        try:
            results.append(conversion_reject(actor=actor, conversion=conversion).status)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker), threading.Thread(target=person)]
    threads[0].start()
    assert started.wait(10)
    threads[1].start()
    deadline = time.monotonic() + 10
    while sessions_waiting_on_locks() < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for thread in threads:
        thread.join(20)
    assert sorted(map(str, results)) == ["1", "rejected"]
    conversion.refresh_from_db()
    assert conversion.status == "rejected"
    kinds = sorted(LedgerEntry.objects.values_list("kind", "amount"))
    assert kinds == [("commission", D("10.00")), ("reversal", D("-10.00"))]
    assert entries_total(partner) == 0
    assert_rollups_equal_raw(brand)


def test_a_reversal_racing_a_payout_generation(brand, actor, shop, partner):
    """The generation settles the commission (it locked the entries first) and the reversal
    carries into the next payout, or the reversal commits first and, if the generation took
    it, nets it: either way every payout is its entries and the balance is zero owed."""
    conversion = sale(brand, shop, partner, actor=actor)
    sale(brand, shop, partner, actor=actor)
    results = behind_a_lock(
        lock_conversion(conversion),
        lambda: list(payouts_generate(actor=actor)),
        lambda: conversion_reverse(actor=actor, conversion=conversion, reason="refund"),
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert Conversion.objects.get(pk=conversion.pk).status == "reversed"
    assert entries_total(partner) == D("10.00")
    assert_books_balance(brand, partner)
