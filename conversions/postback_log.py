"""The inbound postback log: every postback request, accepted or refused, with its outcome code.

The request does one ``XADD`` to the ``postback-attempts`` stream (``attempt_record``) and a
worker writes the rows in batches (``postback_attempts_process``), as the MCP tool-call log
does; without a queue Redis, or inside a transaction (tests), the row is written at once.
Recording never fails the postback: a log that cannot be written is a warning, not a 5xx the
advertiser would retry for ever.

What is kept: the brand, the offer slug as the URL gave it, time, source address, outcome
(``accepted``, ``duplicate`` or the refusal's error code), HTTP status, conversion, click and
txn ids, and the parameters — credentials (``secret``, ``sig``, ``signature``, anything named
like a token or password) replaced by ``[redacted]``, text cleaned (``core.edge_text``) and
clipped, at most ``MAX_PARAMS`` of them. A POST refused before its origin is proven is logged
with its query parameters only: its body is never read before that.

Not kept: a request naming no existing brand — it belongs to no tenant, so no one could read
it, and anyone on the internet could fill the table with them — nor one whose offer segment
cannot be a slug (``core.edge_text.is_slug``): no postback URL Trcker issued looks like that,
and such hostile paths are answered without any database work, the log's included.

Retention: ``postback_attempts_prune`` deletes attempts older than
``TRCKER_POSTBACK_LOG_DAYS``; the worker runs it about hourly (``workers.loop``). At least once:
a worker killed between its commit and its acknowledgement writes its batch again (a duplicate
line, never a lost one); request ids come from the caller's ``X-Request-ID`` and are not unique,
so they cannot deduplicate.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, QuerySet

from audit.actor import Actor
from brands.models import Brand
from conversions.models import PostbackAttempt
from core.edge_text import clean_text
from core.row_queue import RowQueue
from core.streams import Entry, Stream

logger = logging.getLogger(__name__)

POSTBACK_ATTEMPTS = Stream("postback-attempts")
REDACTED = "[redacted]"
ACCEPTED = "accepted"
DUPLICATE = "duplicate"
# Outcomes that recorded (or found) a conversion; every other outcome is a refusal's code.
COUNTED = (ACCEPTED, DUPLICATE)
REFUSED = "refused"  # the list filter's name for "any refusal"
MAX_PARAMS = 40
NAME_MAX = 64
VALUE_MAX = 256
# Names whose value is (or may be) a credential: exact, then as a part of the name.
_SECRET_NAMES = frozenset({"sig", "signature", "secret"})
_SECRET_PARTS = ("secret", "password", "passwd", "token", "api_key", "apikey", "signature")
SIGNATURE_HEADER = "header:X-Trcker-Signature"
_ROW_FIELDS = (
    "brand_id",
    "offer_slug",
    "created_at",
    "ip",
    "outcome",
    "http_status",
    "conversion_id",
    "click_id",
    "txn_id",
    "params",
    "method",
    "request_id",
)


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SECRET_NAMES or any(part in lowered for part in _SECRET_PARTS)


def safe_params(params: Mapping[str, str], *, signature_header: bool = False) -> dict[str, str]:
    """``params`` as the log may keep them: credentials redacted, names and values cleaned of
    control characters and unencodable code points and clipped, at most ``MAX_PARAMS``."""
    kept: dict[str, str] = {}
    for raw_name, raw_value in params.items():
        if len(kept) >= MAX_PARAMS:
            kept["…"] = f"{len(params) - MAX_PARAMS} more not kept"
            break
        name = clean_text(str(raw_name), max_length=NAME_MAX)
        kept[name] = (
            REDACTED if _is_secret(name) else clean_text(str(raw_value), max_length=VALUE_MAX)
        )
    if signature_header:
        kept[SIGNATURE_HEADER] = REDACTED
    return kept


@dataclass
class Attempt:
    """What the postback view learns of one request as it goes; recorded when it answers."""

    offer_slug: str
    method: str
    ip: str | None
    request_id: str
    brand_id: int | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    signature_header: bool = False
    outcome: str = ""
    conversion_id: str = ""

    def row(self, http_status: int) -> PostbackAttempt:
        assert self.brand_id is not None
        return PostbackAttempt(
            brand_id=self.brand_id,
            offer_slug=clean_text(self.offer_slug, max_length=64),
            ip=self.ip,
            outcome=clean_text(self.outcome, max_length=64),
            http_status=http_status,
            conversion_id=self.conversion_id[:32],
            click_id=clean_text(self.params.get("click_id", "").strip(), max_length=32),
            txn_id=clean_text(self.params.get("txn_id", "").strip(), max_length=128),
            params=safe_params(self.params, signature_header=self.signature_header),
            method=clean_text(self.method, max_length=8),
            request_id=clean_text(self.request_id, max_length=64),
        )


_QUEUE = RowQueue(
    POSTBACK_ATTEMPTS, PostbackAttempt, _ROW_FIELDS, times=("created_at",), label="postback-attempt"
)


def attempt_record(attempt: Attempt, *, http_status: int) -> None:
    """Log one answered postback (nothing for an unknown brand). Queued when there is a queue
    Redis and no transaction is open; otherwise written now (``core.row_queue``). Never
    raises."""
    if attempt.brand_id is None:
        return
    _QUEUE.record(attempt.row(http_status))


def postback_attempts_process(entries: list[Entry]) -> dict[str, str]:
    """The worker's handler (``core.row_queue.RowQueue.process``)."""
    return _QUEUE.process(entries)


