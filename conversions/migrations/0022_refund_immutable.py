"""Refunds are written once: on PostgreSQL a trigger refuses any UPDATE or DELETE of a
``ConversionRefund`` row (what a sale's refunds sum to decides what its commission loses)."""

from django.db import migrations

IMMUTABLE_SQL = [
    """
CREATE OR REPLACE FUNCTION conversions_conversionrefund_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'refund ' || OLD.id || ' is written once: never changed or deleted',
        ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql
""",
    "DROP TRIGGER IF EXISTS conversions_conversionrefund_immutable ON conversions_conversionrefund",
    """
CREATE TRIGGER conversions_conversionrefund_immutable
    BEFORE UPDATE OR DELETE ON conversions_conversionrefund
    FOR EACH ROW EXECUTE FUNCTION conversions_conversionrefund_immutable()
""",
]
DROP_SQL = [
    "DROP TRIGGER IF EXISTS conversions_conversionrefund_immutable ON conversions_conversionrefund",
    "DROP FUNCTION IF EXISTS conversions_conversionrefund_immutable()",
]


def immutable_on(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in IMMUTABLE_SQL:
            schema_editor.execute(statement, params=None)


def immutable_off(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP_SQL:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("conversions", "0021_partial_refunds")]
    operations = [migrations.RunPython(immutable_on, immutable_off)]
