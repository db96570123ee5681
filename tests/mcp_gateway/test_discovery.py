import pytest

from mcp_gateway.tools import TOOLS


@pytest.mark.parametrize("path", ["/api/mcp/server-card", "/.well-known/mcp/server-card.json"])
def test_server_card_is_generated_from_the_live_registry(db, client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/mcp-server-card+json"
    card = response.json()
    assert card["$schema"].endswith("server-card.schema.json")
    assert card["remotes"][0]["url"].endswith("/api/mcp")
    assert "2026-07-28" in card["remotes"][0]["supportedProtocolVersions"]
    assert [tool["name"] for tool in card["tools"]] == [tool.name for tool in TOOLS]
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cache-Control"] == "public, max-age=3600"
    assert response["ETag"]


def test_both_card_paths_serve_the_same_bytes_and_honour_etags(db, client):
    first = client.get("/api/mcp/server-card")
    second = client.get("/.well-known/mcp/server-card.json")
    assert first.content == second.content
    cached = client.get("/api/mcp/server-card", HTTP_IF_NONE_MATCH=first["ETag"])
    assert (cached.status_code, cached.content) == (304, b"")


def test_manifest_and_ai_catalog(db, client):
    manifest = client.get("/.well-known/mcp-manifest").json()
    assert manifest["url"].endswith("/api/mcp")
    assert len(manifest["tools"]) == len(TOOLS)
    catalog = client.get("/.well-known/ai-catalog.json")
    assert catalog["Content-Type"] == "application/ai-catalog+json"
    assert catalog.json()["entries"][0]["type"] == "application/mcp-server-card+json"


def test_api_catalog_is_an_rfc9727_linkset_on_get_and_head(db, client):
    response = client.get("/.well-known/api-catalog")
    assert (
        response["Content-Type"]
        == 'application/linkset+json; profile="https://www.rfc-editor.org/info/rfc9727"'
    )
    linkset = response.json()["linkset"]
    items = {item["href"].rsplit("/", 1)[-1] for item in linkset[0]["item"]}
    assert items == {"v1", "mcp"}
    rest = next(entry for entry in linkset if entry["anchor"].endswith("/api/v1"))
    assert rest["service-desc"][0]["href"].endswith("/api/v1/openapi.json")
    assert rest["service-doc"][0]["href"].endswith("/api/docs")
    assert rest["status"][0]["href"].endswith("/api/health")
    head = client.head("/.well-known/api-catalog")
    assert head.status_code == 200
    assert head.content == b""
    assert 'rel="api-catalog"' in head["Link"]


def test_homepage_link_header_points_to_catalog_and_card(db, client):
    response = client.get("/")
    assert response.status_code == 200
    link = response["Link"]
    assert '</.well-known/api-catalog>; rel="api-catalog"' in link
    assert '</api/mcp/server-card>; rel="describedby"' in link
    assert b"get_top_publishers" in response.content


def test_discovery_is_rate_limited_separately(db, client, settings):
    settings.TRCKER_DISCOVERY_RATE = "2/m"
    codes = [client.get("/api/mcp/server-card").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_docs_describe_every_registered_tool():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "mcp.md").read_text()
    missing = [tool.name for tool in TOOLS if f"### `{tool.name}`" not in text]
    assert missing == []
