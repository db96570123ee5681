"""The ledger from the money already recorded: a commission entry for every approved or paid
conversion (settled by the payout that covers it) and a payout entry for every paid payout, so
each partner's balance per currency equals what it was (approved conversions not yet paid out),
and, on PostgreSQL, the trigger that keeps entries immutable at the database."""

from django.db import migrations

from core.ids import new_ledger_entry_id

BATCH = 2000

IMMUTABLE_SQL = [
    """
CREATE OR REPLACE FUNCTION conversions_ledgerentry_immutable() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION USING
            MESSAGE = 'ledger entry ' || OLD.id || ' is never deleted',
            ERRCODE = 'restrict_violation';
    END IF;
    -- Every column but the settlement (payout_id), including any added later.
    IF (to_jsonb(NEW) - 'payout_id') IS DISTINCT FROM (to_jsonb(OLD) - 'payout_id') THEN
        RAISE EXCEPTION USING
            MESSAGE = 'ledger entry ' || OLD.id || ' is immutable: only its payout_id may change',
            ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql
""",
    "DROP TRIGGER IF EXISTS conversions_ledgerentry_immutable ON conversions_ledgerentry",
    """
CREATE TRIGGER conversions_ledgerentry_immutable
    BEFORE UPDATE OR DELETE ON conversions_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION conversions_ledgerentry_immutable()
""",
]

DROP_SQL = [
    "DROP TRIGGER IF EXISTS conversions_ledgerentry_immutable ON conversions_ledgerentry",
    "DROP FUNCTION IF EXISTS conversions_ledgerentry_immutable()",
]


def backfill(apps, schema_editor):
    conversion_model = apps.get_model("conversions", "Conversion")
    payout_model = apps.get_model("conversions", "Payout")
    entry_model = apps.get_model("conversions", "LedgerEntry")
    batch = []
    earned = (
        conversion_model.objects.filter(status__in=["approved", "paid"], is_test=False)
        .values_list(
            "pk",
            "brand_id",
            "partner_id",
            "currency",
            "payout",
            "payout_batch_id",
            "approved_at",
            "created_at",
        )
        .order_by("pk")
    )
    for pk, brand_id, partner_id, currency, amount, batch_id, approved_at, created_at in (
        earned.iterator(chunk_size=BATCH)
    ):
        batch.append(
            entry_model(
                id=new_ledger_entry_id(),
                brand_id=brand_id,
                partner_id=partner_id,
                kind="commission",
                currency=currency,
                amount=amount,
                conversion_id=pk,
                payout_id=batch_id,
                created_by="migration",
                created_at=approved_at or created_at,
            )
        )
        if len(batch) >= BATCH:
            entry_model.objects.bulk_create(batch)
            batch = []
    paid = payout_model.objects.filter(status="paid").order_by("pk")
    for payout in paid.iterator(chunk_size=BATCH):
        batch.append(
            entry_model(
                id=new_ledger_entry_id(),
                brand_id=payout.brand_id,
                partner_id=payout.partner_id,
                kind="payout",
                currency=payout.currency,
                amount=-payout.amount,
                payout_id=payout.pk,
                created_by="migration",
                created_at=payout.paid_at or payout.updated_at,
            )
        )
        if len(batch) >= BATCH:
            entry_model.objects.bulk_create(batch)
            batch = []
    entry_model.objects.bulk_create(batch)


def immutable_on(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in IMMUTABLE_SQL:
            schema_editor.execute(statement, params=None)


def immutable_off(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP_SQL:
            schema_editor.execute(statement, params=None)


def unbackfill(apps, schema_editor):
    # Going back drops the table (0015); nothing to undo row by row.
    pass


class Migration(migrations.Migration):
    dependencies = [("conversions", "0017_ledger")]

    operations = [
        migrations.RunPython(backfill, unbackfill),
        migrations.RunPython(immutable_on, immutable_off),
    ]
