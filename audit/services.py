"""Writing the audit log. Called by every write service, inside that service's transaction,
so the audit row commits or rolls back with the write it describes.

Each row gets its keyed content hash here, at write time, so it is protected before it is
linked. Rows are chained afterwards by ``audit_chain_link`` (the worker loop; readers never
do it). Linking at write time would hold the brand's chain head locked from the audit INSERT
through the write's COMMIT, fsync included, so every write of a brand — every conversion —
would wait for the previous one to reach the disk. Linked later, the order of the chain is
the order rows became visible (committed), which is the order that matters to a reader."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from audit.actor import Actor
from audit.chain import GENESIS_HASH, content_hash, content_payload, link_hash
from audit.keys import current_key
from audit.models import AuditChainHead, AuditEvent

_IP_FIELD = AuditEvent._meta.get_field("ip")

# The audit events recorded while an interface watches a write (``audit_watch``), so it can
# answer what the write changed — or, in a dry run, what it would have changed.
_watchers: ContextVar[tuple[list[AuditEvent], ...]] = ContextVar("audit_watchers", default=())


@contextmanager
def audit_watch() -> Iterator[list[AuditEvent]]:
    """Collect the events ``audit_record`` writes inside the block (this thread or task only)."""
    events: list[AuditEvent] = []
    token = _watchers.set((*_watchers.get(), events))
    try:
        yield events
    finally:
        _watchers.reset(token)


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
# The only AuditEvent columns the linker writes (docs/data-model.md grants UPDATE on these).
LINK_FIELDS = ["seq", "prev_hash", "hash", "link_key_id"]


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

    One linker per brand at a time (the head row lock); each batch is one short transaction.
    Reads only ids and content hashes and writes only the link columns (seq, prev_hash, hash,
    link_key_id), so the database role needs no UPDATE on what an event says."""
    linked = 0
    while True:
        if not AuditEvent.objects.filter(brand_id=brand_id, seq__isnull=True).exists():
            return linked
        key = current_key()
        with transaction.atomic():
            head = _lock_head(brand_id)
            pending = list(
                AuditEvent.objects.filter(brand_id=brand_id, seq__isnull=True)
                .order_by("id")
                .only("id", "content_hash")[:LINK_BATCH]
            )
            seq, prev_hash = head.seq, head.hash if head.seq else GENESIS_HASH
            for event in pending:
                seq += 1
                event.seq, event.prev_hash, event.link_key_id = seq, prev_hash, key.key_id
                event.hash = link_hash(
                    key=key, prev_hash=prev_hash, seq=seq, content_hash=event.content_hash
                )
                prev_hash = event.hash
            AuditEvent.objects.bulk_update(pending, LINK_FIELDS, batch_size=500)
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
        "brand_id": actor.brand_id,
        "created_at": timezone.now(),
        "actor_kind": str(actor.kind),
        "actor_label": actor.label,
        "actor_detail": _jsonable(actor.detail),
        "action": action,
        "target_type": target_type or "",
        "target_id": str(target_id or ""),
        "changes": _jsonable(dict(changes or {})),
        "channel": str(actor.channel),
        # As the database will store it (IPv6 compressed), so the hash survives the round trip.
        "ip": _IP_FIELD.get_prep_value(actor.ip) if actor.ip else None,
        "user_agent": (actor.user_agent or "")[:512],
        "request_id": actor.request_id or "",
    }
    key = current_key()
    # Hashed now, in the write's own transaction: an edit before linking is detectable too.
    # Unlinked: seq and the link columns are set by audit_chain_link once this commits.
    event = AuditEvent.objects.create(
        seq=None,
        content_hash=content_hash(key=key, payload=content_payload(**fields)),
        content_key_id=key.key_id,
        **fields,
    )
    for watcher in _watchers.get():
        watcher.append(event)
    return event
