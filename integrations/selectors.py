"""Reads for integrations: each provider's state (connected, last event, failures) for the
REST/MCP status, the dashboard and diagnose_offer, and the event log. Readers never write."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from audit.actor import Actor
from integrations.models import (
    EventOutcome,
    IntegrationConnection,
    IntegrationEvent,
    Provider,
    SaleTopic,
)

STATUS_DAYS = 7


@dataclass(frozen=True)
class IntegrationStatus:
    provider: str
    connected: bool
    secret_set_at: dt.datetime | None
    previous_secret_valid_until: dt.datetime | None
    default_offer_id: str | None
    record_sales_on: str | None
    webhook_url_path: str
    last_event_at: dt.datetime | None
    last_accepted_at: dt.datetime | None
    days: int
    accepted: int
    duplicates: int
    ignored: int
    refused: int
    refused_reasons: dict[str, int] = field(default_factory=dict)
    ignored_reasons: dict[str, int] = field(default_factory=dict)


def integration_status_list(*, actor: Actor, days: int = STATUS_DAYS) -> list[IntegrationStatus]:
    """Every provider, connected or not, with its events of the last ``days`` days."""
    since = timezone.now() - dt.timedelta(days=days)
    connections = {
        connection.provider: connection
        for connection in IntegrationConnection.objects.select_related("default_offer").filter(
            brand_id=actor.brand_id
        )
    }
    # One grouped scan (the log is bounded by its retention): counts in the period, and the
    # latest time of each group over the whole log.
    counts: dict[tuple[str, str, str], int] = {}
    last: dict[str, dt.datetime] = {}
    last_accepted: dict[str, dt.datetime] = {}
    for provider, outcome, reason, n, latest in (
        IntegrationEvent.objects.filter(brand_id=actor.brand_id)
        .values_list("provider", "outcome", "reason")
        .annotate(n=Count("pk", filter=Q(received_at__gte=since)), latest=Max("received_at"))
        .values_list("provider", "outcome", "reason", "n", "latest")
    ):
        counts[(provider, outcome, reason)] = n
        last[provider] = max(last.get(provider, latest), latest)
        if outcome == EventOutcome.ACCEPTED:
            last_accepted[provider] = max(last_accepted.get(provider, latest), latest)
    statuses = []
    for provider in Provider.values:
        connection = connections.get(provider)

        def total(outcome: str, provider: str = provider) -> int:
            return sum(n for (p, o, _), n in counts.items() if p == provider and o == outcome)

        def reasons(outcome: str, provider: str = provider) -> dict[str, int]:
            found = [(r, n) for (p, o, r), n in counts.items() if p == provider and o == outcome]
            return dict(sorted(found, key=lambda item: (-item[1], item[0])))

        statuses.append(
            IntegrationStatus(
                provider=provider,
                connected=bool(connection and connection.signing_secret),
                secret_set_at=connection.secret_set_at if connection else None,
                previous_secret_valid_until=connection.previous_secret_valid_until
                if connection
                else None,
                default_offer_id=connection.default_offer.slug
                if connection and connection.default_offer
                else None,
                record_sales_on=(
                    connection.record_sales_on if connection else SaleTopic.ORDERS_CREATE.value
                )
                if provider == Provider.SHOPIFY
                else None,
                webhook_url_path=f"/api/integrations/{provider}/{actor.brand_slug}",
                last_event_at=last.get(provider),
                last_accepted_at=last_accepted.get(provider),
                days=days,
                accepted=total(EventOutcome.ACCEPTED),
                duplicates=total(EventOutcome.DUPLICATE),
                ignored=total(EventOutcome.IGNORED),
                refused=total(EventOutcome.REFUSED),
                refused_reasons=reasons(EventOutcome.REFUSED),
                ignored_reasons=reasons(EventOutcome.IGNORED),
            )
        )
    return statuses


def integration_status_get(*, actor: Actor, provider: str) -> IntegrationStatus:
    return next(s for s in integration_status_list(actor=actor) if s.provider == provider)


def integration_event_list(
    *,
    actor: Actor,
    provider: str | None = None,
    outcome: str | None = None,
    reason: str | None = None,
    since: dt.datetime | None = None,
) -> QuerySet[IntegrationEvent]:
    """The brand's webhook events, newest first."""
    qs = IntegrationEvent.objects.filter(brand_id=actor.brand_id)
    if provider:
        qs = qs.filter(provider=provider)
    if outcome:
        qs = qs.filter(outcome=outcome)
    if reason:
        qs = qs.filter(reason=reason)
    if since:
        qs = qs.filter(received_at__gte=since)
    return qs.order_by("-received_at", "-pk")


def refused_count(*, actor: Actor, since: dt.datetime) -> int:
    return IntegrationEvent.objects.filter(
        Q(outcome=EventOutcome.REFUSED), brand_id=actor.brand_id, received_at__gte=since
    ).count()
