"""The per-brand keyed hash chain: one function per hash, for writing and verifying alike.

Two keyed hashes per event (HMAC-SHA256, key from audit.keys, hex digests):

    content_hash = HMAC(K, "trcker.audit.content.v1\\n" ‖ canonical_json(content))
    hash = HMAC(K, "trcker.audit.link.v1\\n" ‖ prev_hash ‖ "\\n" ‖ seq ‖ "\\n" ‖ content_hash)

The content hash is made by ``audit_record`` in the write's own transaction, so an event is
protected from its first moment, linked or not; the link is made later by the linker, which
therefore never reads or rewrites content. The prefixes keep the two kinds apart: a content
hash can never be passed off as a link. ``prev_hash`` of seq 1 is ``GENESIS_HASH``.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256
from typing import Any

from audit.keys import AuditKey

GENESIS_HASH = "0" * 64
CONTENT_PREFIX = b"trcker.audit.content.v1\n"
LINK_PREFIX = b"trcker.audit.link.v1\n"


def canonical_json(payload: dict[str, Any]) -> bytes:
    # Sorted keys, no whitespace, UTF-8: PostgreSQL's jsonb key reordering and SQLite's text
    # JSON give the same bytes.
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_hash(*, key: AuditKey, payload: dict[str, Any]) -> str:
    return hmac.new(key.secret, CONTENT_PREFIX + canonical_json(payload), sha256).hexdigest()


def link_hash(*, key: AuditKey, prev_hash: str, seq: int, content_hash: str) -> str:
    message = LINK_PREFIX + f"{prev_hash}\n{seq}\n{content_hash}".encode()
    return hmac.new(key.secret, message, sha256).hexdigest()


def content_payload(
    *,
    brand_id: int,
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
    """Everything an event says. Not the row id (unknown before the INSERT) nor the link
    columns (set later by the linker, which binds seq and order)."""
    return {
        "brand": brand_id,
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


def stored_content_payload(event: Any) -> dict[str, Any]:
    """The content payload of a stored AuditEvent row."""
    return content_payload(
        brand_id=event.brand_id,
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
    # None when the broken event is not linked yet (its content hash does not match).
    seq: int | None
    event_id: int | None
    reason: str


def _content_problem(event: Any, keys: dict[str, AuditKey]) -> str | None:
    key = keys.get(event.content_key_id)
    if key is None:
        return f"unknown key id {event.content_key_id!r}"
    expected = content_hash(key=key, payload=stored_content_payload(event))
    if not hmac.compare_digest(expected, event.content_hash):
        return "content does not match its hash"
    return None


def verify_events(
    brand_id: int,
    linked: Iterable[Any],
    unlinked: Iterable[Any],
    head: Any | None,
    keys: dict[str, AuditKey],
) -> BrokenLink | None:
    """Check one brand's events as read in one snapshot; return the first problem, or None.

    ``linked``: the events with a seq, in seq order; ``unlinked``: those without (written,
    not chained yet: only their content is checked, their absence from the chain is not a
    fault); ``head``: the brand's AuditChainHead or None; ``keys``: key id → key.
    """
    prev_hash = GENESIS_HASH
    expected_seq = 1
    for event in linked:
        if event.seq != expected_seq:
            return BrokenLink(brand_id, expected_seq, event.id, "missing or reordered event")
        if event.prev_hash != prev_hash:
            return BrokenLink(brand_id, event.seq, event.id, "prev_hash does not match")
        problem = _content_problem(event, keys)
        if problem:
            return BrokenLink(brand_id, event.seq, event.id, problem)
        key = keys.get(event.link_key_id)
        if key is None:
            return BrokenLink(
                brand_id, event.seq, event.id, f"unknown key id {event.link_key_id!r}"
            )
        expected = link_hash(
            key=key, prev_hash=prev_hash, seq=event.seq, content_hash=event.content_hash
        )
        if not hmac.compare_digest(expected, event.hash):
            return BrokenLink(brand_id, event.seq, event.id, "link does not match its hash")
        prev_hash = event.hash
        expected_seq += 1
    last_seq = expected_seq - 1
    if head is None:
        if last_seq:
            return BrokenLink(brand_id, last_seq, None, "chain head is missing")
    elif head.seq > last_seq:
        return BrokenLink(brand_id, expected_seq, None, "events after the last one were removed")
    elif head.seq < last_seq or (last_seq and head.hash != prev_hash):
        return BrokenLink(brand_id, head.seq, None, "chain head does not match the last event")
    for event in unlinked:
        problem = _content_problem(event, keys)
        if problem:
            return BrokenLink(brand_id, None, event.id, problem)
    return None
