"""Hold period and auto-approval: pending conversions approved by the worker after N days.

The hold is the offer's ``hold_days``, else its brand's ``default_hold_days``; with neither,
conversions wait for a person. A conversion is due when it is ``pending`` (not
``pending_review``: a hold for fraud, a cap or a used-up coupon waits for a person), not
``fraud_flagged`` (a monitor-mode flag keeps it pending but never lets it through
unattended), not a test, and was created at least the hold ago.

The worker (``workers.loop``) calls ``conversions_auto_approve`` about once a minute. Each
brand's due conversions — at most ``limit`` per run, oldest first — are approved in one
transaction, one audited batch:

- each through ``conversion_approve``, the very service a person's approval runs (so the
  ledger's commission entry, the rollups and the outbound status postback follow exactly as
  they do for a person), whose ``conversion.approve`` event carries the actor
  ``system:auto-approval`` on the ``worker`` channel with the batch id and hold in its
  ``actor_detail``;
- and one ``conversion.auto_approve`` event for the batch (target ``auto_approval`` /
  batch id) listing the conversions and their count.

Selected ``FOR UPDATE SKIP LOCKED``: two workers running at once take disjoint rows, and a
conversion a person is approving or rejecting at that moment is left for the next run. A
conversion already moved is left alone (its status no longer matches), so a run repeated or
resumed after a crash approves nothing twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from django.db import transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit.actor import Actor, Channel
from audit.services import audit_record
from brands.models import Brand
from conversions.models import Conversion, ConversionStatus
from conversions.services import conversion_approve
from core.errors import DomainError
from core.ids import random_base62

logger = logging.getLogger(__name__)

# Most conversions one run approves (over every brand); the worker runs again at once while a
# run was full, so a backlog drains in bounded transactions.
AUTO_APPROVE_BATCH = 200
ACTOR_NAME = "auto-approval"
BATCH_ACTION = "conversion.auto_approve"


def new_batch_id() -> str:
    return "aab_" + random_base62(16)


def _brands_with_a_hold() -> list[Brand]:
    return list(
        Brand.objects.filter(
            Q(default_hold_days__isnull=False) | Q(offers__hold_days__isnull=False)
        )
        .distinct()
        .order_by("pk")
    )


def due_conversions(brand: Brand, *, now: dt.datetime) -> list[Conversion]:
    """The brand's conversions whose hold has passed, oldest first (unlocked; a read for
    previews and tests — the worker's own selection locks, see ``_approve_brand``)."""
    return list(_due(brand, now=now))


def _due(brand: Brand, *, now: dt.datetime) -> QuerySet[Conversion]:
    hold = Coalesce(F("offer__hold_days"), Value(brand.default_hold_days))
    return (
        Conversion.objects.filter(
            brand_id=brand.pk,
            status=ConversionStatus.PENDING,
            fraud_flagged=False,
            is_test=False,
        )
        .annotate(hold=hold)
        .filter(
            hold__isnull=False,
            created_at__lte=ExpressionWrapper(
                Value(now) - F("hold") * Value(dt.timedelta(days=1)),
                output_field=DateTimeField(),
            ),
        )
        .order_by("created_at", "pk")
    )


def _approve_brand(brand: Brand, *, now: dt.datetime, limit: int) -> int:
    batch_id = new_batch_id()
    actor = dataclasses.replace(
        Actor.system(
            brand_id=brand.pk, brand_slug=brand.slug, name=ACTOR_NAME, channel=Channel.WORKER
        ),
        detail={"batch_id": batch_id, "rule": "hold_days"},
    )
    with transaction.atomic():
        due = list(_due(brand, now=now).select_for_update(skip_locked=True, of=("self",))[:limit])
        approved: list[str] = []
        for conversion in due:
            try:
                conversion_approve(actor=actor, conversion=conversion)
            except DomainError:
                # Moved since it was selected (it is locked, so this is not expected): left
                # for a person; the others of the batch go through.
                logger.warning("auto-approval skipped %s", conversion.pk, exc_info=True)
                continue
            approved.append(conversion.pk)
        if approved:
            audit_record(
                actor=actor,
                action=BATCH_ACTION,
                target_type="auto_approval",
                target_id=batch_id,
                changes={"approved": [None, len(approved)], "conversion_ids": [None, approved]},
            )
    return len(approved)


def conversions_auto_approve(
    *, now: dt.datetime | None = None, limit: int = AUTO_APPROVE_BATCH
) -> int:
    """Approve the conversions whose hold has passed, at most ``limit``, one audited batch
    (transaction) per brand; how many were approved."""
    now = now or timezone.now()
    total = 0
    for brand in _brands_with_a_hold():
        if total >= limit:
            break
        total += _approve_brand(brand, now=now, limit=limit - total)
    return total
