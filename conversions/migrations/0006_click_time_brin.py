"""BRIN on click time for PostgreSQL: clicks arrive in time order, so a block-range index is a
few pages where a B-tree over tens of millions of rows is gigabytes. Skipped elsewhere."""

from django.db import migrations


def create_brin(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS click_created_brin ON conversions_click "
            "USING brin (created_at) WITH (pages_per_range = 32)"
        )


def drop_brin(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS click_created_brin")


class Migration(migrations.Migration):
    dependencies = [("conversions", "0005_keep_click_id_after_prune")]
    operations = [migrations.RunPython(create_brin, drop_brin)]
