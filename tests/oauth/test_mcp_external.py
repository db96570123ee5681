"""External-issuer mode end to end at the MCP endpoint: a JWT from a real OpenID provider on
loopback, validated against its JWKS, mapped to a brand by its org claim."""

import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from mcp_gateway import oauth_external
from offers.models import Offer
from tests.factories import BrandFactory, OfferFactory
from tests.mcp_gateway.helpers import Mcp


@pytest.fixture
def external(db, settings, oidc_op):
    oauth_external.clear_process_caches()
    settings.TRCKER_OAUTH_ISSUER = oidc_op.issuer
    settings.TRCKER_OAUTH_JWKS_URL = ""
    settings.TRCKER_MCP_RESOURCE_URL = oidc_op.resource
    brand = BrandFactory(slug="acme")
    OfferFactory(brand=brand, slug="spring-sale")
    call_command("set_brand_org", "acme", "acme-org")
    yield oidc_op
    oauth_external.clear_process_caches()


def test_external_jwt_reaches_its_brand_and_writes_are_audited(external, client):
    token = external.client_credentials_token()
    mcp = Mcp(token)
    assert mcp.request("ping").status_code == 200
    result = mcp.call("pause_offer", {"offer_id": "spring-sale"})
    assert result["isError"] is False
    assert Offer.objects.get(slug="spring-sale").status == "paused"
    event = AuditEvent.objects.get(action="offer.pause")
    assert event.actor_label == "mcp:acme"
    assert event.actor_detail["oauth_client"] == "svc"
    metadata = client.get("/.well-known/oauth-authorization-server").json()
    assert metadata["issuer"].rstrip("/") == external.issuer.rstrip("/")
    resource = client.get("/.well-known/oauth-protected-resource/api/mcp").json()
    assert resource["authorization_servers"] == [external.issuer]


def test_external_tokens_for_other_audiences_or_read_only_are_limited(external):
    wrong = Mcp(external.client_credentials_token(resource=external.other_resource)).request("ping")
    assert wrong.status_code == 401
    assert 'error="invalid_token"' in wrong["WWW-Authenticate"]
    read_only = Mcp(external.client_credentials_token(scope="mcp:read"))
    denied = read_only.request(
        "tools/call", {"name": "pause_offer", "arguments": {"offer_id": "spring-sale"}}
    )
    assert denied.status_code == 403
    assert 'error="insufficient_scope"' in denied["WWW-Authenticate"]
