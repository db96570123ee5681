"""The integration event log's deferred rows, and its retention.

A refused delivery (bad signature, malformed body, …) and a duplicate one change nothing, so
their rows are queued by the request on the ``integration-events`` stream and written by the
worker (``core.row_queue``, the mechanism of the inbound postback log), keeping the public
endpoint's refusals cheap. Accepted and ignored events are not: their row is the idempotency
key and commits with the conversion (``integrations.intake.event_handle``).

Retention: rows older than ``TRCKER_POSTBACK_LOG_DAYS`` (the
inbound postback log's setting) are deleted by the worker about hourly (``workers.loop``).
The idempotency of a Stripe event outlives its row: a replay that old fails the signature's
300-second tolerance; a Shopify event's effects are unique by order id."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from brands.models import Brand
from core.row_queue import RowQueue
from core.streams import Entry, Stream
from integrations.models import IntegrationEvent

INTEGRATION_EVENTS = Stream("integration-events")
_ROW_FIELDS = (
    "brand_id",
    "provider",
    "received_at",
    "event_id",
    "event_type",
    "outcome",
    "reason",
    "detail",
    "object_id",
    "conversion_id",
    "ip",
    "http_status",
)
_QUEUE = RowQueue(
    INTEGRATION_EVENTS,
    IntegrationEvent,
    _ROW_FIELDS,
    times=("received_at",),
    label="webhook-log",
)


def event_record(row: IntegrationEvent) -> None:
    """Log a delivery that changed nothing: queued for the worker, or written now (no queue
    Redis, or inside a transaction). Never raises."""
    _QUEUE.record(row)


def integration_events_process(entries: list[Entry]) -> dict[str, str]:
    """The worker's handler (``core.row_queue.RowQueue.process``)."""
    return _QUEUE.process(entries)


def integration_events_prune(
    *, before: dt.datetime, batch_size: int = 5000, max_rows: int = 50_000
) -> int:
    """Delete events received before ``before``, per brand, ``batch_size`` per short
    transaction, about ``max_rows`` per call; the number deleted."""
    total = 0
    for brand_id in Brand.objects.order_by("pk").values_list("pk", flat=True):
        while total < max_rows:
            with transaction.atomic():
                ids = list(
                    IntegrationEvent.objects.filter(
                        brand_id=brand_id, received_at__lt=before
                    ).values_list("pk", flat=True)[:batch_size]
                )
                if not ids:
                    break
                IntegrationEvent.objects.filter(pk__in=ids).delete()
            total += len(ids)
    return total
