"""MCP over JSON-RPC: the methods this server answers (initialize, ping, tools, prompts,
server/discover) for both protocol eras (mcp_gateway/versions.py), batches, and the shaping of
a tool's answer into a result. No Django or DRF imports: the HTTP view (mcp_gateway/apis.py)
hands in a ``transport.HttpRequestInfo`` and gets back a ``transport.HttpReply``; the
application answers through an ``McpHost`` bound to one caller (mcp_gateway/host.py).

The layers below: mcp_gateway/jsonrpc.py (JSON-RPC 2.0 framing) and mcp_gateway/transport.py
(Streamable HTTP: admission of a body, the modern era's header checks, error replies).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from core.json_limits import MAX_DEPTH
from mcp_gateway import transport
from mcp_gateway.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    Envelope,
    ProtocolError,
    error_object,
    message_id,
    parse_envelope,
    result_object,
)
from mcp_gateway.transport import Admission, HttpReply, HttpRequestInfo
from mcp_gateway.versions import (
    DEFAULT_HEADER_VERSION,
    LEGACY_VERSIONS,
    META_SERVER_INFO,
    META_VERSION,
    MODERN_VERSION,
    SUPPORTED_VERSIONS,
)

logger = logging.getLogger(__name__)

LIST_TTL_MS = 60_000


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


class McpProtocol:
    def __init__(self, host: McpHost, *, max_batch: int = 50, max_depth: int = MAX_DEPTH) -> None:
        self.host = host
        self.max_batch = max_batch
        self.max_depth = max_depth

    # --- HTTP entry -------------------------------------------------------------------------

    def handle(self, request: HttpRequestInfo, admission: Admission | None = None) -> HttpReply:
        """Answer ``request``; ``admission`` is admit()'s verdict on it when the caller already
        asked (to charge the rate limit in between), else it is taken here."""
        try:
            return self._handle(request, admission)
        except HttpChallenge as challenge:
            return HttpReply(
                challenge.status,
                error_object(None, INVALID_REQUEST, challenge.message),
                dict(challenge.headers),
            )

    def admit(self, request: HttpRequestInfo) -> Admission:
        """transport.admit with this endpoint's batch and depth bounds: a refused body is
        answered before the rate limit is charged or any element is looked at."""
        return transport.admit(request, max_batch=self.max_batch, max_depth=self.max_depth)

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
            return HttpReply(
                exc.http_status, error_object(message_id(message), exc.code, exc.message, exc.data)
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
                exc.http_status, error_object(envelope.id, exc.code, exc.message, exc.data)
            )
        if envelope.kind != "request":
            if envelope.kind == "notification":
                self._notification(envelope)
            return HttpReply(202)
        return HttpReply(200, self._dispatch_legacy(envelope, version))

    def _dispatch_legacy(self, envelope: Envelope, version: str) -> dict[str, Any]:
        try:
            return result_object(envelope.id, self._legacy_method(envelope, version))
        except ProtocolError as exc:
            return error_object(envelope.id, exc.code, exc.message, exc.data)
        except HttpChallenge:
            raise
        except Exception:
            logger.exception("MCP %s failed", envelope.method)
            return error_object(
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
        """Answer a batch element by element, in order. Elements are isolated by the layers
        they go through, not by anything here: each tool call runs a service that owns its
        transaction (no ATOMIC_REQUESTS, trcker_site/settings.py), so a failed write rolls
        back only itself and the elements before it stay committed; a domain error is that
        element's ``isError`` result (mcp_gateway/host.py) and an unexpected exception its
        -32603 (``_dispatch_legacy``). One thing ends the whole batch: an ``HttpChallenge``
        (an OAuth caller without the write scope), answered as the exchange's 403."""
        # admit() refused empty, oversize and version-forbidden batches already.
        version = header_version or DEFAULT_HEADER_VERSION
        responses = []
        for message in messages:
            response = self._batch_element(message, version)
            if response is not None:
                responses.append(response)
        if not responses:
            return HttpReply(202)
        return HttpReply(200, responses)

    def _batch_element(self, message: Any, version: str) -> dict[str, Any] | None:
        try:
            envelope = parse_envelope(message)
        except ProtocolError as exc:
            return error_object(None, exc.code, exc.message)
        if envelope.kind == "response":
            return None
        if envelope.kind == "notification":
            self._notification(envelope)
            return None
        if envelope.method == "initialize":
            return error_object(
                envelope.id,
                INVALID_REQUEST,
                "Invalid Request: initialize must not be part of a batch.",
            )
        return self._dispatch_legacy(envelope, version)

    # --- modern era (2026-07-28) --------------------------------------------------------------

    def _handle_modern(self, envelope: Envelope, request: HttpRequestInfo) -> HttpReply:
        try:
            transport.check_modern_request(envelope, request)
        except ProtocolError as exc:
            return HttpReply(
                exc.http_status, error_object(envelope.id, exc.code, exc.message, exc.data)
            )
        if envelope.kind == "response":
            return HttpReply(
                400,
                error_object(
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
                exc.http_status, error_object(envelope.id, exc.code, exc.message, exc.data)
            )
        except HttpChallenge:
            raise
        except Exception:
            logger.exception("MCP %s failed", envelope.method)
            return HttpReply(
                500,
                error_object(
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
        return HttpReply(200, result_object(envelope.id, result))

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
