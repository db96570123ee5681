"""Discovery documents, generated from the live tool registry so they cannot drift:
the MCP Server Card (SEP-2127 at /api/mcp/server-card, SEP-1649's legacy
/.well-known/mcp/server-card.json, same bytes), the product page's /.well-known/mcp-manifest,
the RFC 9727 API catalog, the AI catalog, and the homepage's RFC 8288 Link header."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from core.client_ip import request_client_ip
from core.links import public_url
from core.rate_limits import count_request
from mcp_gateway.host import INSTRUCTIONS
from mcp_gateway.tools import TOOLS
from mcp_gateway.versions import SUPPORTED_VERSIONS

CARD_MEDIA_TYPE = "application/mcp-server-card+json"
LINKSET_MEDIA_TYPE = 'application/linkset+json; profile="https://www.rfc-editor.org/info/rfc9727"'
DESCRIPTION = "Self-hosted affiliate tracking: offers, partners, clicks, conversions, payouts."


# The server card's ``name`` (the MCP registry's server.json ``name``): "namespace/name", the
# namespace a reverse-DNS domain its publisher controls (``com.example/weather``), at most 200
# characters (a configured name is checked against the schema's pattern in settings.py).
SERVER_NAME_MAX_LENGTH = 200
# Without a DNS name to derive it from (an IP address, localhost, a single-label host):
# .local names are never delegated in the global DNS (RFC 6762), so this claims nobody's
# domain, and an IP address never becomes a "namespace" such as 1.0.0.127.
FALLBACK_SERVER_NAME = "local.trcker/trcker"
_DNS_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def _dns_host(url: str) -> str | None:
    """The host of ``url`` when it is a DNS domain name a namespace can be made of; None for
    IP addresses, localhost and names that are not in the public DNS's shape."""
    try:
        host = urlsplit(url).hostname
    except ValueError:  # an unbalanced IPv6 bracket
        return None
    if not host:
        return None
    host = host.rstrip(".")
    labels = host.split(".")
    if (
        len(labels) < 2
        or labels[-1] == "localhost"
        or labels[-1].isdigit()  # an IPv4 address (IPv6 hosts hold ":", refused below)
        or not all(_DNS_LABEL.match(label) for label in labels)
    ):
        return None
    return host


def server_name() -> str:
    """TRCKER_MCP_SERVER_NAME when set (validated in settings), else the public URL's host in
    reverse-DNS order + "/trcker" (trcker.example.com → com.example.trcker/trcker), else
    FALLBACK_SERVER_NAME."""
    if settings.TRCKER_MCP_SERVER_NAME:
        return settings.TRCKER_MCP_SERVER_NAME
    host = _dns_host(settings.TRCKER_PUBLIC_URL)
    if host is None:
        return FALLBACK_SERVER_NAME
    name = ".".join(reversed(host.split("."))) + "/trcker"
    return name if len(name) <= SERVER_NAME_MAX_LENGTH else FALLBACK_SERVER_NAME


def _publisher() -> str:
    # The AI catalog's publisher: the card's namespace read back as a domain.
    namespace = server_name().split("/", 1)[0]
    return ".".join(reversed(namespace.split(".")))


def server_card() -> dict[str, Any]:
    mcp_url = public_url("/api/mcp")
    return {
        "$schema": "https://static.modelcontextprotocol.io/schemas/v1/server-card.schema.json",
        "name": server_name(),
        "version": settings.TRCKER_VERSION,
        "title": "Trcker",
        "description": DESCRIPTION,
        "websiteUrl": public_url("/"),
        "remotes": [
            {
                "type": "streamable-http",
                "url": mcp_url,
                "supportedProtocolVersions": list(SUPPORTED_VERSIONS),
                "headers": [
                    {
                        "name": "Authorization",
                        "value": "Bearer {api_key}",
                        "isRequired": True,
                        "isSecret": True,
                        "description": "A Trcker brand API key (trk_…)",
                    }
                ],
            }
        ],
        # SEP-1649 fields, kept for scanners that still read them.
        "serverInfo": {"name": "trcker", "title": "Trcker", "version": settings.TRCKER_VERSION},
        "protocolVersion": SUPPORTED_VERSIONS[0],
        "transport": {"type": "streamable-http", "endpoint": "/api/mcp", "url": mcp_url},
        "authentication": {"required": True, "schemes": ["bearer"]},
        "documentationUrl": public_url("/api/docs"),
        "instructions": INSTRUCTIONS,
        "tools": [
            {
                "name": tool.name,
                "title": tool.title,
                "description": tool.description,
                "annotations": tool.annotations.as_dict(tool.title),
            }
            for tool in TOOLS
        ],
    }


