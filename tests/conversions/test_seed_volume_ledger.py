"""The demo's bulk volume (``demo.traffic.seed_volume``, benchmarks and ``seed_demo``) writes
its approved and paid conversions with their ledger entries, in bulk: every balance is then
what approving and paying them through the services would leave."""

from __future__ import annotations

from decimal import Decimal

from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from conversions.ledger_models import EntryKind, LedgerEntry
from conversions.ledger_selectors import balances
from conversions.models import Conversion, Payout
from conversions.statements import payout_statement
from demo.traffic import seed_volume
from tests.factories import OfferFactory, PartnerFactory

ZERO = Decimal("0")


def _sum(queryset, field="payout") -> Decimal:
    return queryset.aggregate(total=Sum(field))["total"] or ZERO


def test_seeded_volume_balances_agree_with_its_conversions(brand, actor):
    OfferFactory(brand=brand, currency="USD")
    OfferFactory(brand=brand, currency="EUR")
    partners = [PartnerFactory(brand=brand) for _ in range(3)]
    with CaptureQueriesContext(connection) as queries:
        _, converted = seed_volume(brand=brand, clicks=4000, conversion_rate=0.25)
    assert converted > 800
    # Bulk: a query per batch and a few per partner and currency, never one per conversion
    # (the rollup rebuild after it is per day).
    ledger = [
        q["sql"]
        for q in queries.captured_queries
        if "conversions_ledgerentry" in q["sql"] or "conversions_payout" in q["sql"]
    ]
    assert len(ledger) < 40, len(ledger)
    earned = Conversion.objects.filter(brand=brand, status__in=["approved", "paid"])
    assert earned.filter(status="paid").exists() and earned.filter(status="approved").exists()
    commissions = LedgerEntry.objects.filter(brand=brand, kind=EntryKind.COMMISSION)
    assert sorted(commissions.values_list("conversion_id", flat=True)) == sorted(
        earned.values_list("pk", flat=True)
    )
    for partner in partners:
        for row in balances(brand_id=brand.pk, partner_id=partner.pk):
            mine = earned.filter(partner=partner, currency=row["currency"])
            assert row["balance"] == _sum(mine.filter(status="approved")), row
            assert row["paid_out"] == _sum(mine.filter(status="paid")), row
            assert row["balance"] == row["unsettled"], row
    for payout in Payout.objects.filter(brand=brand):
        assert payout.status == "paid"
        covered = Conversion.objects.filter(payout_batch=payout)
        assert set(covered.values_list("status", flat=True)) == {"paid"}
        assert payout.amount == _sum(covered)
        assert payout_statement(actor=actor, payout_id=payout.pk).entries_total == payout.amount
    assert not Conversion.objects.filter(status="paid", payout_batch__isnull=True).exists()
