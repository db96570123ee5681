"""Approve or reject many conversions in one call, by ids or by filter.

Each row goes through the single-conversion service (``conversion_approve`` /
``conversion_reject``): the same checks, one audit event and rollup move per conversion, the
outbound postback written to the outbox in the same transaction (the worker sends it after
commit). A row that cannot move (paid, in a payout, already decided the other way) is reported
in its own result, not as the call's failure.

``dry_run`` runs exactly that code inside a transaction that is then rolled back, so what it
answers cannot drift from what a real call would do, and nothing is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet

from audit.actor import Actor
from conversions.models import Conversion, ConversionStatus
from conversions.selectors import conversion_list
from conversions.services import REVIEWABLE, conversion_approve, conversion_reject
from core.errors import DomainError, NotFoundError, ValidationError
from core.locking import lock_in_pk_order

BULK_LIMIT = 500
ACTIONS = ("approve", "reject")


def _movable(action: str) -> Q:
    # Filter mode selects only rows the action can move, so repeating the call works through
    # the rest: moved rows stop matching, and rows that can never move do not block the way.
    if action == "approve":
        return Q(status__in=REVIEWABLE)
    return Q(
        status__in=[*REVIEWABLE, ConversionStatus.APPROVED],
        payout_batch__isnull=True,
    )


def _by_filter(
    actor: Actor,
    action: str,
    *,
    status: str | None,
    offer_id: str | None,
    partner_id: str | None,
    min_fraud_score: int | None,
    max_fraud_score: int | None,
    recorded_before: dt.datetime | None,
) -> QuerySet[Conversion]:
    return (
        conversion_list(
            actor=actor,
            status=status,
            offer_id=offer_id,
            partner_id=partner_id,
            min_fraud_score=min_fraud_score,
            max_fraud_score=max_fraud_score,
            until=recorded_before,
        )
        .filter(_movable(action))
        .order_by("created_at", "pk")  # oldest first: the queue's order
    )


def _apply(actor: Actor, action: str, row: Conversion, reason: str) -> dict[str, Any]:
    before = row.status
    try:
        if action == "approve":
            after = conversion_approve(actor=actor, conversion=row).status
        else:
            after = conversion_reject(actor=actor, conversion=row, reason=reason).status
    except DomainError as refused:  # the row's own savepoint is rolled back; the rest go on
        return {
            "conversion_id": row.pk,
            "outcome": "refused",
            "previous_status": before,
            "status": before,
            "error": refused.code,
            "message": str(refused),
        }
    return {
        "conversion_id": row.pk,
        "outcome": "unchanged" if after == before else "changed",
        "previous_status": before,
        "status": after,
        "error": None,
        "message": "",
    }


def bulk_update_conversions(
    *,
    actor: Actor,
    action: str,
    conversion_ids: Sequence[str] | None = None,
    reason: str = "",
    status: str | None = None,
    offer_id: str | None = None,
    partner_id: str | None = None,
    min_fraud_score: int | None = None,
    max_fraud_score: int | None = None,
    recorded_before: dt.datetime | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Approve or reject up to ``BULK_LIMIT`` conversions: the ids given (another brand's id is
    "not found", reported per id), or the oldest ones matching the filter that the action can
    move. Answers how many matched, whether more remain, and each row's outcome."""
    actor.require_write()
    if action not in ACTIONS:
        raise ValidationError(
            "action must be approve or reject.", fields={"action": ["Unknown action."]}
        )
    if reason and action != "reject":
        raise ValidationError(
            "reason goes with reject only.", fields={"reason": ["Only for reject."]}
        )
    filters = {
        "status": status,
        "offer_id": offer_id,
        "partner_id": partner_id,
        "min_fraud_score": min_fraud_score,
        "max_fraud_score": max_fraud_score,
        "recorded_before": recorded_before,
    }
    given = [name for name, value in filters.items() if value is not None and value != ""]
    if conversion_ids is not None and given:
        raise ValidationError(
            "Give conversion_ids or filters, not both.",
            fields={name: ["Not with conversion_ids."] for name in given},
        )
    if conversion_ids is None and not given:
        # Never "every conversion of the brand" by omission.
        raise ValidationError(
            "Give conversion_ids or at least one filter (status, offer_id, partner_id, "
            "min_fraud_score, max_fraud_score, recorded_before).",
            fields={"conversion_ids": ["Required without a filter."]},
        )
    missing: list[str] = []
    if conversion_ids is not None:
        wanted = list(dict.fromkeys(conversion_ids))  # repeats count once
        if len(wanted) > BULK_LIMIT:
            raise ValidationError(
                f"At most {BULK_LIMIT} conversion_ids per call.",
                fields={"conversion_ids": ["Too many."]},
            )
        # A test conversion named by id is found, then refused per row (test_conversion).
        found = set(
            conversion_list(actor=actor, include_test=True)
            .filter(pk__in=wanted)
            .values_list("pk", flat=True)
        )
        missing = [pk for pk in wanted if pk not in found]
        chosen, matched = [pk for pk in wanted if pk in found], len(found)
    else:
        candidates = _by_filter(
            actor,
            action,
            status=status,
            offer_id=offer_id,
            partner_id=partner_id,
            min_fraud_score=min_fraud_score,
            max_fraud_score=max_fraud_score,
            recorded_before=recorded_before,
        )
        matched = candidates.count()
        chosen = list(candidates.values_list("pk", flat=True)[:BULK_LIMIT])

    def run() -> list[dict[str, Any]]:
        locked = lock_in_pk_order(
            Conversion.objects.select_related("offer", "partner").filter(
                brand_id=actor.brand_id, pk__in=chosen
            ),
            of=("self",),
        )
        return [_apply(actor, action, row, reason) for row in locked]

    with transaction.atomic():
        results = run()
        if dry_run:  # undo everything the real code wrote (rows, audit, rollups, outbox)
            transaction.set_rollback(True)
    results += [
        {
            "conversion_id": pk,
            "outcome": "not_found",
            "previous_status": None,
            "status": None,
            "error": "not_found",
            "message": str(NotFoundError("conversion", pk)),
        }
        for pk in missing
    ]
    counts = dict.fromkeys(("changed", "unchanged", "refused", "not_found"), 0)
    for result in results:
        counts[result["outcome"]] += 1
    return {
        "action": action,
        "dry_run": dry_run,
        "matched": matched,
        "processed": len(chosen),
        "more_remain": matched > len(chosen),
        **counts,
        "results": results,
    }
