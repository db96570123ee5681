"""Fill ``ClickRollup`` from the raw clicks already stored, so ``get_report`` keeps answering
click metrics by country, device and outcome after the upgrade. Days whose raw clicks were
pruned before this ran have no click rollup rows (their ``DailyRollup`` counts stay).

Clicks written by workers still on the previous release while this runs get no click rollup
increment: run ``manage.py rebuild_rollups`` once every worker runs this release, and it adds
what is missing (docs/reporting.md)."""

import zoneinfo
from collections import defaultdict

from django.db import migrations
from django.db.models import Count, DateField, Q
from django.db.models.functions import TruncDate


def _levels(offer, partner, country, device, outcome):
    # The three grains of conversions.click_rollups, written out here so this migration keeps
    # meaning what it meant when the code moves on: every dimension; without the partner;
    # without country and device.
    yield 0, offer, partner, country, device, outcome
    yield 1, offer, 0, country, device, outcome
    yield 2, offer, partner, "", "", outcome


def backfill(apps, schema_editor):
    Brand = apps.get_model("brands", "Brand")
    Click = apps.get_model("conversions", "Click")
    ClickRollup = apps.get_model("conversions", "ClickRollup")
    for brand_id, timezone in Brand.objects.values_list("pk", "timezone"):
        tz = zoneinfo.ZoneInfo(timezone)
        cells = (
            Click.objects.filter(brand_id=brand_id, is_test=False)
            .annotate(day=TruncDate("created_at", output_field=DateField(), tzinfo=tz))
            .values("day", "offer_id", "partner_id", "country", "device_class", "outcome")
            .annotate(
                n=Count("pk"),
                billable=Count("pk", filter=Q(outcome="accepted", is_billable=True)),
            )
            .order_by()
        )
        rows = defaultdict(lambda: [0, 0])
        for cell in cells.iterator(chunk_size=10_000):
            dimensions = (
                cell["offer_id"] or 0,
                cell["partner_id"] or 0,
                cell["country"],
                cell["device_class"],
                cell["outcome"],
            )
            for key in _levels(*dimensions):
                counts = rows[(cell["day"], *key)]
                counts[0] += cell["n"]
                counts[1] += cell["billable"]
        ClickRollup.objects.bulk_create(
            (
                ClickRollup(
                    brand_id=brand_id,
                    day=day,
                    level=level,
                    offer_id=offer,
                    partner_id=partner,
                    country=country,
                    device=device,
                    outcome=outcome,
                    stripe=0,
                    clicks=n,
                    billable_clicks=billable,
                )
                for (day, level, offer, partner, country, device, outcome), (
                    n,
                    billable,
                ) in rows.items()
            ),
            batch_size=5_000,
        )


class Migration(migrations.Migration):
    dependencies = [("conversions", "0012_test_marker_click_rollup")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True)]
