"""A sign-in names a partner only for the partner's own address, ignoring ASCII case alone
(security review): PostgreSQL's UPPER() behind ``__iexact`` folds dotless ı to I and long ſ
to S, and Python's lower() the Kelvin sign to k, so a mailbox at a look-alike domain — one an
attacker can register and have an OpenID provider verify — must never match a partner."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from audit.actor import Actor
from core.errors import AuthenticationError
from partners.sign_in import portal_session_partner, sign_in_oidc_record, sign_in_partner_list
from tests.factories import BrandFactory, PartnerFactory
from tests.partner_portal.helpers import ask_for_link, links_in_outbox

pytestmark = pytest.mark.django_db

LOOK_ALIKES = [
    ("kate@gmail.test", "kate@gma\u0131l.test"),  # dotless i
    ("sam@shop.test", "\u017fam@shop.test"),  # long s
    ("kim@shop.test", "\u212aim@shop.test"),  # Kelvin sign
]


@pytest.fixture
def acme():
    return BrandFactory(slug="acme", name="Acme")


def _actor(brand, partner) -> Actor:
    return Actor.for_partner_session(
        brand_id=brand.pk,
        brand_slug=brand.slug,
        partner_id=partner.pk,
        email=partner.email,
        request=RequestFactory().get("/p/acme/login/oidc/callback/"),
    )


@pytest.mark.parametrize(("own", "look_alike"), LOOK_ALIKES)
def test_a_look_alike_address_names_no_partner(acme, own, look_alike):
    partner = PartnerFactory(brand=acme, email=own)

    assert sign_in_partner_list(brand=acme, email=look_alike) == []
    assert portal_session_partner(brand=acme, partner_pk=partner.pk, email=look_alike) is None
    with pytest.raises(AuthenticationError):
        sign_in_oidc_record(
            actor=_actor(acme, partner), brand=acme, partner_pk=partner.pk, email=look_alike
        )


@pytest.mark.parametrize(("own", "look_alike"), LOOK_ALIKES)
def test_the_own_address_in_any_ascii_case_still_signs_in(acme, own, look_alike):
    partner = PartnerFactory(brand=acme, email=own)

    assert sign_in_partner_list(brand=acme, email=f"  {own.upper()} ") == [partner]
    assert portal_session_partner(brand=acme, partner_pk=partner.pk, email=own.upper())
    assert (
        sign_in_oidc_record(
            actor=_actor(acme, partner), brand=acme, partner_pk=partner.pk, email=own.title()
        )
        == partner
    )


def test_no_link_is_emailed_to_a_look_alike_address(client, acme):
    PartnerFactory(brand=acme, email="kate@gmail.test")

    ask_for_link(client, "acme", "kate@gma\u0131l.test")
    assert links_in_outbox() == []
    ask_for_link(client, "acme", "Kate@Gmail.test", ip="198.51.100.8")
    assert len(links_in_outbox()) == 1
