from __future__ import annotations

import pytest
from django.test import Client

from integrations.models import Provider
from integrations.services import connection_set_secret
from tests.conftest import make_actor
from tests.conversions.helpers import click, click_id_from
from tests.factories import OfferFactory, PartnerFactory
from tests.integrations.payloads import SHOPIFY_SECRET, STRIPE_SECRET


@pytest.fixture
def shop(brand):
    """acme with a USD offer, a partner, and Stripe and Shopify connected."""
    offer = OfferFactory(brand=brand, slug="pro-plan", currency="USD")
    partner = PartnerFactory(brand=brand, slug="ada")
    actor = make_actor(brand)
    connection_set_secret(actor=actor, provider=Provider.STRIPE, signing_secret=STRIPE_SECRET)
    connection_set_secret(actor=actor, provider=Provider.SHOPIFY, signing_secret=SHOPIFY_SECRET)
    return {"brand": brand, "offer": offer, "partner": partner, "actor": actor}


@pytest.fixture
def new_click(shop):
    def make() -> str:
        response = click(Client(), "acme", "pro-plan", "ada")
        assert response.status_code == 302
        return click_id_from(response)

    return make
