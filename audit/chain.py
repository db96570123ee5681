"""The per-brand hash chain: one function computes a link, for writing and verifying alike."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS_HASH = "0" * 64


def link_hash(*, prev_hash: str, payload: dict[str, Any]) -> str:
    # Canonical JSON (sorted keys, no whitespace) so PostgreSQL's jsonb key reordering and
    # SQLite's text JSON hash the same.
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def event_payload(
    *,
    brand_id: int,
    seq: int,
    created_at: datetime,
    actor_kind: str,
    actor_label: str,
    actor_detail: dict[str, Any],
    action: str,
    target_type: str,
    target_id: str,
    changes: dict[str, Any],
    channel: str,
    ip: str | None,
    user_agent: str,
    request_id: str,
) -> dict[str, Any]:
    return {
        "brand": brand_id,
        "seq": seq,
        "created_at": created_at.isoformat(timespec="microseconds"),
        "actor_kind": actor_kind,
        "actor_label": actor_label,
        "actor_detail": actor_detail,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "changes": changes,
        "channel": channel,
        "ip": ip,
        "user_agent": user_agent,
        "request_id": request_id,
    }


def stored_event_payload(event: Any) -> dict[str, Any]:
    """The payload of a stored AuditEvent row (its ``seq`` already assigned)."""
    return event_payload(
        brand_id=event.brand_id,
        seq=event.seq,
        created_at=event.created_at,
        actor_kind=event.actor_kind,
        actor_label=event.actor_label,
        actor_detail=event.actor_detail,
        action=event.action,
        target_type=event.target_type,
        target_id=event.target_id,
        changes=event.changes,
        channel=event.channel,
        ip=event.ip,
        user_agent=event.user_agent,
        request_id=event.request_id,
    )


@dataclass(frozen=True)
class BrokenLink:
    brand_id: int
    seq: int
    event_id: int | None
    reason: str


def verify_events(brand_id: int, events: Iterable[Any], head_seq: int | None) -> BrokenLink | None:
    """Walk one brand's events in seq order; return the first broken link, or None."""
    prev_hash = GENESIS_HASH
    expected_seq = 1
    for event in events:
        if event.seq != expected_seq:
            return BrokenLink(brand_id, expected_seq, event.id, "missing or reordered event")
        if event.prev_hash != prev_hash:
            return BrokenLink(brand_id, event.seq, event.id, "prev_hash does not match")
        payload = stored_event_payload(event)
        if link_hash(prev_hash=prev_hash, payload=payload) != event.hash:
            return BrokenLink(brand_id, event.seq, event.id, "content does not match its hash")
        prev_hash = event.hash
        expected_seq += 1
    if head_seq is not None and head_seq != expected_seq - 1:
        return BrokenLink(brand_id, expected_seq, None, "events after the last one were removed")
    return None
