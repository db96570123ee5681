"""The MCP protocol versions this server speaks, and the two eras they fall into (spec text in
reference/mcp-spec/):

- legacy (2024-11-05, 2025-03-26, 2025-06-18, 2025-11-25): ``initialize`` negotiates a
  version; every other request carries it in ``MCP-Protocol-Version`` (absent → 2025-03-26).
  No session is ever minted, so any worker serves any request.
- modern (2026-07-28): every request carries ``params._meta`` with the protocol version and
  client capabilities, plus ``Mcp-Method`` / ``Mcp-Name`` headers; results carry
  ``resultType`` and server info in ``_meta``; lists carry ``ttlMs`` and ``cacheScope``.

JSON-RPC batches exist only in 2025-03-26 (and requests with no version header, which default
to it); later versions removed them.
"""

from __future__ import annotations

MODERN_VERSION = "2026-07-28"
LEGACY_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
SUPPORTED_VERSIONS = (MODERN_VERSION, *LEGACY_VERSIONS)
DEFAULT_HEADER_VERSION = "2025-03-26"
BATCH_VERSIONS = frozenset({"2025-03-26"})

# Keys of the modern era's params._meta / result _meta.
META_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
META_SERVER_INFO = "io.modelcontextprotocol/serverInfo"
