"""Writing the audit log. Called by every write service, inside that service's transaction,
so the audit row commits or rolls back with the write it describes.

Rows are written unlinked and chained afterwards by ``audit_chain_link`` (the postback
worker's loop, and every reader of the log before it reads). Linking at write time would
hold the brand's chain head locked from the audit INSERT through the write's COMMIT, fsync
included, so every write of a brand — every conversion — would wait for the previous one
to reach the disk. Linked later, the order of the chain is the order rows became visible
(committed), which is the order that matters to a reader."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from audit.actor import Actor
from audit.chain import GENESIS_HASH, link_hash, stored_event_payload
from audit.models import AuditChainHead, AuditEvent


def _jsonable(value: Any) -> Any:
    # Decimal → str, datetime → ISO, so stored changes hash identically after a DB round trip.
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def snapshot(instance: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    return {name: getattr(instance, name) for name in fields}


def changes_between(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for the fields whose value changed."""
    return {
        name: [before.get(name), value]
        for name, value in after.items()
        if before.get(name) != value
    }


LINK_BATCH = 1000


def _lock_head(brand_id: int) -> AuditChainHead:
    head = AuditChainHead.objects.select_for_update().filter(brand_id=brand_id).first()
    if head is not None:
        return head
    try:
        with transaction.atomic():
            AuditChainHead.objects.create(brand_id=brand_id)
    except IntegrityError:
        pass  # created concurrently by another linker of this brand
    return AuditChainHead.objects.select_for_update().get(brand_id=brand_id)


def audit_chain_link(brand_id: int) -> int:
    """Append the brand's committed, unlinked events to its chain; return how many.

    One linker per brand at a time (the head row lock); each batch is one short transaction,
    so a reader that calls this sees every event committed before the call linked."""
    linked = 0
    while True:
        if not AuditEvent.objects.filter(brand_id=brand_id, seq__isnull=True).exists():
            return linked
        with transaction.atomic():
            head = _lock_head(brand_id)
            pending = list(
                AuditEvent.objects.filter(brand_id=brand_id, seq__isnull=True).order_by("id")[
                    :LINK_BATCH
                ]
            )
            seq, prev_hash = head.seq, head.hash if head.seq else GENESIS_HASH
            for event in pending:
                seq += 1
                event.seq, event.prev_hash = seq, prev_hash
                event.hash = link_hash(prev_hash=prev_hash, payload=stored_event_payload(event))
                prev_hash = event.hash
            AuditEvent.objects.bulk_update(pending, ["seq", "prev_hash", "hash"], batch_size=500)
            AuditChainHead.objects.filter(brand_id=brand_id).update(seq=seq, hash=prev_hash)
            linked += len(pending)


def audit_chain_link_all() -> int:
    """Link every brand with pending events (the postback worker's housekeeping)."""
    brand_ids = (
        AuditEvent.objects.filter(seq__isnull=True).values_list("brand_id", flat=True).distinct()
    )
    return sum(audit_chain_link(brand_id) for brand_id in list(brand_ids))


def audit_target_id(target: models.Model) -> str:
    """The id people and APIs use for a row: its slug or code when it has one."""
    for attr in ("slug", "code"):
        value = getattr(target, attr, None)
        if value:
            return str(value)
    return str(target.pk)


def audit_record(
    *,
    actor: Actor,
    action: str,
    target: models.Model | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    changes: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Record one event for the actor's brand. Must run inside the audited write's transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record() must run inside the audited write's transaction")
    if target is not None:
        target_type = target_type or target._meta.model_name
        target_id = target_id or audit_target_id(target)
    fields = {
        "actor_kind": str(actor.kind),
        "actor_label": actor.label,
        "actor_detail": _jsonable(actor.detail),
        "action": action,
        "target_type": target_type or "",
        "target_id": str(target_id or ""),
        "changes": _jsonable(dict(changes or {})),
        "channel": str(actor.channel),
        "ip": actor.ip,
        "user_agent": (actor.user_agent or "")[:512],
        "request_id": actor.request_id or "",
    }
    # Unlinked: seq and hashes are set by audit_chain_link once this transaction commits.
    return AuditEvent.objects.create(
        brand_id=actor.brand_id, seq=None, created_at=timezone.now(), **fields
    )
