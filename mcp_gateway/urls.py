from django.urls import include, path
from oauth2_provider import views as oauth_views

from mcp_gateway import apis, discovery, oauth, oauth_registration, partner_oauth

# The built-in authorization server (django-oauth-toolkit) with Trcker's consent page.
oauth_patterns = (
    [
        path("authorize/", partner_oauth.AuthorizeView.as_view(), name="authorize"),
        path("partner/", partner_oauth.partner_start, name="partner-start"),
        path("token/", oauth_views.TokenView.as_view(), name="token"),
        path("revoke_token/", oauth_views.RevokeTokenView.as_view(), name="revoke-token"),
        path("register/", oauth_registration.RegistrationView.as_view(), name="dcr-register"),
        path(
            "register/<str:client_id>/",
            oauth_registration.RegistrationManagementView.as_view(),
            name="dcr-register-management",
        ),
    ],
    "oauth2_provider",
)

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
    path("oauth/", include(oauth_patterns)),
    path(
        ".well-known/oauth-authorization-server",
        oauth.AuthorizationServerMetadataView.as_view(),
        name="oauth-server-metadata",
    ),
    path(
        ".well-known/oauth-protected-resource",
        oauth.ProtectedResourceMetadataView.as_view(),
        name="oauth-resource-metadata",
    ),
    path(
        ".well-known/oauth-protected-resource/api/mcp",
        oauth.ProtectedResourceMetadataView.as_view(),
        name="oauth-resource-metadata-mcp",
    ),
]
