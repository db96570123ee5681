"""Postback secrets encrypted at rest (issue 12; docs/security.md, "Secrets at rest").

Widens the two secret columns for Fernet tokens and encrypts the plaintext values already
stored, with the first key of TRCKER_SECRETS_KEY (or the key derived from SECRET_KEY when it
is unset: set TRCKER_SECRETS_KEY before migrating in production). Reads and writes go through
raw SQL because the model field now decrypts on load, and these values are not yet encrypted.
Values that already decrypt are left alone, so running it twice is harmless. Reversible: the
reverse decrypts back to plaintext.
"""

from cryptography.fernet import InvalidToken
from django.db import migrations

import core.secrets_crypto

FIELDS = ("postback_secret", "previous_postback_secret")


def _is_token(value):
    try:
        core.secrets_crypto.fernet().decrypt(value.encode("ascii"))
    except (InvalidToken, UnicodeEncodeError):
        return False
    return True


def _rewrite(schema_editor, convert):
    quote = schema_editor.quote_name
    table = quote("offers_offer")
    columns = ", ".join(quote(name) for name in FIELDS)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT id, {columns} FROM {table}")  # noqa: S608 - fixed names
        rows = cursor.fetchall()
        for pk, *values in rows:
            new = [convert(value) if value else value for value in values]
            if new != values:
                assignments = ", ".join(f"{quote(name)} = %s" for name in FIELDS)
                cursor.execute(
                    f"UPDATE {table} SET {assignments} WHERE id = %s",  # noqa: S608
                    [*new, pk],
                )


def encrypt_existing(apps, schema_editor):
    crypto = core.secrets_crypto
    _rewrite(schema_editor, lambda value: value if _is_token(value) else crypto.encrypt(value))


def decrypt_existing(apps, schema_editor):
    crypto = core.secrets_crypto
    _rewrite(schema_editor, lambda value: crypto.decrypt(value) if _is_token(value) else value)


class Migration(migrations.Migration):
    dependencies = [("offers", "0003_offer_allow_unsigned_postbacks")]

    operations = [
        migrations.AlterField(
            model_name="offer",
            name="postback_secret",
            field=core.secrets_crypto.EncryptedSecretField(blank=True, max_length=512),
        ),
        migrations.AlterField(
            model_name="offer",
            name="previous_postback_secret",
            field=core.secrets_crypto.EncryptedSecretField(blank=True, max_length=512),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
    ]
