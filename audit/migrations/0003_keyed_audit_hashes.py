"""Keyed audit hashes: a content hash per event, keyed chain links, the key ids.

The data step moves existing rows to the keyed scheme with the key configured when it runs
(set TRCKER_AUDIT_KEY before migrating in production). It must not launder tampering done
before it ran: each linked row is first checked against the old plain SHA-256 chain, and a
row that fails keeps a blank content hash, so ``verify_audit`` still reports it afterwards.
Seq numbers are kept as they are (a gap stays a gap); links are recomputed in seq order.
"""

import hashlib
import json

from django.db import migrations, models

from audit.chain import GENESIS_HASH, content_hash, link_hash, stored_content_payload
from audit.keys import current_key

BATCH = 2000


def _legacy_link_hash(prev_hash, event):
    # The scheme before this migration, frozen here: sha256(prev_hash "\n" canonical JSON).
    payload = {
        "brand": event.brand_id,
        "seq": event.seq,
        "created_at": event.created_at.isoformat(timespec="microseconds"),
        "actor_kind": event.actor_kind,
        "actor_label": event.actor_label,
        "actor_detail": event.actor_detail,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "changes": event.changes,
        "channel": event.channel,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def _pages(rows, field):
    # Keyset pages read before they are written, so no cursor stays open over rows being
    # updated (SQLite gives no isolation between a connection's own queries).
    last = None
    while True:
        page = rows.order_by(field)
        if last is not None:
            page = page.filter(**{f"{field}__gt": last})
        page = list(page[:BATCH])
        if not page:
            return
        yield page
        last = getattr(page[-1], field)


def rekey(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    AuditChainHead = apps.get_model("audit", "AuditChainHead")
    key = current_key()
    brand_ids = AuditEvent.objects.values_list("brand_id", flat=True).distinct().order_by()
    for brand_id in sorted(set(brand_ids)):
        rows = AuditEvent.objects.filter(brand_id=brand_id)
        # Linked rows, in their existing seq order.
        old_prev, new_prev = GENESIS_HASH, GENESIS_HASH
        for page in _pages(rows.filter(seq__isnull=False), "seq"):
            for event in page:
                old_ok = (
                    event.prev_hash == old_prev
                    and _legacy_link_hash(old_prev, event) == event.hash
                )
                old_prev = event.hash
                event.content_hash = (
                    content_hash(key=key, payload=stored_content_payload(event)) if old_ok else ""
                )
                event.content_key_id = key.key_id
                event.prev_hash, event.link_key_id = new_prev, key.key_id
                event.hash = link_hash(
                    key=key, prev_hash=new_prev, seq=event.seq, content_hash=event.content_hash
                )
                new_prev = event.hash
            _save(AuditEvent, page)
        head = AuditChainHead.objects.filter(brand_id=brand_id).first()
        if head is not None and head.seq and new_prev != GENESIS_HASH:
            # Only the hash moves; a head ahead of the last row (a removed tail) stays ahead.
            AuditChainHead.objects.filter(brand_id=brand_id).update(hash=new_prev)
        # Unlinked rows: content hashes only; the linker chains them with the new scheme.
        for page in _pages(rows.filter(seq__isnull=True), "id"):
            for event in page:
                event.content_hash = content_hash(key=key, payload=stored_content_payload(event))
                event.content_key_id = key.key_id
            _save(AuditEvent, page)


def _save(AuditEvent, page):
    fields = ["content_hash", "content_key_id", "prev_hash", "hash", "link_key_id"]
    AuditEvent.objects.bulk_update(page, fields, batch_size=500)


def unkey(apps, schema_editor):
    # Back to the plain chain, so the previous code's verify_audit reads the rows it expects.
    AuditEvent = apps.get_model("audit", "AuditEvent")
    AuditChainHead = apps.get_model("audit", "AuditChainHead")
    brand_ids = AuditEvent.objects.values_list("brand_id", flat=True).distinct().order_by()
    for brand_id in sorted(set(brand_ids)):
        prev = GENESIS_HASH
        rows = AuditEvent.objects.filter(brand_id=brand_id, seq__isnull=False)
        for page in _pages(rows, "seq"):
            for event in page:
                event.prev_hash, event.hash = prev, _legacy_link_hash(prev, event)
                prev = event.hash
            AuditEvent.objects.bulk_update(page, ["prev_hash", "hash"], batch_size=500)
        if prev != GENESIS_HASH:
            AuditChainHead.objects.filter(brand_id=brand_id).update(hash=prev)


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0002_deferred_chain_links"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="content_hash",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="content_key_id",
            field=models.CharField(blank=True, max_length=16),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="link_key_id",
            field=models.CharField(blank=True, max_length=16),
        ),
        migrations.RunPython(rekey, unkey),
    ]
