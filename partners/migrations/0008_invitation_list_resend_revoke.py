"""Invitations get a stable public id (inv_…), a resend count and a revocation time."""

from django.db import migrations, models

import core.ids


def fill_ids(apps, schema_editor):
    invitation = apps.get_model("partners", "PartnerInvitation")
    for row in invitation.objects.filter(invitation_id__isnull=True).only("pk"):
        row.invitation_id = core.ids.new_invitation_id()
        row.save(update_fields=["invitation_id"])


class Migration(migrations.Migration):
    dependencies = [
        ("partners", "0007_partner_sign_in_provider"),
    ]

    operations = [
        migrations.AddField(
            model_name="partnerinvitation",
            name="invitation_id",
            field=models.CharField(max_length=32, null=True),
        ),
        migrations.RunPython(fill_ids, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="partnerinvitation",
            name="invitation_id",
            field=models.CharField(max_length=32, unique=True),
        ),
        migrations.AddField(
            model_name="partnerinvitation",
            name="sent_count",
            field=models.PositiveSmallIntegerField(db_default=1, default=1),
        ),
        migrations.AddField(
            model_name="partnerinvitation",
            name="last_sent_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="partnerinvitation",
            name="revoked_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
