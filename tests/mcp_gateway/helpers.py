"""Raw JSON-RPC over HTTP against /api/mcp through Django's test client."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

MODERN = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "pytest", "version": "1"},
}


class Mcp:
    def __init__(self, key: str | None, *, version: str | None = "2025-06-18") -> None:
        self.client = Client()
        self.key = key
        self.version = version
        self._id = 0

    def post(self, body: Any, *, raw: bytes | None = None, headers: dict[str, str] | None = None):
        extra = {
            "HTTP_ACCEPT": "application/json, text/event-stream",
            "REMOTE_ADDR": "198.51.100.23",
            "HTTP_USER_AGENT": "pytest-mcp/1.0",
        }
        if self.key:
            extra["HTTP_AUTHORIZATION"] = f"Bearer {self.key}"
        if self.version:
            extra["HTTP_MCP_PROTOCOL_VERSION"] = self.version
        for name, value in (headers or {}).items():
            extra["HTTP_" + name.upper().replace("-", "_")] = value
        data = raw if raw is not None else json.dumps(body)
        return self.client.generic(
            "POST", "/api/mcp", data, content_type="application/json", **extra
        )

    def request(self, method: str, params: dict[str, Any] | None = None, **kwargs: Any):
        self._id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self._id, "method": method}
        if params is not None:
            message["params"] = params
        return self.post(message, **kwargs)

    def call(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.request("tools/call", {"name": name, "arguments": arguments or {}})
        assert response.status_code == 200, response.content
        body = response.json()
        assert "result" in body, body
        return body["result"]

    def modern(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        name: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        params = {**(params or {}), "_meta": META}
        merged = {"Mcp-Method": method, **({"Mcp-Name": name} if name else {}), **(headers or {})}
        saved, self.version = self.version, MODERN
        try:
            return self.request(method, params, headers=merged)
        finally:
            self.version = saved


def structured(result: dict[str, Any]) -> Any:
    assert result["isError"] is False, result["content"][0]["text"]
    return result["structuredContent"]
