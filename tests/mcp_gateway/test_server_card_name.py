"""The server card's ``name`` is a reverse-DNS "namespace/name" (the MCP registry's server.json
rule, which the SEP-2127 card reuses), never a namespace made of an IP address."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# The schema's own words (static.modelcontextprotocol.io server.schema.json, "name"): pattern
# and length, kept literal here so a change in discovery.py cannot move the yardstick.
SCHEMA_NAME = re.compile(r"^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$")
ROOT = Path(__file__).resolve().parents[2]


def card_name(client) -> str:
    response = client.get("/api/mcp/server-card")
    assert response.status_code == 200
    name = response.json()["name"]
    assert SCHEMA_NAME.match(name) and 3 <= len(name) <= 200, name
    return name


@pytest.mark.parametrize(
    ("public_url", "expected"),
    [
        ("https://trcker.example.com", "com.example.trcker/trcker"),
        ("https://Tracking.Example.COM.:8443/base", "com.example.tracking/trcker"),
        ("https://xn--bcher-kva.example", "example.xn--bcher-kva/trcker"),
        # No domain to derive a namespace from: the fixed fallback, not 1.0.0.127/trcker.
        ("http://127.0.0.1:8000", "local.trcker/trcker"),
        ("http://10.20.30.40", "local.trcker/trcker"),
        ("http://[::1]:8000", "local.trcker/trcker"),
        ("http://[2001:db8::7]", "local.trcker/trcker"),
        ("http://localhost:8000", "local.trcker/trcker"),
        ("http://app.localhost:8000", "local.trcker/trcker"),
        ("http://trcker:8000", "local.trcker/trcker"),  # a single-label (intranet) host
    ],
)
def test_the_name_is_reverse_dns_of_a_domain_or_the_fallback(
    db, client, settings, public_url, expected
):
    settings.TRCKER_PUBLIC_URL = public_url
    settings.TRCKER_MCP_SERVER_NAME = ""
    assert card_name(client) == expected


def test_a_configured_name_wins_and_names_the_ai_catalog_publisher(db, client, settings):
    settings.TRCKER_PUBLIC_URL = "http://127.0.0.1:8000"
    settings.TRCKER_MCP_SERVER_NAME = "com.acme.tracking/trcker"
    assert card_name(client) == "com.acme.tracking/trcker"
    entry = client.get("/.well-known/ai-catalog.json").json()["entries"][0]
    assert entry["identifier"] == "urn:air:tracking.acme.com:trcker:mcp"


def test_the_ai_catalog_publisher_is_never_an_ip_address(db, client, settings):
    settings.TRCKER_PUBLIC_URL = "http://[::1]:8000"
    settings.TRCKER_MCP_SERVER_NAME = ""
    entry = client.get("/.well-known/ai-catalog.json").json()["entries"][0]
    assert entry["identifier"] == "urn:air:trcker.local:trcker:mcp"


def load_settings_with(name: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import trcker_site.settings"],
        cwd=ROOT,
        env={**os.environ, "SECRET_KEY": "x", "TRCKER_MCP_SERVER_NAME": name},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("bad", ["trcker", "com.example/", "com example/trcker", "a/b/c"])
def test_settings_refuse_a_configured_name_outside_the_schema(bad):
    done = load_settings_with(bad)
    assert done.returncode != 0
    assert "TRCKER_MCP_SERVER_NAME must be namespace/name" in done.stderr


def test_settings_take_a_configured_name_inside_the_schema():
    done = load_settings_with("com.example/trcker")
    assert done.returncode == 0, done.stderr
