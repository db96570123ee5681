"""Inbound postback input: parsing and proof of origin (signature, shared secret, IP).

Signature: ``X-Trcker-Signature: t=<unix>,v1=<hex>`` (or ``?ts=…&sig=…``), where
``hex = HMAC-SHA256(secret, f"{t}." + canonical)``; ``t`` is at most 12 digits. For GET,
``canonical`` is the query parameters other than ``sig``/``ts``/``secret``, sorted by name then
value and percent-encoded (RFC 3986 unreserved characters kept) as ``a=1&b=2``. For POST it is
the raw body, and since only the body is signed, a signed POST may carry no query parameter
but ``sig``/``ts`` and must have a non-empty body (otherwise a captured request could be
replayed with unsigned parameters added). Timestamps more than 300 s away in either direction
are refused. During a secret rotation the previous secret is accepted until its grace period
ends. Integrations that can only paste a URL may send the secret itself as ``secret=`` (kept
out of every log by ``core.log_redaction``).

Secure by default: a postback without any of these is refused (``signature_required``) unless
the offer has an IP allowlist (the address is then the proof) or ``allow_unsigned_postbacks``.
Test vectors: docs/tracking.md, "Proving origin"."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING
from urllib.parse import quote

from conversions.models import SUB_ID_MAX
from conversions.tracking_config import OfferConfig
from core.currencies import parse_currency
from core.edge_text import clean_text
from core.errors import AuthenticationError, PermissionDeniedError, ValidationError

if TYPE_CHECKING:
    from conversions.models import Conversion

SIGNATURE_TOLERANCE_SECONDS = 300
DEFAULT_EVENT = "sale"
AUTH_PARAMS = {"sig", "ts", "secret"}
# The only query parameters a signed POST may carry: everything else must be in the signed body.
SIGNED_POST_QUERY_PARAMS = {"sig", "ts"}
TIMESTAMP_PATTERN = re.compile(r"[0-9]{1,12}")
HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
# Used with fullmatch: "$" alone would also match before a trailing newline.
TXN_ID_PATTERN = re.compile(r"[\x21-\x7e]{1,128}")  # printable ASCII, no spaces
EVENT_PATTERN = re.compile(r"[a-z0-9_.-]{1,64}")
COUPON_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
CLICK_ID_PATTERN = re.compile(r"clk_[A-Za-z0-9]{10,28}")
MAX_AMOUNT = Decimal("999999999999.99")


@dataclass(frozen=True)
class PostbackInput:
    click_id: str
    txn_id: str
    amount: Decimal
    currency: str
    event_type: str
    coupon: str
    subs: tuple[str, str, str, str, str]
    # Integrations only (docs/integrations.md): a recurring payment is attributed to the
    # partner of the conversion it renews (its click may be pruned by then), and earns this
    # percent of the payout the offer's rules give it.
    renews: Conversion | None = None
    payout_percent: Decimal = Decimal(100)


def canonical_query(pairs: list[tuple[str, str]]) -> str:
    kept = sorted((name, value) for name, value in pairs if name not in AUTH_PARAMS)
    return "&".join(
        f"{quote(name, safe='-._~')}={quote(value, safe='-._~')}" for name, value in kept
    )


def sign(secret: str, timestamp: int, canonical: bytes) -> str:
    return hmac.new(
        secret.encode(), f"{timestamp}.".encode() + canonical, hashlib.sha256
    ).hexdigest()


def _active_secrets(offer: OfferConfig, now: datetime) -> list[str]:
    secrets = [offer.postback_secret]
    if (
        offer.previous_postback_secret
        and offer.previous_secret_valid_until
        and now < offer.previous_secret_valid_until
    ):
        secrets.append(offer.previous_postback_secret)
    return secrets


def _parse_signature_header(header: str) -> tuple[str, list[str]]:
    timestamp, signatures = "", []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            timestamp = value
        elif name == "v1":
            signatures.append(value.lower())
    return timestamp, signatures


def _refuse_unsigned_parts(method: str, query_pairs: list[tuple[str, str]], body: bytes) -> None:
    """A signed POST's signature covers its body only, so nothing else may carry parameters:
    a query parameter beside it would be merged in unsigned (a replayed request with
    ``&event=…`` or ``&coupon=…`` added would record a new or re-attributed conversion)."""
    if method != "POST":
        return
    extra = sorted({name for name, _ in query_pairs} - SIGNED_POST_QUERY_PARAMS)
    if extra:
        raise AuthenticationError(
            "A signed POST carries its parameters in the body only; the query string may hold "
            f"only sig and ts. Move these into the signed body: {', '.join(extra)}.",
            code="unsigned_parameters",
        )
    if not body.strip():
        raise AuthenticationError(
            "A signed POST must carry its parameters in the signed body; this body is empty.",
            code="bad_signature",
        )


def verify_origin(
    *,
    offer: OfferConfig,
    method: str,
    query_pairs: list[tuple[str, str]],
    body: bytes,
    signature_header: str,
    now: datetime,
) -> None:
    """Raise AuthenticationError unless the request proves where it comes from: a signature
    (or the secret itself) made with the offer's secret, or — when the offer has an IP
    allowlist, which ``check_source_ip`` must have enforced first — its source address. An
    offer with neither accepts unsigned postbacks only when ``allow_unsigned_postbacks``.
    Reads only the auth parameters (sig, ts, secret): nothing else before this passes."""
    params = dict(query_pairs)
    presented = bool(signature_header) or not AUTH_PARAMS.isdisjoint(params)
    if not presented or not offer.postback_secret:
        if offer.allow_unsigned_postbacks or offer.postback_allowed_networks:
            return
        if not offer.postback_secret:
            raise AuthenticationError(
                "This offer accepts only signed postbacks and has no postback secret yet: "
                "rotate one for the advertiser, or allow unsigned postbacks, or set the "
                "postback allowed IPs.",
                code="signature_required",
            )
        raise AuthenticationError(
            "This offer requires a signed postback: send X-Trcker-Signature (t=…,v1=…), "
            "ts and sig parameters, or the secret parameter.",
            code="signature_required",
        )
    secrets = _active_secrets(offer, now)
    if "secret" in params:
        # The secret itself authorises the whole request (query and body alike), as a
        # signature would: only its holder can send it. It is redacted from every log.
        presented_secret = params["secret"].encode()
        if any(hmac.compare_digest(presented_secret, secret.encode()) for secret in secrets):
            return
        raise AuthenticationError(
            "The secret does not match this offer's postback secret.", code="bad_signature"
        )
    if signature_header:
        timestamp, signatures = _parse_signature_header(signature_header)
    else:
        timestamp, signatures = params.get("ts", ""), [params.get("sig", "").lower()]
    # Bounded before int(): an unbounded number would overflow the float comparison below.
    if not TIMESTAMP_PATTERN.fullmatch(timestamp):
        raise AuthenticationError(
            "The signature timestamp must be a Unix time in seconds (at most 12 digits).",
            code="bad_signature",
        )
    signatures = [candidate for candidate in signatures if HEX_DIGEST.fullmatch(candidate)]
    if not signatures:
        raise AuthenticationError(
            "The signature must be 64 hex digits (HMAC-SHA256).", code="bad_signature"
        )
    stamp = int(timestamp)
    if abs(now.timestamp() - stamp) > SIGNATURE_TOLERANCE_SECONDS:
        raise AuthenticationError(
            "The signature timestamp is more than 300 seconds from the server's clock.",
            code="signature_expired",
        )
    _refuse_unsigned_parts(method, query_pairs, body)
    canonical = body if method == "POST" else canonical_query(query_pairs).encode()
    for secret in secrets:
        expected = sign(secret, stamp, canonical)
        if any(
            hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in signatures
        ):
            return
    raise AuthenticationError("The signature does not match.", code="bad_signature")


def check_source_ip(offer: OfferConfig, ip: str | None) -> None:
    if not offer.postback_allowed_networks:
        return
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        address = None
    if address is None or not any(
        address in network for network in offer.postback_allowed_networks
    ):
        raise PermissionDeniedError(
            "Postbacks for this offer are accepted only from its allowed IP addresses.",
            code="ip_not_allowed",
        )


def _field_error(name: str, code: str, message: str) -> ValidationError:
    return ValidationError(message, code=code, fields={name: [message]})


def _parse_currency(params: dict[str, str], offer_currency: str) -> str:
    """The sale's currency: the offer's when none is sent, else an ISO 4217 code (any case).
    Another currency than the offer's is converted when recorded (conversions.currency)."""
    raw = params.get("currency", "")
    if not raw.strip():
        return offer_currency
    currency = parse_currency(raw)
    if currency is None:
        raise _field_error(
            "currency",
            "invalid_currency",
            "currency must be an ISO 4217 code of three letters, such as USD or EUR.",
        )
    return currency


