"""Reading the audit log. Every selector is scoped to the actor's brand."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from audit.actor import Actor
from audit.chain import BrokenLink, verify_events
from audit.models import AuditChainHead, AuditEvent
from audit.services import audit_chain_link
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
    # Link what has committed so far, so a reader sees its own writes chained.
    audit_chain_link(actor.brand_id)
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
    # Newest first by id: never null (a row committed after the link above has no seq yet).
    return qs.order_by("-id")


def audit_event_get_for_actor(*, actor: Actor, event_id: int) -> AuditEvent:
    audit_chain_link(actor.brand_id)
    try:
        return AuditEvent.objects.get(brand_id=actor.brand_id, pk=event_id)
    except (AuditEvent.DoesNotExist, ValueError, TypeError):
        raise NotFoundError("audit event", event_id) from None


def audit_chain_verify(*, brand_id: int) -> BrokenLink | None:
    """Link what is pending, then recompute one brand's chain (an operator check)."""
    audit_chain_link(brand_id)
    head = AuditChainHead.objects.filter(brand_id=brand_id).first()
    events = AuditEvent.objects.filter(brand_id=brand_id).order_by("seq").iterator(chunk_size=2000)
    return verify_events(brand_id, events, head.seq if head else None)
