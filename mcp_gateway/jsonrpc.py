"""JSON-RPC 2.0 framing: error codes, the error a handler raises, request envelopes and the
response objects. Knows nothing of MCP methods, HTTP or Django (the MCP layers build on it:
mcp_gateway/transport.py, mcp_gateway/protocol.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# MCP's codes in the implementation-defined server range (-32099..-32000).
HEADER_MISMATCH = -32020
UNSUPPORTED_VERSION = -32022
# Application code for rate limiting, outside the JSON-RPC reserved range (-32768..-32000).
RATE_LIMITED = -31429


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


def error_object(request_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def result_object(request_id: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def valid_id(value: Any) -> bool:
    return (isinstance(value, str) and len(value) <= 200) or (
        isinstance(value, int) and not isinstance(value, bool)
    )


def message_id(message: Any) -> Any:
    """The id to echo in an error about ``message``: its own when valid, else null."""
    if isinstance(message, dict) and valid_id(message.get("id")):
        return message.get("id")
    return None


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
    if not valid_id(message["id"]):
        # MCP: "the ID MUST NOT be null"; JSON-RPC ids are strings or integers.
        raise ProtocolError(
            INVALID_REQUEST,
            "Invalid Request: id must be a string or an integer, not null.",
            http_status=400,
        )
    return Envelope("request", message["id"], method, params)
