"""The MCP tool examples of docs/mcp.md: every tool called once through /api/mcp against the
tests' world (world.py), its answer made reproducible, and the file the doc is rendered from.

Recording and checking are the same run: test_tool_examples.py calls every tool, normalises the
answers with ``normalise`` and either compares them with docs/mcp-examples.json or, with
TRCKER_RECORD_MCP_EXAMPLES=1, writes that file and re-renders docs/mcp.md. So an example is
what the tool answered, not what someone remembered it answers.

Reproducible means: the clock starts at ``CLOCK`` (and runs, so rows keep their creation order
— with a stopped clock rows made in the same instant would sort by their random ids), and what
still differs from run to run is replaced by stand-ins: random ids, secrets, key prefixes,
request ids, durations, database keys and the seconds of timestamps (``normalise``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import time_machine
from django.test import Client

from conversions.rollups import rebuild_brand
from tests.conftest import issue_key
from tests.conversions.helpers import CHROME, IPHONE, click
from tests.factories import BrandFactory
from tests.mcp_gateway.helpers import Mcp, structured
from tests.mcp_gateway.world import World, build_world, every_tool_call

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_FILE = ROOT / "docs" / "mcp-examples.json"
RECORD_COMMAND = (
    "DATABASE_URL=postgres://… TRCKER_RECORD_MCP_EXAMPLES=1 .venv/bin/pytest "
    "tests/mcp_gateway/test_tool_examples.py"
)

CLOCK = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)  # a Monday morning; the world's "now"
PUBLIC_URL = "https://trcker.example.com"  # TRCKER_PUBLIC_URL during the run (links in answers)
ROWS_SHOWN = 2  # a list of rows (objects) is cut to its first ROWS_SHOWN in the examples

Record = tuple[str, dict[str, Any], dict[str, Any]]  # tool, arguments, structuredContent


def run_every_tool(brand_slug: str = "acme") -> list[Record]:
    """Build the world and call every tool once, in every_tool_call's order (reads first, then
    the writes, archive_offer last), through the real MCP endpoint; the raw answers. The
    caller turns the queues off, so what a request records is there when the next one reads,
    with or without a Redis, and lets each request commit (transaction=True), so what runs on
    commit has run before the next call, as in production."""
    with time_machine.travel(CLOCK, tick=True):
        world = build_world(BrandFactory(slug=brand_slug, name="Acme"))
        # The world's clicks are inserted by a factory, past the click writer that counts them
        # in the rollups the stats read; the rebuild an operator runs after such an insert
        # (manage.py rebuild_rollups) counts them, so every total in the examples agrees.
        rebuild_brand(brand_id=world.brand.pk)
        visit_the_public_endpoints(world)
        mcp = Mcp(issue_key(world.brand))
        return [
            (name, arguments, structured(mcp.call(name, arguments)))
            for name, arguments in every_tool_call(world)
        ]


def visit_the_public_endpoints(world: World) -> None:
    """Traffic the way it arrives, so the examples show countries, devices and a postback log:
    clicks through the click endpoint (distinct visitors, so no fraud rule fires) and an
    advertiser's postback that names no click (refused)."""
    client = Client()
    visitors = [
        ("abc-123", "81.2.69.142", CHROME),
        ("abc-123", "89.160.20.112", IPHONE),
        ("abc-123", "216.160.83.56", CHROME),
        ("abc-123", "175.16.199.10", IPHONE),
        ("abc-123", "2.125.160.216", CHROME),
        ("abc-123", "67.43.156.10", CHROME),
        ("deal-site", "202.196.224.10", IPHONE),
        ("deal-site", "149.101.100.10", CHROME),
    ]
    for partner, ip, agent in visitors:
        response = click(client, world.brand.slug, world.offer.slug, partner, ua=agent, ip=ip)
        assert response.status_code == 302, response.content
    refused = client.get(
        f"/api/postback/{world.brand.slug}/{world.offer.slug}",
        {"txn_id": "ORD-1001", "amount": "59.00"},
        REMOTE_ADDR="198.51.100.7",
    )
    assert refused.status_code == 422, refused.content


# --- normalisation --------------------------------------------------------------------------

RANDOM_ID = re.compile(r"\b(clk|conv|pay|led|inv)_[0-9A-Za-z]{22}\b")  # core/ids.py
# offers.services (token_urlsafe(32)) and the outbound signing secret (standard base64 of 32
# bytes, core/webhook_signing.py)
POSTBACK_SECRET = re.compile(r"\bwhsec_[A-Za-z0-9_+/-]{43}=?")
TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d):\d\d(?:\.\d+)?(Z|[+-]\d\d:\d\d)$")
HEX_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
# Values that differ on every run, whatever else happened: fixed stand-ins of the same type.
FIXED = {
    "credential": "k7m2q9x4ab",  # the API key's prefix
    "duration_ms": 4,
    "next_cursor": "eyJrIjpbIjIwMjYtMDMtMDJUMDk6MzA6MDBaIl19.c2lnbmF0dXJl",  # when not null
}
CHAIN_HASHES = ("hash", "prev_hash")  # the audit chain's links, when a worker made them


