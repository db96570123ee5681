"""Migration 0003 moves existing chains to the keyed scheme without laundering old tampering."""

import importlib
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from audit.services import audit_chain_link
from tests.factories import BrandFactory

BEFORE = [("audit", "0002_deferred_chain_links")]
AFTER = [("audit", "0003_keyed_audit_hashes")]
legacy_link_hash = importlib.import_module(
    "audit.migrations.0003_keyed_audit_hashes"
)._legacy_link_hash


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _old_chain(apps, brand, n, *, unlinked=0):
    """Rows as the pre-0003 code wrote and linked them (plain SHA-256 chain)."""
    event_model = apps.get_model("audit", "AuditEvent")
    head_model = apps.get_model("audit", "AuditChainHead")
    start = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    prev = "0" * 64
    for i in range(n + unlinked):
        linked = i < n
        event = event_model.objects.create(
            brand_id=brand.pk,
            seq=i + 1 if linked else None,
            created_at=start + timedelta(seconds=i),
            actor_kind="api_key",
            actor_label="api_key:old",
            actor_detail={"prefix": "trk_old"},
            action="offer.update",
            target_type="offer",
            target_id="spring-sale",
            changes={"name": [f"v{i}", f"v{i + 1}"], "payout": ["1.50", "2.00"]},
            channel="rest",
            ip="2001:db8::1",
            user_agent="old client",
            request_id=f"req-{i}",
        )
        if linked:
            event = event_model.objects.get(pk=event.pk)  # hashed as stored, like the old linker
            event.prev_hash, event.hash = prev, legacy_link_hash(prev, event)
            prev = event.hash
            event.save()
    head_model.objects.create(brand_id=brand.pk, seq=n, hash=prev)


@pytest.mark.django_db(transaction=True)
def test_existing_chains_verify_after_the_migration_and_old_tampering_stays_visible():
    honest, tampered = BrandFactory(slug="honest"), BrandFactory(slug="tampered")
    try:
        old_apps = _migrate(BEFORE)
        # given an honest old chain with a pending row, and one edited before the migration
        _old_chain(old_apps, honest, 4, unlinked=1)
        _old_chain(old_apps, tampered, 4)
        old_apps.get_model("audit", "AuditEvent").objects.filter(
            brand_id=tampered.pk, seq=3
        ).update(user_agent="edited before the migration")
        # when migrated
        _migrate(AFTER)
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    # then the honest chain verifies under the keyed scheme, in its old order…
    rows = AuditEvent.objects.filter(brand=honest)
    assert list(rows.filter(seq__isnull=False).order_by("seq").values_list("request_id")) == [
        ("req-0",),
        ("req-1",),
        ("req-2",),
        ("req-3",),
    ]
    assert audit_chain_verify(brand_id=honest.pk) is None
    # …and its pending row is linked onto it by the new linker
    assert audit_chain_link(honest.pk) == 1
    assert audit_chain_verify(brand_id=honest.pk) is None
    # while the edit made before the migration is still reported where it was made
    broken = audit_chain_verify(brand_id=tampered.pk)
    assert (broken.seq, broken.reason) == (3, "content does not match its hash")


@pytest.mark.django_db(transaction=True)
def test_the_migration_reverses_to_a_plain_chain_the_old_code_verifies():
    brand = BrandFactory(slug="acme")
    try:
        _old_chain(_migrate(BEFORE), brand, 3)
        _migrate(AFTER)
        old_apps = _migrate(BEFORE)
        event_model = old_apps.get_model("audit", "AuditEvent")
        prev = "0" * 64
        for event in event_model.objects.filter(brand_id=brand.pk).order_by("seq"):
            assert event.prev_hash == prev
            assert event.hash == legacy_link_hash(prev, event)
            prev = event.hash
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
