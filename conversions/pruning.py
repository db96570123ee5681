"""Raw click retention: ``clicks_prune`` deletes a brand's raw clicks past retention and records
how far it went (``ClickPruning``), so a later rollup rebuild keeps the click counts of the days
it reached instead of recomputing them from rows that are gone (``rollups.clicks_pruned``).

Conversions are never pruned (they keep their click id; the reference has no foreign-key
constraint), so their rollup columns stay rebuildable on every day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.db import transaction

from audit.actor import Actor
from audit.services import audit_record
from conversions.models import Click, ClickPruning


def _record_watermark(*, actor: Actor, before: dt.datetime) -> None:
    # Locked, then re-checked: two prunes of one brand leave the later cutoff, never an
    # earlier one (the mark only moves forward).
    mark, created = ClickPruning.objects.select_for_update().get_or_create(
        brand_id=actor.brand_id, defaults={"pruned_before": before}
    )
    old = None if created else mark.pruned_before
    if old is not None and old >= before:
        return
    if not created:
        mark.pruned_before = before
        mark.save(update_fields=["pruned_before"])
    audit_record(
        actor=actor,
        action="clicks.prune",
        target_type="brand",
        target_id=actor.brand_slug,
        changes={"pruned_before": [old, before]},
    )


def clicks_prune(
    *,
    actor: Actor,
    before: dt.datetime,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Delete the actor's brand's raw clicks created before ``before``, ``batch_size`` per
    short transaction; returns how many it deleted. Rollups, and so every report, stay.

    The first batch that deletes anything moves the brand's ``ClickPruning`` mark to
    ``before`` in its own transaction, so no snapshot sees a pruned click missing without the
    mark that says so (later batches only delete below a mark already committed). A rebuild
    reading the mark in the snapshot of its raw rows thus either sees every raw click of a
    day or knows the day was pruned. The mark is audited (``clicks.prune``) once per move."""
    actor.require_write()
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                Click.objects.filter(brand_id=actor.brand_id, created_at__lt=before).values_list(
                    "pk", flat=True
                )[:batch_size]
            )
            if not ids:
                return total
            Click.objects.filter(pk__in=ids).delete()
            if not total:
                # After the delete, so the mark's row lock is held only until this COMMIT.
                _record_watermark(actor=actor, before=before)
        total += len(ids)
        if progress:
            progress(total)
