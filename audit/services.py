"""Writing the audit log. Called by every write service, inside that service's transaction,
so the audit row commits or rolls back with the write it describes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from audit.actor import Actor
from audit.chain import GENESIS_HASH, event_payload, link_hash
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


def _lock_head(brand_id: int) -> AuditChainHead:
    head = AuditChainHead.objects.select_for_update().filter(brand_id=brand_id).first()
    if head is not None:
        return head
    try:
        with transaction.atomic():
            AuditChainHead.objects.create(brand_id=brand_id)
    except IntegrityError:
        pass  # created concurrently by another writer of this brand
    return AuditChainHead.objects.select_for_update().get(brand_id=brand_id)


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
    """Append one event to the actor's brand chain. Must run inside the caller's transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record() must run inside the audited write's transaction")
    if target is not None:
        target_type = target_type or target._meta.model_name
        target_id = target_id or audit_target_id(target)
    head = _lock_head(actor.brand_id)
    seq = head.seq + 1
    created_at = timezone.now()
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
    prev_hash = head.hash if head.seq else GENESIS_HASH
    digest = link_hash(
        prev_hash=prev_hash,
        payload=event_payload(brand_id=actor.brand_id, seq=seq, created_at=created_at, **fields),
    )
    event = AuditEvent.objects.create(
        brand_id=actor.brand_id,
        seq=seq,
        created_at=created_at,
        prev_hash=prev_hash,
        hash=digest,
        **fields,
    )
    AuditChainHead.objects.filter(brand_id=actor.brand_id).update(seq=seq, hash=digest)
    return event
