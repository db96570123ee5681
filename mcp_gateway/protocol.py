"""JSON-RPC 2.0 and MCP dispatch for a stateless, JSON-only Streamable HTTP endpoint.

No Django or DRF imports: the HTTP view hands in the raw body and the relevant headers and
gets back a status, a JSON payload (or none) and headers.

Protocol eras (spec text in reference/mcp-spec/):
- legacy (2024-11-05, 2025-03-26, 2025-06-18, 2025-11-25): ``initialize`` negotiates a
  version; every other request carries it in ``MCP-Protocol-Version`` (absent → 2025-03-26).
  No session is ever minted, so any worker serves any request.
- modern (2026-07-28): every request carries ``params._meta`` with the protocol version and
  client capabilities, plus ``Mcp-Method`` / ``Mcp-Name`` headers; results carry
  ``resultType`` and server info in ``_meta``; lists carry ``ttlMs`` and ``cacheScope``.

Batching (JSON-RPC 2.0 §6) is served deliberately where the negotiated version allows it:
only 2025-03-26 (and requests with no version header, which default to it). Later versions
removed batching, so a batch under them is a 400 with a message saying so.

Admission (``McpProtocol.admit``) comes before any work: the body is parsed with a bound on
its nesting depth, and a batch is measured (size, version) right after parsing, so a refused
body costs one parse and one comparison — never a rate-limit count or any per-element work.
The view charges the rate limit with the admitted body's ``calls`` only.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.json_limits import MAX_DEPTH, JsonTooDeep, JsonTooLong, loads_bounded

logger = logging.getLogger(__name__)

MODERN_VERSION = "2026-07-28"
LEGACY_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
SUPPORTED_VERSIONS = (MODERN_VERSION, *LEGACY_VERSIONS)
DEFAULT_HEADER_VERSION = "2025-03-26"
BATCH_VERSIONS = frozenset({"2025-03-26"})
META_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
META_SERVER_INFO = "io.modelcontextprotocol/serverInfo"

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
HEADER_MISMATCH = -32020
UNSUPPORTED_VERSION = -32022
# Application code for rate limiting, outside the JSON-RPC reserved range (-32768..-32000).
RATE_LIMITED = -31429

LIST_TTL_MS = 60_000


class ProtocolError(Exception):
    """A JSON-RPC error response (not a tool error)."""

    def __init__(
        self, code: int, message: str, *, data: Any = None, http_status: int = 200
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
        self.http_status = http_status


class HttpChallenge(Exception):  # noqa: N818 - an HTTP-level answer, not an error of ours
    """Ends the whole HTTP exchange with a status and headers (e.g. 403 insufficient_scope
    with a WWW-Authenticate step-up challenge); never turned into a JSON-RPC result."""

    def __init__(self, status: int, message: str, headers: dict[str, str]) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


class UnknownTool(ProtocolError):  # noqa: N818 - it is a kind of protocol error
    def __init__(self, name: str) -> None:
        super().__init__(INVALID_PARAMS, f"Unknown tool: {name[:100]}")


@dataclass(frozen=True)
class ToolOutcome:
    """A tool's answer. ``structured`` is omitted on errors (clients validate it)."""

    text: str
    structured: Any = None
    is_error: bool = False


class McpHost(Protocol):
    """What the protocol needs from the application (bound to one caller)."""

    server_name: str
    server_title: str
    server_version: str
    instructions: str

    def tool_definitions(self, version: str) -> list[dict[str, Any]]: ...

    def call_tool(self, name: str, arguments: dict[str, Any]) -> ToolOutcome: ...

    def prompt_definitions(self) -> list[dict[str, Any]]: ...

    def get_prompt(self, name: str, arguments: dict[str, str]) -> dict[str, Any]: ...


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
        message = self.message
        return (
            message.get("id")
            if isinstance(message, dict) and _valid_id(message.get("id"))
            else None
        )


