"""Migration conversions.0015: every conversion recorded before currencies keeps its own
amount and currency as its original, at rate 1 (docs/currencies.md)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from conversions.models import Conversion
from tests.factories import BrandFactory, OfferFactory, PartnerFactory

BEFORE = [("conversions", "0014_conversion_click_country_device")]
AFTER = [("conversions", "0015_conversion_original_amount")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_existing_conversions_are_their_own_original_at_rate_one():
    brand = BrandFactory(slug="old")
    dollars = OfferFactory(brand=brand, slug="us", currency="USD")
    euros = OfferFactory(brand=brand, slug="eu", currency="EUR")
    partner = PartnerFactory(brand=brand, slug="p")
    try:
        old = _migrate(BEFORE).get_model("conversions", "Conversion")
        for n, (offer, amount) in enumerate([(dollars, "49.90"), (euros, "12.00")]):
            old.objects.create(
                id=f"conv_old{n}",
                brand_id=brand.pk,
                offer_id=offer.pk,
                partner_id=partner.pk,
                txn_id=f"T-{n}",
                sale_amount=Decimal(amount),
                currency=offer.currency,
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
        _migrate(AFTER)
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    rows = Conversion.objects.order_by("id").values_list(
        "sale_amount", "currency", "original_amount", "original_currency", "fx_rate"
    )
    assert list(rows) == [
        (Decimal("49.90"), "USD", Decimal("49.90"), "USD", Decimal(1)),
        (Decimal("12.00"), "EUR", Decimal("12.00"), "EUR", Decimal(1)),
    ]
