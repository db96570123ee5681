"""Migration 0016 writes the ledger from the money already recorded: a commission entry per
approved or paid conversion and a payout entry per paid payout, so every partner's totals per
currency are what they were (migrate to before, seed, migrate forward, compare)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Sum

from conversions.ledger_models import LedgerEntry
from conversions.ledger_selectors import balances
from conversions.models import Conversion, Payout
from tests.factories import BrandFactory, OfferFactory, PartnerFactory

BEFORE = [("conversions", "0016_click_rollup_pair_level")]
AFTER = [("conversions", "0018_ledger_backfill")]
START = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _seed(apps, brand, offer, partners):
    """Old-shape rows: conversions of every status, payouts paid, pending and void."""
    conversion_model = apps.get_model("conversions", "Conversion")
    payout_model = apps.get_model("conversions", "Payout")
    n = 0

    def conversion(partner, status, payout, currency="USD", batch=None, is_test=False):
        nonlocal n
        n += 1
        return conversion_model.objects.create(
            id=f"conv_m{n}",
            brand_id=brand.pk,
            offer_id=offer.pk,
            partner_id=partner.pk,
            txn_id=f"M-{n}",
            currency=currency,
            payout=Decimal(payout),
            revenue=Decimal("1.00"),
            sale_amount=Decimal("50.00"),
            status=status,
            payout_batch=batch,
            is_test=is_test,
            created_at=START + dt.timedelta(hours=n),
            approved_at=START + dt.timedelta(days=1, hours=n)
            if status in ("approved", "paid")
            else None,
        )

    ann, bob = partners
    paid = payout_model.objects.create(
        id="pay_paid",
        brand_id=brand.pk,
        partner_id=ann.pk,
        currency="USD",
        amount=Decimal("30.50"),
        period_end=dt.date(2026, 3, 5),
        status="paid",
        method="wire",
        paid_at=START + dt.timedelta(days=6),
    )
    pending = payout_model.objects.create(
        id="pay_pend",
        brand_id=brand.pk,
        partner_id=ann.pk,
        currency="USD",
        amount=Decimal("7.25"),
        period_end=dt.date(2026, 3, 9),
    )
    payout_model.objects.create(
        id="pay_void",
        brand_id=brand.pk,
        partner_id=bob.pk,
        currency="EUR",
        amount=Decimal("3.00"),
        period_end=dt.date(2026, 3, 9),
        status="void",
    )
    conversion(ann, "paid", "10.25", batch=paid)
    conversion(ann, "paid", "20.25", batch=paid)
    conversion(ann, "approved", "7.25", batch=pending)
    conversion(ann, "approved", "4.10")
    conversion(ann, "pending", "99.00")
    conversion(ann, "rejected", "55.00")
    conversion(ann, "approved", "12.00", currency="EUR")
    conversion(bob, "approved", "3.00", currency="EUR")  # released from the void payout
    conversion(bob, "pending_review", "8.00", currency="EUR")
    conversion(bob, "approved", "500.00", is_test=True)  # never counted


@pytest.mark.django_db(transaction=True)
def test_existing_money_migrates_into_entries_with_totals_unchanged():
    brand = BrandFactory(slug="acme")
    offer = OfferFactory(brand=brand, slug="shop")
    ann, bob = PartnerFactory(brand=brand, slug="ann"), PartnerFactory(brand=brand, slug="bob")
    try:
        old_apps = _migrate(BEFORE)
        _seed(old_apps, brand, offer, (ann, bob))
        _migrate(AFTER)
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    # One commission per approved or paid real conversion, at its payout, settled by its payout.
    earned = Conversion.objects.filter(status__in=["approved", "paid"], is_test=False)
    commissions = LedgerEntry.objects.filter(kind="commission")
    assert sorted(commissions.values_list("conversion_id", "amount", "payout_id")) == sorted(
        earned.values_list("pk", "payout", "payout_batch_id")
    )
    # One payout entry per paid payout, minus its amount.
    assert list(LedgerEntry.objects.filter(kind="payout").values_list("payout_id", "amount")) == [
        ("pay_paid", Decimal("-30.50"))
    ]
    # Totals per partner and currency: commissions = approved + paid conversions; paid out =
    # paid payouts; balance = approved conversions not yet paid.
    for partner in (ann, bob):
        for row in balances(brand_id=brand.pk, partner_id=partner.pk):
            mine = Conversion.objects.filter(
                partner=partner, currency=row["currency"], is_test=False
            )
            approved = mine.filter(status="approved").aggregate(t=Sum("payout"))["t"] or 0
            paid_conversions = mine.filter(status="paid").aggregate(t=Sum("payout"))["t"] or 0
            paid_payouts = (
                Payout.objects.filter(
                    partner=partner, currency=row["currency"], status="paid"
                ).aggregate(t=Sum("amount"))["t"]
                or 0
            )
            assert row["balance"] == approved, (partner.slug, row)
            assert row["paid_out"] == paid_payouts == paid_conversions, (partner.slug, row)
    ann_usd = {row["currency"]: row for row in balances(brand_id=brand.pk, partner_id=ann.pk)}
    assert ann_usd["USD"]["balance"] == Decimal("11.35")
    assert ann_usd["USD"]["in_payout"] == Decimal("7.25")
    assert ann_usd["USD"]["unsettled"] == Decimal("4.10")
    assert ann_usd["USD"]["pending"] == Decimal("99.00")
    assert ann_usd["EUR"]["balance"] == Decimal("12.00")