def _error_object(request_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def _result_object(request_id: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def _valid_id(value: Any) -> bool:
    return (isinstance(value, str) and len(value) <= 200) or (
        isinstance(value, int) and not isinstance(value, bool)
    )


@dataclass(frozen=True)
class Envelope:
    kind: str  # request / notification / response
    id: Any
    method: str
    params: dict[str, Any]


def parse_envelope(message: Any) -> Envelope:
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise ProtocolError(
            INVALID_REQUEST, "Invalid Request: expected a JSON-RPC 2.0 object.", http_status=400
        )
    if "method" not in message:
        if ("result" in message or "error" in message) and "id" in message:
            return Envelope("response", message.get("id"), "", {})
        raise ProtocolError(INVALID_REQUEST, "Invalid Request: missing method.", http_status=400)
    method = message["method"]
    if not isinstance(method, str) or not method:
        raise ProtocolError(
            INVALID_REQUEST, "Invalid Request: method must be a string.", http_status=400
        )
    params = message.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ProtocolError(
            INVALID_REQUEST, "Invalid Request: params must be an object.", http_status=400
        )
    if "id" not in message:
        return Envelope("notification", None, method, params)
    if not _valid_id(message["id"]):
        # MCP: "the ID MUST NOT be null"; JSON-RPC ids are strings or integers.
        raise ProtocolError(
            INVALID_REQUEST,
            "Invalid Request: id must be a string or an integer, not null.",
            http_status=400,
        )
    return Envelope("request", message["id"], method, params)


def _decode_header_value(value: str) -> str:
    if value.startswith("=?base64?") and value.endswith("?="):
        try:
            return base64.b64decode(value[9:-2], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ProtocolError(
                HEADER_MISMATCH, "Header mismatch: Mcp-Name is not valid base64.", http_status=400
            ) from None
    return value


class McpProtocol:
    def __init__(
        self,
        host: McpHost,
        *,
        max_batch: int = 50,
        max_depth: int = MAX_DEPTH,
        isolate: Callable[[Callable[[], Any]], Any] | None = None,
    ) -> None:
        self.host = host
        self.max_batch = max_batch
        self.max_depth = max_depth
        # Each batch element runs through ``isolate`` (its own transaction in the view).
        self.isolate = isolate or (lambda fn: fn())

    # --- HTTP entry -------------------------------------------------------------------------

    def handle(self, request: HttpRequestInfo, admission: Admission | None = None) -> HttpReply:
        """Answer ``request``; ``admission`` is admit()'s verdict on it when the caller already
        asked (to charge the rate limit in between), else it is taken here."""
        try:
            return self._handle(request, admission)
        except HttpChallenge as challenge:
            return HttpReply(
                challenge.status,
                _error_object(None, INVALID_REQUEST, challenge.message),
                dict(challenge.headers),
            )

    def admit(self, request: HttpRequestInfo) -> Admission:
        """Parse and measure the body; refuse it before any work when it is not JSON, nests
        deeper than ``max_depth``, or is a batch that is too long, empty, or not allowed in
        the requested version. The depth is one pre-scan of the bytes, the batch length one
        comparison per element read, the rest one comparison each."""
        try:
            # A batch is read element by element and refused at element max_batch + 1: the
            # rest of an oversize batch is never parsed (json_limits.loads_bounded).
            message = loads_bounded(
                request.body, max_depth=self.max_depth, max_items=self.max_batch
            )
        except JsonTooLong:
            return Admission(
                refusal=HttpReply(
                    400,
                    _error_object(
                        None,
                        INVALID_REQUEST,
                        f"Invalid Request: a batch may hold at most {self.max_batch} messages.",
                    ),
                )
            )
        except JsonTooDeep as exc:
            return Admission(
                refusal=HttpReply(
                    400, _error_object(None, INVALID_REQUEST, f"Invalid Request: {exc}")
                )
            )
        except (ValueError, UnicodeDecodeError):
            return Admission(
                refusal=HttpReply(
                    400,
                    _error_object(None, PARSE_ERROR, "Parse error: the body is not valid JSON."),
                )
            )
        if not isinstance(message, list):
            return Admission(message=message, calls=1)
        version = request.protocol_version_header or DEFAULT_HEADER_VERSION
        if version not in BATCH_VERSIONS:
            return Admission(
                refusal=HttpReply(
                    400,
                    _error_object(
                        None,
                        INVALID_REQUEST,
                        "Invalid Request: batching is not supported in protocol version "
                        f"{version[:40]}; "
                        "it exists only in 2025-03-26. Send one request per HTTP call.",
                    ),
                )
            )
        if not message:
            return Admission(
                refusal=HttpReply(
                    400, _error_object(None, INVALID_REQUEST, "Invalid Request: empty batch.")
                )
            )
        requests = sum(
            1 for item in message if isinstance(item, dict) and "id" in item and "method" in item
        )
        return Admission(message=message, calls=max(1, requests))

    def _handle(self, request: HttpRequestInfo, admission: Admission | None = None) -> HttpReply:
        if admission is None:
            admission = self.admit(request)
        if admission.refusal is not None:
            return admission.refusal
        message = admission.message
        header_version = request.protocol_version_header
        if isinstance(message, list):
            return self._handle_batch(message, header_version)
        try:
            envelope = parse_envelope(message)
        except ProtocolError as exc:
            request_id = (
                message.get("id")
                if isinstance(message, dict) and _valid_id(message.get("id"))
                else None
            )
            return HttpReply(
                exc.http_status, _error_object(request_id, exc.code, exc.message, exc.data)
            )
        modern = self._is_modern(envelope, header_version)
        if modern:
            return self._handle_modern(envelope, request)
        return self._handle_legacy(envelope, header_version)

    def _is_modern(self, envelope: Envelope, header_version: str | None) -> bool:
        meta = envelope.params.get("_meta")
        has_modern_meta = isinstance(meta, dict) and META_VERSION in meta
        if envelope.method == "initialize":
            # "An initialize request selects legacy semantics" — unless it carries the modern
            # envelope, in which case it is a removed method (404 -32601).
            return has_modern_meta
        return has_modern_meta or header_version == MODERN_VERSION

    # --- legacy era ---------------------------------------------------------------------------

    def _legacy_version(self, envelope: Envelope, header_version: str | None) -> str:
        if envelope.method == "initialize":
            return ""  # negotiated from the body, whatever the header says
        version = header_version or DEFAULT_HEADER_VERSION
        if version not in LEGACY_VERSIONS:
            raise ProtocolError(
                INVALID_REQUEST,
                f"Bad Request: unsupported MCP-Protocol-Version {version[:40]!r}; supported: "
                f"{', '.join(SUPPORTED_VERSIONS)}.",
                http_status=400,
            )
        return version

    def _handle_legacy(self, envelope: Envelope, header_version: str | None) -> HttpReply:
        try:
            version = self._legacy_version(envelope, header_version)
        except ProtocolError as exc:
            return HttpReply(
                exc.http_status, _error_object(envelope.id, exc.code, exc.message, exc.data)
            )
        if envelope.kind != "request":
            if envelope.kind == "notification":
                self._notification(envelope)
            return HttpReply(202)
        return HttpReply(200, self._dispatch_legacy(envelope, version))

    def _dispatch_legacy(self, envelope: Envelope, version: str) -> dict[str, Any]:
        try:
            return _result_object(envelope.id, self._legacy_method(envelope, version))
        except ProtocolError as exc:
            return _error_object(envelope.id, exc.code, exc.message, exc.data)
        except HttpChallenge:
            raise
        except Exception:
            logger.exception("MCP %s failed", envelope.method)
            return _error_object(
                envelope.id,
                INTERNAL_ERROR,
                "Internal error; the failure was logged with this request's id.",
            )

    def _legacy_method(self, envelope: Envelope, version: str) -> Any:
        method, params = envelope.method, envelope.params
        if method == "initialize":
            return self._initialize(params)
        if method == "ping":
            return {}
        if method == "logging/setLevel":
            return {}
        if method == "tools/list":
            return self._tools_list(params, version)
        if method == "tools/call":
            return self._tools_call(params, version)
        if method == "prompts/list":
            return {"prompts": self.host.prompt_definitions()}
        if method == "prompts/get":
            return self._prompts_get(params)
        raise ProtocolError(METHOD_NOT_FOUND, f"Method not found: {method[:100]}")

    def _initialize(self, params: dict[str, Any]) -> dict[str, Any]:
        requested = params.get("protocolVersion")
        if not isinstance(requested, str):
            raise ProtocolError(
                INVALID_PARAMS, "initialize needs params.protocolVersion (a string)."
            )
        # The requested version if supported, else the newest handshake-era one (spec: "MUST
        # respond with another protocol version it supports … SHOULD be the latest").
        version = requested if requested in LEGACY_VERSIONS else LEGACY_VERSIONS[0]
        server_info: dict[str, Any] = {
            "name": self.host.server_name,
            "version": self.host.server_version,
        }
        if version >= "2025-06-18":
            server_info["title"] = self.host.server_title
        return {
            "protocolVersion": version,
            "capabilities": self._capabilities(),
            "serverInfo": server_info,
            "instructions": self.host.instructions,
        }

    def _capabilities(self) -> dict[str, Any]:
        return {"tools": {"listChanged": False}, "prompts": {"listChanged": False}}

    # --- shared methods -----------------------------------------------------------------------

    def _tools_list(self, params: dict[str, Any], version: str) -> dict[str, Any]:
        cursor = params.get("cursor")
        if cursor not in (None, ""):
            # Everything fits on one page, so no cursor was ever issued.
            raise ProtocolError(
                INVALID_PARAMS, "Invalid cursor: tools/list returns every tool on one page."
            )
        return {"tools": self.host.tool_definitions(version)}

    def _tools_call(self, params: dict[str, Any], version: str) -> dict[str, Any]:
        name = params.get("name")
        if not isinstance(name, str) or not name:
            raise ProtocolError(INVALID_PARAMS, "tools/call needs params.name (the tool name).")
        arguments = params.get("arguments", {})
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            raise ProtocolError(INVALID_PARAMS, "tools/call params.arguments must be an object.")
        outcome = self.host.call_tool(name, arguments)
        result: dict[str, Any] = {
            "content": [{"type": "text", "text": outcome.text}],
            "isError": outcome.is_error,
        }
        # structuredContent exists from 2025-06-18; older clients get the text block only.
        if not outcome.is_error and outcome.structured is not None and version >= "2025-06-18":
            result["structuredContent"] = outcome.structured
        return result

    def _prompts_get(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("name")
        arguments = params.get("arguments") or {}
        if not isinstance(name, str) or not isinstance(arguments, dict):
            raise ProtocolError(
                INVALID_PARAMS, "prompts/get needs params.name and optional arguments object."
            )
        return self.host.get_prompt(name, {str(k): str(v) for k, v in arguments.items()})

    def _notification(self, envelope: Envelope) -> None:
        # notifications/initialized, notifications/cancelled, …: nothing to do statelessly.
        return None

    # --- batches (2025-03-26 only) ------------------------------------------------------------

    def _handle_batch(self, messages: list[Any], header_version: str | None) -> HttpReply:
        # admit() refused empty, oversize and version-forbidden batches already.
        version = header_version or DEFAULT_HEADER_VERSION
        responses = []
        for message in messages:
            response = self.isolate(lambda message=message: self._batch_element(message, version))
            if response is not None:
                responses.append(response)
        if not responses:
            return HttpReply(202)
        return HttpReply(200, responses)

    def _batch_element(self, message: Any, version: str) -> dict[str, Any] | None:
        try:
            envelope = parse_envelope(message)
        except ProtocolError as exc:
            return _error_object(None, exc.code, exc.message)
        if envelope.kind == "response":
            return None
        if envelope.kind == "notification":
            self._notification(envelope)
            return None
        if envelope.method == "initialize":
            return _error_object(
                envelope.id,
                INVALID_REQUEST,
                "Invalid Request: initialize must not be part of a batch.",
            )
        return self._dispatch_legacy(envelope, version)

    # --- modern era (2026-07-28) --------------------------------------------------------------

    def _handle_modern(self, envelope: Envelope, request: HttpRequestInfo) -> HttpReply:
        try:
            self._validate_modern(envelope, request)
        except ProtocolError as exc:
            return HttpReply(
                exc.http_status, _error_object(envelope.id, exc.code, exc.message, exc.data)
            )
        if envelope.kind == "response":
            return HttpReply(
                400,
                _error_object(
                    None, INVALID_REQUEST, "Invalid Request: clients must not send responses."
                ),
            )
        if envelope.kind == "notification":
            self._notification(envelope)
            return HttpReply(202)
        try:
            result = self._modern_method(envelope)
        except ProtocolError as exc:
            return HttpReply(
                exc.http_status, _error_object(envelope.id, exc.code, exc.message, exc.data)
            )
        except HttpChallenge:
            raise
        except Exception:
            logger.exception("MCP %s failed", envelope.method)
            return HttpReply(
                500,
                _error_object(
                    envelope.id,
                    INTERNAL_ERROR,
                    "Internal error; the failure was logged with this request's id.",
                ),
            )
        result["resultType"] = "complete"
        result.setdefault("_meta", {})[META_SERVER_INFO] = {
            "name": self.host.server_name,
            "version": self.host.server_version,
        }
        return HttpReply(200, _result_object(envelope.id, result))

    def _validate_modern(self, envelope: Envelope, request: HttpRequestInfo) -> None:
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

    def _modern_method(self, envelope: Envelope) -> dict[str, Any]:
        method, params = envelope.method, envelope.params
        if method == "server/discover":
            return {
                "supportedVersions": list(SUPPORTED_VERSIONS),
                "capabilities": self._capabilities(),
                "instructions": self.host.instructions,
                "ttlMs": LIST_TTL_MS,
                "cacheScope": "private",
            }
        if method == "tools/list":
            return {
                **self._tools_list(params, MODERN_VERSION),
                "ttlMs": LIST_TTL_MS,
                "cacheScope": "private",
            }
        if method == "tools/call":
            return self._tools_call(params, MODERN_VERSION)
        if method == "prompts/list":
            return {
                "prompts": self.host.prompt_definitions(),
                "ttlMs": LIST_TTL_MS,
                "cacheScope": "private",
            }
        if method == "prompts/get":
            return self._prompts_get(params)
        raise ProtocolError(METHOD_NOT_FOUND, f"Method not found: {method[:100]}", http_status=404)


def rate_limited_reply(
    admission: Admission, *, retry_after: int, limit: int, period_seconds: int = 60
) -> HttpReply:
    period = "minute" if period_seconds == 60 else f"{period_seconds} s"
    return HttpReply(
        429,
        _error_object(
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
    return HttpReply(status, _error_object(None, code, message), dict(headers or {}))
