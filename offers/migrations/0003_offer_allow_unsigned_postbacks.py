"""Secure by default (issue 12): postbacks must be signed unless the offer says otherwise.

Adds ``Offer.allow_unsigned_postbacks`` (default False: new offers refuse unsigned postbacks
with 401 ``signature_required``). So that existing integrations keep working, every offer that
existed before this migration with neither a postback secret nor a postback IP allowlist — the
offers that accepted unsigned postbacks until now — gets ``allow_unsigned_postbacks=True``.

A brand turns it off once its advertiser signs: rotate a secret (REST ``POST
/api/v1/offers/<id>/rotate-postback-secret``, MCP ``rotate_offer_postback_secret`` or the admin
action), switch the advertiser over, then set ``allow_unsigned_postbacks`` to false (REST PATCH,
MCP ``update_offer`` or the offer's admin page) — or set ``postback_allowed_ips`` instead.
"""

from django.db import migrations, models


def keep_unsigned_offers_working(apps, schema_editor):
    Offer = apps.get_model("offers", "Offer")
    # Few rows (offers, not traffic): read them rather than rely on JSON equality lookups,
    # which differ between backends.
    open_offers = [
        pk
        for pk, allowed_ips in Offer.objects.filter(postback_secret="").values_list(
            "pk", "postback_allowed_ips"
        )
        if not allowed_ips
    ]
    Offer.objects.filter(pk__in=open_offers).update(allow_unsigned_postbacks=True)


class Migration(migrations.Migration):
    dependencies = [("offers", "0002_initial")]

    operations = [
        migrations.AddField(
            model_name="offer",
            name="allow_unsigned_postbacks",
            field=models.BooleanField(
                default=False,
                help_text="Accept postbacks with no signature from any address. Off by default: "
                "leave it off and have the advertiser sign, or set postback allowed IPs.",
            ),
        ),
        migrations.RunPython(keep_unsigned_offers_working, migrations.RunPython.noop),
    ]
