"""The baseline of the MCP benchmark: the official MCP Python SDK's server (`MCPServer`,
stateless, JSON responses) exposing the two benchmarked tools over the very selectors and
serializers Trcker's own tools call. Served by uvicorn from bench/mcp_bench.py."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trcker_site.settings")

import django

django.setup()

from asgiref.sync import sync_to_async  # noqa: E402
from mcp.server import MCPServer  # noqa: E402

from audit.actor import Actor  # noqa: E402
from brands.models import Brand  # noqa: E402
from conversions.serializers import TopPublishersReportOutput  # noqa: E402
from conversions.stats import top_publishers_report  # noqa: E402
from offers.selectors import offer_get_for_actor  # noqa: E402
from offers.serializers import OfferOutput  # noqa: E402

BRAND = os.environ.get("BENCH_MCP_BRAND", "bench-http")
server = MCPServer("baseline")


def _actor() -> Actor:
    brand = Brand.objects.get(slug=BRAND)
    return Actor.system(brand_id=brand.pk, brand_slug=brand.slug, name="baseline")


def _offer_config(offer_id: str) -> dict:
    return dict(OfferOutput(offer_get_for_actor(actor=_actor(), offer_id=offer_id)).data)


def _top_publishers(metric: str, limit: int) -> dict:
    report = top_publishers_report(actor=_actor(), metric=metric, limit=limit)
    return dict(TopPublishersReportOutput(report).data)


@server.tool()
async def get_offer_config(offer_id: str) -> dict:
    """One offer's configuration."""
    return await sync_to_async(_offer_config, thread_sensitive=False)(offer_id)


@server.tool()
async def get_top_publishers(metric: str = "revenue", limit: int = 10) -> dict:
    """Partners ranked by a metric."""
    return await sync_to_async(_top_publishers, thread_sensitive=False)(metric, limit)


app = server.streamable_http_app(stateless_http=True, json_response=True)