def _stand_in(prefix: str, n: int, length: int, *, urlsafe: bool = False) -> str:
    digest = hashlib.sha256(f"{prefix}{n}".encode()).digest()
    if urlsafe:
        return prefix + base64.urlsafe_b64encode(digest).decode().rstrip("=")[:length]
    number = int.from_bytes(digest)
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        chars.append("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[digit])
    return prefix + "".join(chars)


def _walk(value: Any, visit: Callable[[str | None, Any, dict[str, Any] | None], Any]) -> Any:
    """Rebuild ``value`` bottom-up, letting ``visit(key, leaf, parent)`` replace each scalar."""

    def go(node: Any, key: str | None, parent: dict[str, Any] | None) -> Any:
        if isinstance(node, dict):
            return {k: go(v, k, node) for k, v in node.items()}
        if isinstance(node, list):
            return [go(item, key, parent) for item in node]
        return visit(key, node, parent)

    return go(value, None, None)


def _database_key_kind(tool: str, key: str | None, value: Any, parent: dict[str, Any] | None):
    """Which sequence an integer database key comes from, or None. Sequences are shared by the
    whole test session, so the raw numbers depend on what ran before."""
    if key == "id" and isinstance(value, int) and not isinstance(value, bool):
        return f"{tool}.id"  # a log row's own key (audit events, tool calls, attempts)
    if key and key.endswith("_id") and isinstance(value, int) and not isinstance(value, bool):
        return key  # delivery_id: the same delivery in list_deliveries and replay_postback
    if key == "target_id" and parent and isinstance(value, str) and value.isdigit():
        return f"{parent.get('target_type')}_id"  # an audit event about a delivery
    return None


def normalise(records: list[Record]) -> dict[str, dict[str, Any]]:
    """Each tool's {"arguments", "result"}, with run-to-run differences replaced (see the module
    docstring). Deterministic given the same calls in the same order: a random id becomes the
    n-th stand-in of its prefix in order of first appearance, so an id in one tool's answer and
    another tool's arguments stays the same id; integer keys become their rank within their
    sequence (1, 2, …), so their order is kept."""
    keys: dict[str, set[int]] = {}
    for tool, arguments, result in records:

        def collect(key: str | None, value: Any, parent: dict[str, Any] | None) -> Any:
            kind = _database_key_kind(tool, key, value, parent)  # noqa: B023 (called at once)
            if kind:
                keys.setdefault(kind, set()).add(int(value))
            return value

        _walk([arguments, result], collect)
    ranks = {kind: {v: i + 1 for i, v in enumerate(sorted(vs))} for kind, vs in keys.items()}

    seen: dict[str, str] = {}

    def same_stand_in(match: re.Match[str]) -> str:
        raw = match.group(0)
        if raw not in seen:
            prefix = raw.split("_", 1)[0] + "_"
            n = sum(1 for old in seen if old.startswith(prefix)) + 1
            secret = prefix == "whsec_"
            seen[raw] = _stand_in(prefix, n, 43 if secret else 22, urlsafe=secret)
        return seen[raw]

    examples: dict[str, dict[str, Any]] = {}
    for tool, arguments, result in records:

        def replace(key: str | None, value: Any, parent: dict[str, Any] | None) -> Any:
            kind = _database_key_kind(tool, key, value, parent)  # noqa: B023 (called at once)
            if kind:
                rank = ranks[kind][int(value)]
                return str(rank) if isinstance(value, str) else rank
            if key in FIXED and value is not None:
                return FIXED[key]
            if not isinstance(value, str):
                return value
            if key in CHAIN_HASHES and value:
                return hashlib.sha256(key.encode()).hexdigest()
            if key == "request_id" and HEX_REQUEST_ID.match(value):
                return "3f2a9c1e5b7d4e8fa0c6b1d2e3f4a5b6"
            value = TIMESTAMP.sub(r"\1:00\2", value)  # the seconds a run took
            value = POSTBACK_SECRET.sub(same_stand_in, value)
            return RANDOM_ID.sub(same_stand_in, value)

        examples[tool] = {
            "arguments": _walk(arguments, replace),
            "result": trim(_walk(result, replace)),
        }
    return examples


def trim(value: Any) -> Any:
    """Lists of rows cut to their first ROWS_SHOWN (still valid against the output schema; a
    list of plain values, such as a report's metrics, is kept whole)."""
    if isinstance(value, dict):
        return {k: trim(v) for k, v in value.items()}
    if isinstance(value, list):
        rows = value[:ROWS_SHOWN] if all(isinstance(v, dict) for v in value) else value
        return [trim(v) for v in rows]
    return value


# --- the file -------------------------------------------------------------------------------

ABOUT = (
    "Generated: every MCP tool called once against the tests' world (tests/mcp_gateway/"
    "world.py), answers normalised by tests/mcp_gateway/examples.py. Do not edit; re-record "
    f"with: {RECORD_COMMAND}"
)


def write(examples: dict[str, dict[str, Any]], order: Iterator[str]) -> None:
    ordered = {name: examples[name] for name in order if name in examples}
    document = {"about": ABOUT, "clock": CLOCK.isoformat(), "examples": ordered}
    EXAMPLES_FILE.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def read() -> dict[str, dict[str, Any]]:
    if not EXAMPLES_FILE.exists():
        return {}
    examples: dict[str, dict[str, Any]] = json.loads(EXAMPLES_FILE.read_text())["examples"]
    return examples
