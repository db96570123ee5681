"""Retention of the integration event log: rows older than ``TRCKER_POSTBACK_LOG_DAYS`` (the
inbound postback log's setting) are deleted by the worker about hourly (``workers.loop``).
The idempotency of a Stripe event outlives its row: a replay that old fails the signature's
300-second tolerance; a Shopify event's effects are unique by order id."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from brands.models import Brand
from integrations.models import IntegrationEvent


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
