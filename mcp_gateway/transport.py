"""MCP's Streamable HTTP transport, stateless and JSON-only, without a framework: what the HTTP
view hands in (the raw body and the MCP headers), what it gets back (a status, a JSON payload
or none, headers), the admission of a body before any work, and the modern era's rule that
headers agree with the body. No Django or DRF imports; mcp_gateway/apis.py is the Django side.

Admission (``admit``) comes before any work: the body is parsed with a bound on its nesting
depth, and a batch is measured (size, version) right after parsing, so a refused body costs
one parse and one comparison — never a rate-limit count or any per-element work. The view
charges the rate limit with the admitted body's ``calls`` only.

Batching (JSON-RPC 2.0 §6) is served deliberately where the negotiated version allows it:
only 2025-03-26 (and requests with no version header, which default to it). Later versions
removed batching, so a batch under them is a 400 with a message saying so.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.json_limits import JsonTooDeep, JsonTooLong, loads_bounded
from mcp_gateway.jsonrpc import (
    HEADER_MISMATCH,
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    RATE_LIMITED,
    UNSUPPORTED_VERSION,
    Envelope,
    ProtocolError,
    error_object,
    message_id,
)
from mcp_gateway.versions import (
    BATCH_VERSIONS,
    DEFAULT_HEADER_VERSION,
    META_CAPABILITIES,
    META_VERSION,
    MODERN_VERSION,
)


@dataclass(frozen=True)
class HttpRequestInfo:
    body: bytes
    protocol_version_header: str | None
    method_header: str | None
    name_header: str | None


@dataclass
class HttpReply:
    status: int
    payload: Any = None  # JSON-able, or None for an empty body
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Admission:
    """A body checked before any work: either ``refusal`` (answer it, charge nothing) or the
    parsed ``message`` and the number of JSON-RPC ``calls`` it makes (what the rate limit
    counts: every request of a batch, at least one per HTTP request)."""

    message: Any = None
    calls: int = 0
    refusal: HttpReply | None = None

    @property
    def request_id(self) -> Any:
        return message_id(self.message)


def _refused(code: int, message: str) -> Admission:
    return Admission(refusal=HttpReply(400, error_object(None, code, message)))


def admit(request: HttpRequestInfo, *, max_batch: int, max_depth: int) -> Admission:
    """Parse and measure the body; refuse it before any work when it is not JSON, nests
    deeper than ``max_depth``, or is a batch that is too long, empty, or not allowed in the
    requested version. The depth is one pre-scan of the bytes, the batch length one
    comparison per element read, the rest one comparison each."""
    try:
        # A batch is read element by element and refused at element max_batch + 1: the rest
        # of an oversize batch is never parsed (json_limits.loads_bounded).
        message = loads_bounded(request.body, max_depth=max_depth, max_items=max_batch)
    except JsonTooLong:
        return _refused(
            INVALID_REQUEST, f"Invalid Request: a batch may hold at most {max_batch} messages."
        )
    except JsonTooDeep as exc:
        return _refused(INVALID_REQUEST, f"Invalid Request: {exc}")
    except (ValueError, UnicodeDecodeError):
        return _refused(PARSE_ERROR, "Parse error: the body is not valid JSON.")
    if not isinstance(message, list):
        return Admission(message=message, calls=1)
    version = request.protocol_version_header or DEFAULT_HEADER_VERSION
    if version not in BATCH_VERSIONS:
        return _refused(
            INVALID_REQUEST,
            f"Invalid Request: batching is not supported in protocol version {version[:40]}; "
            "it exists only in 2025-03-26. Send one request per HTTP call.",
        )
    if not message:
        return _refused(INVALID_REQUEST, "Invalid Request: empty batch.")
    requests = sum(
        1 for item in message if isinstance(item, dict) and "id" in item and "method" in item
    )
    return Admission(message=message, calls=max(1, requests))


def _decode_header_value(value: str) -> str:
    if value.startswith("=?base64?") and value.endswith("?="):
        try:
            return base64.b64decode(value[9:-2], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ProtocolError(
                HEADER_MISMATCH, "Header mismatch: Mcp-Name is not valid base64.", http_status=400
            ) from None
    return value


def check_modern_request(envelope: Envelope, request: HttpRequestInfo) -> None:
    """The modern era's envelope: params._meta names the version and client capabilities,
    and the MCP-Protocol-Version, Mcp-Method and Mcp-Name headers repeat what the body
    says. Raises the ProtocolError to answer."""
    header_version = request.protocol_version_header
    if envelope.kind == "response":
        return
    meta = envelope.params.get("_meta")
    if (
        not isinstance(meta, dict)
        or not isinstance(meta.get(META_VERSION), str)
        or not isinstance(meta.get(META_CAPABILITIES), dict)
    ):
        raise ProtocolError(
            INVALID_PARAMS,
            "Invalid params: params._meta must carry "
            "io.modelcontextprotocol/protocolVersion and "
            "io.modelcontextprotocol/clientCapabilities.",
            http_status=400,
        )
    requested = meta[META_VERSION]
    # Header/body agreement is checked before the version itself: a mismatch is a
    # HeaderMismatch whatever the versions are.
    if header_version is None:
        raise ProtocolError(
            HEADER_MISMATCH,
            "Header mismatch: MCP-Protocol-Version header is required.",
            http_status=400,
        )
    if header_version != requested:
        raise ProtocolError(
            HEADER_MISMATCH,
            "Header mismatch: MCP-Protocol-Version header "
            f"{header_version[:40]!r} does not match "
            f"_meta version {requested[:40]!r}.",
            http_status=400,
        )
    if requested != MODERN_VERSION:
        raise ProtocolError(
            UNSUPPORTED_VERSION,
            "Unsupported protocol version",
            data={"supported": [MODERN_VERSION], "requested": requested[:40]},
            http_status=400,
        )
    if request.method_header is None:
        raise ProtocolError(
            HEADER_MISMATCH, "Header mismatch: Mcp-Method header is required.", http_status=400
        )
    if request.method_header != envelope.method:
        raise ProtocolError(
            HEADER_MISMATCH,
            "Header mismatch: Mcp-Method header value "
            f"{request.method_header[:60]!r} does not match "
            f"body value {envelope.method[:60]!r}",
            http_status=400,
        )
    if envelope.method in ("tools/call", "prompts/get", "resources/read"):
        body_name = (
            envelope.params.get("name")
            if envelope.method != "resources/read"
            else envelope.params.get("uri")
        )
        if request.name_header is None:
            raise ProtocolError(
                HEADER_MISMATCH,
                "Header mismatch: Mcp-Name header is required.",
                http_status=400,
            )
        header_name = _decode_header_value(request.name_header)
        if header_name != body_name:
            raise ProtocolError(
                HEADER_MISMATCH,
                "Header mismatch: Mcp-Name header value "
                f"{header_name[:60]!r} does not match body "
                f"value {str(body_name)[:60]!r}",
                http_status=400,
            )


def rate_limited_reply(
    admission: Admission, *, retry_after: int, limit: int, period_seconds: int = 60
) -> HttpReply:
    period = "minute" if period_seconds == 60 else f"{period_seconds} s"
    return HttpReply(
        429,
        error_object(
            admission.request_id,
            RATE_LIMITED,
            f"Rate limit of {limit} calls per {period} exceeded; retry in {retry_after} s.",
            data={"retryAfter": retry_after},
        ),
        {"Retry-After": str(retry_after)},
    )


def error_reply(
    status: int, code: int, message: str, headers: Mapping[str, str] | None = None
) -> HttpReply:
    return HttpReply(status, error_object(None, code, message), dict(headers or {}))
