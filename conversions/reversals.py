"""Reversing a conversion: an approved or paid sale taken back (a refund, a chargeback, fraud
found later, a duplicate). ``conversion_reverse`` is the one function every path calls — the
REST/MCP operation, the admin action, refund postbacks and store integrations — so each
reversal moves the status, the rollups and the ledger the same way, in one transaction, with
one audit event, and tells the outside (status postbacks, conversion.reversed webhooks).

The commission is not edited: a negative ``reversal`` entry cancels it. If the commission was
already paid, that entry is what carries the money back: unsettled, it goes into the partner's
next payout, which nets it against new commissions (and a payout whose net would not be
positive is not generated: the balance shows negative until commissions cover it)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.actor import Actor
from audit.services import audit_record
from brands import events
from conversions.ledger import reversal_record
from conversions.ledger_models import ReversalReason
from conversions.models import Conversion, ConversionStatus
from conversions.outbox import enqueue_conversion_event
from conversions.rollups import rollup_conversions_moved
from conversions.services import _lock_conversion, brand_tz
from core.errors import ConflictError, InvalidTransitionError, ValidationError

REVERSIBLE = (ConversionStatus.APPROVED, ConversionStatus.PAID)
NOTE_MAX = 500


def _checked(reason: Any, note: Any) -> tuple[str, str]:
    if reason not in ReversalReason.values:
        raise ValidationError(
            f"reason must be one of {', '.join(ReversalReason.values)}.",
            code="invalid_reason",
            fields={"reason": [f"One of {', '.join(ReversalReason.values)}."]},
        )
    text = (note or "").strip() if isinstance(note, str) else ""
    if "\x00" in text or len(text) > NOTE_MAX:
        raise ValidationError(
            f"note is plain text of at most {NOTE_MAX} characters.",
            fields={"note": ["Invalid."]},
        )
    if reason == ReversalReason.OTHER and not text:
        raise ValidationError(
            "reason other needs a note saying why.", fields={"note": ["Required with other."]}
        )
    return str(reason), text


@transaction.atomic
def conversion_reverse(
    *, actor: Actor, conversion: Conversion, reason: str, note: str = ""
) -> Conversion:
    """approved / paid → reversed, with a reason code (``ReversalReason``) and an optional note
    (required with ``other``). Writes the negative ledger entry, moves the rollups from the old
    status to ``reversed`` and records one audit event. Reversing a reversed conversion again
    with the same reason changes nothing; another reason is refused (it was reversed once)."""
    actor.require_write()
    reason, note = _checked(reason, note)
    locked = _lock_conversion(actor, conversion)
    if locked.status == ConversionStatus.REVERSED:
        if locked.status_reason != reason:
            raise ConflictError(
                f"Conversion {locked.pk} is already reversed (reason {locked.status_reason}); "
                "nothing was changed.",
                code="already_reversed",
            )
        return locked
    if locked.status not in REVERSIBLE:
        raise InvalidTransitionError(
            f"Cannot reverse conversion {locked.pk}: it is {locked.status}. Only approved and "
            "paid conversions can be reversed; a pending one is rejected instead "
            "(reject_conversion)."
        )
    old_status, old_reason = locked.status, locked.status_reason
    locked.status = ConversionStatus.REVERSED
    locked.status_reason = reason
    locked.reversed_at = timezone.now()
    locked.save(update_fields=["status", "status_reason", "reversed_at", "updated_at"])
    entry = reversal_record(locked, actor=actor, reason=reason, note=note)
    rollup_conversions_moved(
        [locked],
        tz=brand_tz(actor),
        old=old_status,
        new=locked.status,
        old_reason=old_reason,
        new_reason=reason,
    )
    # The postback receivers already told of the conversion, and the brand's webhooks.
    enqueue_conversion_event(locked, events.CONVERSION_REVERSED)
    audit_record(
        actor=actor,
        action="conversion.reverse",
        target=locked,
        changes={
            "status": [old_status, locked.status],
            "reason": [None, reason],
            "note": [None, note or None],
            "amount": [None, entry.amount],
            "was_paid": [None, old_status == ConversionStatus.PAID],
        },
    )
    return locked
