"""Shared steps of the ledger tests: sales through the real ingestion, sums of entries."""

from __future__ import annotations

import itertools
import zoneinfo
from decimal import Decimal

from django.db.models import Sum

from conversions.ledger_models import LedgerEntry
from conversions.rollups import CLICK_COLUMNS
from conversions.services import conversion_approve
from tests.conversions.factories_flow import accepted_click, record
from tests.conversions.test_rollups import raw_table, rollup_table

TXN = itertools.count(1)


def sale(brand, offer, partner, *, approve=True, actor=None, amount="100.00"):
    """One sale recorded through the postback service, approved unless told otherwise."""
    conversion = record(
        brand,
        offer,
        click=accepted_click(brand, offer, partner),
        txn_id=f"L-{next(TXN)}",
        amount=amount,
    )
    if approve:
        conversion = conversion_approve(actor=actor, conversion=conversion)
    return conversion


def entries_total(partner, currency="USD", **filters) -> Decimal:
    total = LedgerEntry.objects.filter(partner=partner, currency=currency, **filters).aggregate(
        total=Sum("amount")
    )["total"]
    return total if total is not None else Decimal("0")


def _conversion_columns(table):
    # The tests' clicks are inserted directly (no click rollup): compare the conversion columns.
    kept = {
        key: {column: value for column, value in row.items() if column not in CLICK_COLUMNS}
        for key, row in table.items()
    }
    return {key: row for key, row in kept.items() if row}


def assert_rollups_equal_raw(brand) -> None:
    tz = zoneinfo.ZoneInfo(brand.timezone)
    incremental = _conversion_columns(rollup_table(brand, tz))
    raw = _conversion_columns(raw_table(brand, tz))
    assert incremental == raw, (incremental, raw)
