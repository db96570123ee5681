"""Maintenance of the offer secrets encrypted at rest (core.secrets_crypto)."""

from __future__ import annotations

from django.db import transaction

from core.locking import lock_in_pk_order
from offers.models import Offer

ENCRYPTED_OFFER_FIELDS = ("postback_secret", "previous_postback_secret")


def reencrypt_all() -> int:
    """Re-encrypt every stored offer secret under the current key; returns rows rewritten.
    Run after putting a new key first in TRCKER_SECRETS_KEY, before dropping the old one."""
    count = 0
    with transaction.atomic():
        for offer in lock_in_pk_order(Offer.objects.only(*ENCRYPTED_OFFER_FIELDS)):
            # Saving re-encrypts with the first key: the field decrypts on load (any key)
            # and encrypts on save (the first key).
            offer.save(update_fields=list(ENCRYPTED_OFFER_FIELDS))
            count += 1
    return count
