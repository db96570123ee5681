"""Step 2 of rotating ``TRCKER_SECRETS_KEY`` (docs/security.md, "Secrets at rest"): every
value encrypted at rest, in every app, rewritten under the first key, so the old key can go.

Found, not listed: every ``EncryptedSecretField`` of every installed model, and the columns a
model names in ``SEALED_COLUMNS`` (text that holds a token of ``secrets_crypto.encrypt``, such
as an outbound email's sealed body). A new secret column is covered the day it is added; a
list kept by hand here missed the Stripe, Shopify, webhook, payout-details and OpenID
secrets once, and dropping the old key would have made them unreadable."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import models, transaction

from core.secrets_crypto import EncryptedSecretField, reencrypt

BATCH = 500


def encrypted_columns(model: type[models.Model]) -> tuple[list[str], list[str]]:
    """(the model's EncryptedSecretField names, its sealed token columns)."""
    fields = [
        field.name
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedSecretField)
    ]
    return fields, list(getattr(model, "SEALED_COLUMNS", ()))


def _rewrite_batch(
    model: type[models.Model], fields: list[str], sealed: list[str], after: Any
) -> tuple[Any, int]:
    """Lock the batch of rows after primary key ``after`` (None: from the start) and rewrite
    them; (the last primary key seen, rows in the batch)."""
    queryset = (
        model._default_manager.all()
        if after is None
        else model._default_manager.filter(pk__gt=after)
    )
    with transaction.atomic():
        # Locked, so a secret changed meanwhile is not overwritten with the value read here.
        rows = list(
            queryset.select_for_update().order_by("pk").values_list("pk", *fields, *sealed)[:BATCH]
        )
        for pk, *values in rows:
            changes: dict[str, Any] = {}
            for name, value in zip(fields, values[: len(fields)], strict=True):
                if value:
                    changes[name] = value  # the field encrypts it again with the first key
            for name, token in zip(sealed, values[len(fields) :], strict=True):
                if token:
                    changes[name] = reencrypt(token)
            if changes:
                model._default_manager.filter(pk=pk).update(**changes)
    return (rows[-1][0] if rows else None), len(rows)


def reencrypt_stored() -> dict[str, int]:
    """Rows read and rewritten under the first key, per model label (``app.Model``), for
    every model with an encrypted column."""
    counts: dict[str, int] = {}
    for model in apps.get_models():
        fields, sealed = encrypted_columns(model)
        if not fields and not sealed:
            continue
        counts[model._meta.label] = 0
        after, size = _rewrite_batch(model, fields, sealed, None)
        while size:
            counts[model._meta.label] += size
            after, size = _rewrite_batch(model, fields, sealed, after)
    return counts
