"""Reading the audit log. Every selector is scoped to the actor's brand."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from audit.actor import Actor
from audit.chain import BrokenLink, verify_events
from audit.models import AuditChainHead, AuditEvent
from trcker_site.errors import NotFoundError


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
    return qs.order_by("-seq")


def audit_event_get_for_actor(*, actor: Actor, event_id: int) -> AuditEvent:
    try:
        return AuditEvent.objects.get(brand_id=actor.brand_id, pk=event_id)
    except (AuditEvent.DoesNotExist, ValueError, TypeError):
        raise NotFoundError("audit event", event_id) from None


def audit_chain_verify(*, brand_id: int) -> BrokenLink | None:
    """Recompute one brand's chain (an operator check, not tenant-facing)."""
    head = AuditChainHead.objects.filter(brand_id=brand_id).first()
    events = AuditEvent.objects.filter(brand_id=brand_id).order_by("seq").iterator(chunk_size=2000)
    return verify_events(brand_id, events, head.seq if head else None)