def manifest() -> dict[str, Any]:
    card = server_card()
    return {
        "name": "trcker",
        "title": "Trcker",
        "version": settings.TRCKER_VERSION,
        "description": DESCRIPTION,
        "transport": "http",
        "url": card["transport"]["url"],
        "protocolVersions": card["remotes"][0]["supportedProtocolVersions"],
        "authentication": card["authentication"],
        "serverCard": public_url("/api/mcp/server-card"),
        "tools": card["tools"],
    }


def api_catalog() -> dict[str, Any]:
    rest, mcp = public_url("/api/v1"), public_url("/api/mcp")
    return {
        "linkset": [
            {
                "anchor": public_url("/.well-known/api-catalog"),
                "item": [
                    {"href": rest, "title": "Trcker REST API v1"},
                    {"href": mcp, "title": "Trcker MCP server"},
                ],
            },
            {
                "anchor": rest,
                "service-desc": [
                    {
                        "href": public_url("/api/v1/openapi.json"),
                        "type": "application/vnd.oai.openapi+json",
                    }
                ],
                "service-doc": [{"href": public_url("/api/docs"), "type": "text/html"}],
                "status": [{"href": public_url("/api/health"), "type": "application/json"}],
            },
            {
                "anchor": mcp,
                "service-desc": [
                    {"href": public_url("/api/mcp/server-card"), "type": CARD_MEDIA_TYPE}
                ],
                "service-doc": [{"href": public_url("/api/docs"), "type": "text/html"}],
                "status": [{"href": public_url("/api/health"), "type": "application/json"}],
            },
        ]
    }


def ai_catalog() -> dict[str, Any]:
    publisher = _publisher()
    return {
        "version": "1.0",
        "entries": [
            {
                "identifier": f"urn:air:{publisher}:trcker:mcp",
                "type": CARD_MEDIA_TYPE,
                "url": public_url("/api/mcp/server-card"),
                "title": "Trcker MCP server",
                "description": DESCRIPTION,
            }
        ],
    }


def _limited(request: HttpRequest) -> bool:
    ip = request_client_ip(request) or ""
    usage = count_request(
        request, group="discovery", key=f"ip:{ip}", rate=settings.TRCKER_DISCOVERY_RATE
    )
    return usage is not None and usage.limited


def _document(
    build: Callable[[], dict[str, Any]], content_type: str
) -> Callable[[HttpRequest], HttpResponse]:
    def view(request: HttpRequest) -> HttpResponse:
        if request.method == "OPTIONS":
            response = HttpResponse(status=204)
        elif request.method not in ("GET", "HEAD"):
            response = HttpResponse(status=405)
            response["Allow"] = "GET, HEAD, OPTIONS"
        elif _limited(request):
            response = JsonResponse(
                {"error": {"code": "rate_limited", "message": "Too many requests."}}, status=429
            )
            response["Retry-After"] = "60"
        else:
            body = json.dumps(build(), separators=(",", ":"), sort_keys=True).encode()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            if etag in request.headers.get("If-None-Match", ""):
                response = HttpResponse(status=304)
            else:
                response = HttpResponse(
                    b"" if request.method == "HEAD" else body, content_type=content_type
                )
                if request.method == "HEAD":
                    response["Content-Length"] = str(len(body))
            response["ETag"] = etag
            response["Cache-Control"] = "public, max-age=3600"
        response["Access-Control-Allow-Origin"] = "*"
        response["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Content-Type, If-None-Match"
        response["Access-Control-Expose-Headers"] = "ETag"
        response["Link"] = f'<{public_url("/.well-known/api-catalog")}>; rel="api-catalog"'
        return response

    return view


server_card_view = _document(server_card, CARD_MEDIA_TYPE)
manifest_view = _document(manifest, "application/json")
api_catalog_view = _document(api_catalog, LINKSET_MEDIA_TYPE)
ai_catalog_view = _document(ai_catalog, "application/ai-catalog+json")

HOMEPAGE_LINKS = ", ".join(
    [
        '</.well-known/api-catalog>; rel="api-catalog"; type="application/linkset+json"',
        '</api/v1/openapi.json>; rel="service-desc"; type="application/vnd.oai.openapi+json"',
        '</api/docs>; rel="service-doc"; type="text/html"',
        f'</api/mcp/server-card>; rel="describedby"; type="{CARD_MEDIA_TYPE}"; anchor="/api/mcp"',
    ]
)


def homepage(request: HttpRequest) -> HttpResponse:
    response = render(
        request, "home.html", {"tools": list(TOOLS), "mcp_url": public_url("/api/mcp")}
    )
    response["Link"] = HOMEPAGE_LINKS
    return response
