"""``ClickRollup`` gains ``refused_clicks`` and a fourth level, ``PAIR`` (3): offer and partner
with the outcome left out, refusals counted in ``refused_clicks``. Both are derived here from
the rows already there: ``refused_clicks`` is ``clicks`` on every row whose outcome is not
``accepted``, and a ``PAIR`` row is the sum of the ``SOURCE`` (2) rows of its day, offer,
partner and stripe. Plain SQL that SQLite and PostgreSQL both run, one statement each.

Clicks written by workers still on the previous release while this runs get no ``PAIR``
increment: run ``manage.py rebuild_rollups`` once every worker runs this release, and it adds
what is missing (docs/reporting.md)."""

from django.db import migrations, models

REFUSED = """
UPDATE conversions_clickrollup SET refused_clicks = clicks
WHERE outcome <> 'accepted' AND level <> 3
"""

PAIRS = """
INSERT INTO conversions_clickrollup (
    brand_id, level, day, offer_id, partner_id, country, device, outcome, stripe, clicks,
    billable_clicks, refused_clicks)
SELECT brand_id, 3, day, offer_id, partner_id, '', '', '', stripe, SUM(clicks),
       SUM(billable_clicks), SUM(refused_clicks)
FROM conversions_clickrollup
WHERE level = 2
GROUP BY brand_id, day, offer_id, partner_id, stripe
"""


class Migration(migrations.Migration):
    dependencies = [
        ("conversions", "0015_conversion_original_amount"),
    ]

    operations = [
        migrations.AddField(
            model_name="clickrollup",
            name="refused_clicks",
            field=models.BigIntegerField(db_default=0),
        ),
        migrations.RunSQL(REFUSED, reverse_sql=migrations.RunSQL.noop),
        migrations.RunSQL(PAIRS, reverse_sql="DELETE FROM conversions_clickrollup WHERE level = 3"),
    ]
