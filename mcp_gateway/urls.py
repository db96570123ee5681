from django.urls import path

from mcp_gateway import apis, discovery

urlpatterns = [
    path("", discovery.homepage, name="home"),
    path("api/mcp", apis.mcp_endpoint, name="mcp"),
    path("api/mcp/server-card", discovery.server_card_view, name="mcp-server-card"),
    path(
        ".well-known/mcp/server-card.json",
        discovery.server_card_view,
        name="well-known-server-card",
    ),
    path(".well-known/mcp-manifest", discovery.manifest_view, name="well-known-mcp-manifest"),
    path(".well-known/mcp-manifest.json", discovery.manifest_view),
    path(".well-known/api-catalog", discovery.api_catalog_view, name="well-known-api-catalog"),
    path(".well-known/ai-catalog.json", discovery.ai_catalog_view, name="well-known-ai-catalog"),
]
