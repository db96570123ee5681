"""Reading the audit log. Every selector is scoped to the actor's brand.

Readers never write: they show what is there. An event the worker has not linked yet (within
about a second of its write) reads with ``seq`` null."""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction
from django.db.models import QuerySet

from audit.actor import Actor
from audit.chain import BrokenLink, verify_events
from audit.keys import known_keys
from audit.models import AuditChainHead, AuditEvent
from core.errors import NotFoundError


def audit_event_list(
    *,
    actor: Actor,
    action: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    actor_label: str | None = None,
    channel: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.filter(brand_id=actor.brand_id)
    if action:
        # "offer" matches every offer.* action; "offer.pause" matches exactly.
        qs = (
            qs.filter(action=action)
            if "." in action
            else qs.filter(action__startswith=f"{action}.")
        )
    if target_type:
        qs = qs.filter(target_type=target_type)
    if target_id:
        qs = qs.filter(target_id=target_id)
    if actor_label:
        qs = qs.filter(actor_label=actor_label)
    if channel:
        qs = qs.filter(channel=channel)
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    # Newest first by id: never null (an event not linked yet has no seq).
    return qs.order_by("-id")


def audit_event_get_for_actor(*, actor: Actor, event_id: int) -> AuditEvent:
    try:
        return AuditEvent.objects.get(brand_id=actor.brand_id, pk=event_id)
    except (AuditEvent.DoesNotExist, ValueError, TypeError):
        raise NotFoundError("audit event", event_id) from None


def audit_chain_verify(*, brand_id: int) -> BrokenLink | None:
    """Recompute one brand's chain and content hashes (an operator check); never links.

    Head, linked and unlinked events are read in one snapshot, so a write or a link that
    commits meanwhile is either wholly seen or not at all — never a false break. Called
    inside an open transaction, that transaction's snapshot is used as it is."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            # Must be the transaction's first statement. READ COMMITTED would give each query
            # below its own snapshot: a link committed between them would look like a break.
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        # SQLite: one transaction reads one snapshot (WAL) or holds writers off (rollback
        # journal) already.
        head = AuditChainHead.objects.filter(brand_id=brand_id).first()
        events = AuditEvent.objects.filter(brand_id=brand_id)
        linked = events.filter(seq__isnull=False).order_by("seq").iterator(chunk_size=2000)
        unlinked = events.filter(seq__isnull=True).order_by("id").iterator(chunk_size=2000)
        return verify_events(brand_id, linked, unlinked, head, known_keys())
