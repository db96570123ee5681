"""Postback secrets at rest (issue 12): ciphertext in the row, key rotation, and migrations
0003 (existing open offers keep accepting unsigned postbacks) and 0004 (encrypt existing)."""

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from conversions import tracking_config
from conversions.models import Conversion
from core import secrets_crypto
from core.secret_rotation import reencrypt_stored
from offers.models import Offer
from offers.services import offer_create, offer_rotate_postback_secret
from tests.conversions.helpers import click, click_id_from
from tests.factories import OfferFactory, PartnerFactory

KEY_A, KEY_B = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def raw_secrets(offer) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT postback_secret, previous_postback_secret FROM offers_offer WHERE id = %s",
            [offer.pk],
        )
        return cursor.fetchone()


def test_the_row_holds_ciphertext_and_the_model_the_secret(actor, brand, settings):
    settings.TRCKER_SECRETS_KEY = KEY_A
    offer = offer_create(
        actor=actor, name="Enc", destination_url="https://s.example/", payout_amount=1
    )
    offer, second = offer_rotate_postback_secret(actor=actor, offer=offer, grace_seconds=600)
    stored, previous = raw_secrets(offer)
    assert second not in stored and "whsec_" not in stored + previous
    assert Fernet(KEY_A.encode()).decrypt(stored.encode()).decode() == second
    fresh = Offer.objects.get(pk=offer.pk)
    assert fresh.postback_secret == second
    assert fresh.previous_postback_secret.startswith("whsec_")
    # The postback path's config holds the plaintext, decrypted once at load.
    tracking_config.clear()
    config = tracking_config.offer_config(tracking_config.brand_config(brand.slug), "enc")
    assert (config.postback_secret, config.previous_postback_secret) == (
        second,
        fresh.previous_postback_secret,
    )


def test_a_second_key_rotates_in_and_the_old_one_out(actor, brand, settings):
    settings.TRCKER_SECRETS_KEY = KEY_A
    offer = OfferFactory(brand=brand, postback_secret="whsec_rotate-me")
    # step 1: the new key first, the old one still listed: old rows still read
    settings.TRCKER_SECRETS_KEY = f"{KEY_B},{KEY_A}"
    assert Offer.objects.get(pk=offer.pk).postback_secret == "whsec_rotate-me"
    # step 2: re-encrypt under the new key
    assert reencrypt_stored()["offers.Offer"] == 1
    stored, _ = raw_secrets(offer)
    assert Fernet(KEY_B.encode()).decrypt(stored.encode()) == b"whsec_rotate-me"
    # step 3: the old key can go
    settings.TRCKER_SECRETS_KEY = KEY_B
    assert Offer.objects.get(pk=offer.pk).postback_secret == "whsec_rotate-me"
    # …and without the right key nothing is guessed: the load fails loudly.
    settings.TRCKER_SECRETS_KEY = KEY_A
    with pytest.raises(ImproperlyConfigured):
        Offer.objects.get(pk=offer.pk)


def test_a_malformed_key_is_a_configuration_error_that_does_not_echo_it(settings):
    settings.TRCKER_SECRETS_KEY = "not-a-fernet-key-at-all"
    with pytest.raises(ImproperlyConfigured) as error:
        secrets_crypto.encrypt("x")
    assert "not-a-fernet-key" not in str(error.value)
    assert secrets_crypto.secrets_key_configured(None)[0].id == "secrets.E001"


def test_the_deploy_check_warns_when_the_key_is_derived(settings):
    settings.TRCKER_SECRETS_KEY = ""
    assert [m.id for m in secrets_crypto.secrets_key_configured(None)] == ["secrets.W001"]
    settings.TRCKER_SECRETS_KEY = KEY_A
    assert secrets_crypto.secrets_key_configured(None) == []


# --- migrations 0003 and 0004 ---------------------------------------------------------------

BEFORE = [("offers", "0002_initial")]
AFTER = [("offers", "0004_encrypt_postback_secrets")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_existing_offers_keep_working_and_their_secrets_are_encrypted(client, brand):
    try:
        old_apps = _migrate(BEFORE)
        old_offer = old_apps.get_model("offers", "Offer")
        common = {
            "brand_id": brand.pk,
            "destination_url": "https://s.example/?c={CLICK_ID}",
            "currency": "USD",
            "payout_amount": 1,
            "min_conversion_seconds": 0,
        }
        old_offer.objects.create(slug="open", name="Open", **common)
        old_offer.objects.create(slug="signed", name="S", postback_secret="whsec_old", **common)
        old_offer.objects.create(
            slug="by-ip", name="I", postback_allowed_ips=["10.0.0.1"], **common
        )
        _migrate(AFTER)
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    flags = dict(Offer.objects.values_list("slug", "allow_unsigned_postbacks"))
    assert flags == {"open": True, "signed": False, "by-ip": False}
    signed = Offer.objects.get(slug="signed")
    assert signed.postback_secret == "whsec_old"
    assert "whsec_old" not in raw_secrets(signed)[0]
    # the open offer still accepts an unsigned postback, as it did before the migration
    PartnerFactory(brand=brand, slug="p")
    clicked = click_id_from(click(client, brand.slug, "open", "p"))
    tracking_config.clear()
    response = client.get(
        f"/api/postback/{brand.slug}/open", {"click_id": clicked, "txn_id": "M-1", "amount": "1"}
    )
    assert response.status_code == 200, response.content
    assert Conversion.objects.count() == 1
    tracking_config.clear()
    refused = client.get(
        f"/api/postback/{brand.slug}/signed", {"click_id": clicked, "txn_id": "M-2"}
    )
    assert refused.json()["error"]["code"] == "signature_required"