def postback_attempts_prune(
    *, before: dt.datetime, batch_size: int = 5000, max_rows: int = 50_000
) -> int:
    """Delete attempts created before ``before``, per brand (its time index) and
    ``batch_size`` per short transaction, at most about ``max_rows`` per call so one worker
    pass stays short; the number deleted (``max_rows`` or more: call again)."""
    total = 0
    for brand_id in Brand.objects.order_by("pk").values_list("pk", flat=True):
        while total < max_rows:
            with transaction.atomic():
                ids = list(
                    PostbackAttempt.objects.filter(
                        brand_id=brand_id, created_at__lt=before
                    ).values_list("pk", flat=True)[:batch_size]
                )
                if not ids:
                    break
                PostbackAttempt.objects.filter(pk__in=ids).delete()
            total += len(ids)
    return total


# --- reads ------------------------------------------------------------------------------------


def postback_attempt_list(
    *,
    actor: Actor,
    outcome: str | None = None,
    offer_id: str | None = None,
    click_id: str | None = None,
    txn_id: str | None = None,
    since: dt.datetime | None = None,
) -> QuerySet[PostbackAttempt]:
    """The brand's attempts, newest first. ``offer_id`` is matched against the slug as the
    advertiser's URL gave it (which may name no offer: that is what one looks for here), so it
    is not looked up; rows are the actor's brand's only, so no other brand's can match.
    ``outcome`` ``refused`` means every outcome but accepted and duplicate."""
    qs = PostbackAttempt.objects.filter(brand_id=actor.brand_id)
    if outcome == REFUSED:
        qs = qs.exclude(outcome__in=COUNTED)
    elif outcome:
        qs = qs.filter(outcome=outcome)
    if offer_id:
        qs = qs.filter(offer_slug=offer_id)
    if click_id:
        qs = qs.filter(click_id=click_id)
    if txn_id:
        qs = qs.filter(txn_id=txn_id)
    if since:
        qs = qs.filter(created_at__gte=since)
    return qs.order_by("-created_at", "-pk")


@dataclass(frozen=True)
class RefusalSummary:
    latest: list[PostbackAttempt]
    reasons: list[tuple[str, int]]  # most frequent first


def refusal_summary(*, actor: Actor, since: dt.datetime, limit: int = 10) -> RefusalSummary:
    """The dashboard's panel: the latest refused attempts and the refusals by reason since
    ``since``."""
    refused = postback_attempt_list(actor=actor, outcome=REFUSED, since=since)
    reasons = (
        refused.order_by().values_list("outcome").annotate(n=Count("pk")).order_by("-n", "outcome")
    )
    return RefusalSummary(latest=list(refused[:limit]), reasons=[(code, n) for code, n in reasons])