def parse_postback(params: dict[str, str], *, offer_currency: str) -> PostbackInput:
    txn_id = params.get("txn_id", "").strip()
    if not txn_id:
        raise _field_error(
            "txn_id",
            "missing_txn_id",
            "txn_id is required: the advertiser's order or transaction id.",
        )
    if not TXN_ID_PATTERN.fullmatch(txn_id):
        raise _field_error(
            "txn_id", "invalid_txn_id", "txn_id must be 1–128 printable characters without spaces."
        )
    raw_amount = params.get("amount", "").strip() or "0"
    try:
        amount = Decimal(raw_amount)
    except InvalidOperation:
        raise _field_error(
            "amount", "invalid_amount", "amount must be a decimal number such as 49.90."
        ) from None
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
        raise _field_error(
            "amount", "invalid_amount", "amount must be between 0 and 999999999999.99."
        )
    amount = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    currency = _parse_currency(params, offer_currency)
    event = params.get("event", "").strip().lower() or DEFAULT_EVENT
    if not EVENT_PATTERN.fullmatch(event):
        raise _field_error(
            "event", "invalid_event", "event must be 1–64 of a-z, 0-9, _ . - (e.g. sale, signup)."
        )
    click_id = params.get("click_id", "").strip()
    if click_id and not CLICK_ID_PATTERN.fullmatch(click_id):
        raise _field_error(
            "click_id", "unknown_click", "click_id is not a Trcker click id (clk_…)."
        )
    coupon = (params.get("coupon") or params.get("couponCode") or "").strip()
    if coupon and not COUPON_PATTERN.fullmatch(coupon):
        raise _field_error(
            "coupon", "unknown_coupon", "coupon must be 1–64 letters, digits, - or _."
        )
    if not click_id and not coupon:
        raise ValidationError(
            "Send click_id (from the tracking link) or coupon, or both.",
            code="missing_click_and_coupon",
        )
    # Sub ids are free text the advertiser echoes back; identifiers above are refused when
    # malformed instead, since cleaning one would silently turn it into another.
    sub1, sub2, sub3, sub4, sub5 = (
        clean_text(params.get(f"sub{i}", ""), max_length=SUB_ID_MAX) for i in range(1, 6)
    )
    return PostbackInput(
        click_id=click_id,
        txn_id=txn_id,
        amount=amount,
        currency=currency,
        event_type=event,
        coupon=coupon,
        subs=(sub1, sub2, sub3, sub4, sub5),
    )
