"""Rotating TRCKER_SECRETS_KEY covers every value encrypted at rest, in every app
(core.secret_rotation, ``manage.py reencrypt_secrets``): after step 2 the old key can go and
every secret still reads. The test fails when a model gains an encrypted column this test
seeds no row for, so the list below cannot fall behind the models."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from brands.webhooks import signing_secret_rotate, webhook_create
from core import secrets_crypto
from core.secret_rotation import encrypted_columns
from integrations.services import connection_set_secret
from mailer.models import OutboundEmail
from mailer.services import unseal
from offers.models import Offer
from partners.invitations import partner_invite
from partners.models import Partner, PartnerSignInProvider
from tests.factories import OfferFactory, PartnerFactory

pytestmark = pytest.mark.django_db

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def _models_with_secrets() -> list[type]:
    return [model for model in apps.get_models() if any(encrypted_columns(model))]


def _read_everything() -> list[object]:
    """Every encrypted value, decrypted: loading a row decrypts its fields; a sealed column
    holds a token, unsealed here."""
    values: list[object] = []
    for model in _models_with_secrets():
        fields, sealed = encrypted_columns(model)
        for row in model._default_manager.order_by("pk").values_list(*fields, *sealed):
            values.extend(row[: len(fields)])
            values.extend(secrets_crypto.decrypt(token) for token in row[len(fields) :])
    return values


def test_every_encrypted_value_moves_to_the_new_key(brand, actor, settings):
    settings.TRCKER_SECRETS_KEY = OLD
    OfferFactory(brand=brand, postback_secret="whsec_offer")
    PartnerFactory(brand=brand, payout_details="IBAN DE00 1234")
    connection_set_secret(actor=actor, provider="stripe", signing_secret="whsec_" + "s" * 32)
    webhook_create(actor=actor, url="https://erp.example/hooks", events=["payout.paid"])
    signing_secret_rotate(actor=actor)  # the brand's whsec_ secret and, kept, the one before
    PartnerSignInProvider.objects.create(
        brand=brand,
        display_name="SSO",
        issuer="https://idp.example",
        client_id="c",
        client_secret="client-secret-0123456789",
    )
    partner_invite(actor=actor, email="new@partner.example", name="New")
    for model in _models_with_secrets():
        assert model._default_manager.exists(), f"seed a {model._meta.label} row here"
    before = _read_everything()

    settings.TRCKER_SECRETS_KEY = f"{NEW},{OLD}"
    out = io.StringIO()
    call_command("reencrypt_secrets", stdout=out)
    printed = dict(line.split("\t") for line in out.getvalue().splitlines())
    assert int(printed["total"]) >= len(_models_with_secrets())
    assert printed["offers.Offer"] == "1" and printed["mailer.OutboundEmail"] == "1"

    settings.TRCKER_SECRETS_KEY = NEW  # the old key is gone: everything still reads
    assert _read_everything() == before
    assert Offer.objects.get().postback_secret == "whsec_offer"
    assert Partner.objects.get().payout_details == "IBAN DE00 1234"
    text, _html = unseal(OutboundEmail.objects.get().sealed_body)
    assert "/p/" in text  # the invitation's link, still readable

    settings.TRCKER_SECRETS_KEY = OLD  # and nothing is readable with the old key alone
    with pytest.raises(ImproperlyConfigured):
        Partner.objects.get()
