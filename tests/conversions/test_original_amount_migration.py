"""Migration conversions.0015: every conversion recorded before currencies keeps its own
amount and currency as its original, at rate 1 (docs/currencies.md)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from conversions.models import Conversion, Payout
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


@pytest.mark.django_db(transaction=True)
def test_existing_payouts_are_paid_in_their_own_currency_at_rate_one():
    """Migration conversions.0020: what a partner receives, for payouts made before it."""
    brand = BrandFactory(slug="old-payouts")
    partner = PartnerFactory(brand=brand, slug="p", payout_currency="GBP")
    try:
        old = _migrate([("conversions", "0019_outbox_kinds_and_webhooks")]).get_model(
            "conversions", "Payout"
        )
        old.objects.create(
            id="pay_old1",
            brand_id=brand.pk,
            partner_id=partner.pk,
            currency="USD",
            amount=Decimal("42.50"),
            period_end=datetime(2026, 1, 31, tzinfo=UTC).date(),
        )
        _migrate([("conversions", "0020_payout_partner_currency")])
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    assert list(
        Payout.objects.values_list(
            "currency", "amount", "partner_currency", "partner_amount", "fx_rate"
        )
    ) == [("USD", Decimal("42.50"), "USD", Decimal("42.50"), Decimal(1))]
