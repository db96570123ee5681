"""OAuth for MCP clients: the resource-server side of /api/mcp, and the pieces of the built-in
authorization server (django-oauth-toolkit) that are Trcker's own — brand-bound scopes, the
consent page (``oauth_consent.py``), the discovery documents, one-use authorization codes
whose replay revokes what they issued, and client ID metadata documents fetched through
Trcker's SSRF guard.

A token is bound to one brand by a ``brand:<slug>`` scope chosen on the consent page, and to
this MCP endpoint by its RFC 8707 ``resource`` (the canonical MCP URL). It grants at most what
its user may do in that brand today: an analyst's token never writes, and a token whose user
left the brand stops working."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import urllib3
from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from oauth2_provider import cimd
from oauth2_provider.cimd import SafeMetadataFetcher
from oauth2_provider.models import (
    get_access_token_model,
    get_refresh_token_model,
)
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import BaseScopes
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views import OAuthProtectedResourceMetadataView
from oauth2_provider.views.metadata import OAuthServerMetadataView
from oauthlib.oauth2.rfc6749 import errors as oauth_errors

from brands.models import WRITE_ROLES, Brand
from brands.selectors import staff_roles_for_user
from core import outbound_http
from core.errors import AuthenticationError, DomainError
from core.links import public_url
from mcp_gateway.models import SpentAuthorizationCode
from mcp_gateway.partner_grants import PARTNER_SCOPE_PREFIX, identity_for_user, partner_scope
from partners.models import PartnerStatus

logger = logging.getLogger(__name__)

READ_SCOPE = "mcp:read"
WRITE_SCOPE = "mcp:write"
BRAND_SCOPE_PREFIX = "brand:"
SCOPES = {
    READ_SCOPE: "Read this brand's offers, partners, conversions and stats",
    WRITE_SCOPE: "Change this brand's offers, partners, conversions and payouts",
}


def mcp_resource_url() -> str:
    """The canonical MCP URL: the token audience and the protected-resource identifier."""
    return settings.TRCKER_MCP_RESOURCE_URL or public_url("/api/mcp")


def resource_metadata_url() -> str:
    return public_url("/.well-known/oauth-protected-resource/api/mcp")


def external_issuer() -> str:
    return settings.TRCKER_OAUTH_ISSUER


# --- scopes ------------------------------------------------------------------------------


class _ScopeDescriptions(dict):
    def __missing__(self, key: str) -> str:
        if key.startswith(BRAND_SCOPE_PREFIX):
            return f"Act on brand {key[len(BRAND_SCOPE_PREFIX) :]}"
        if key.startswith(PARTNER_SCOPE_PREFIX):
            return f"Act as partner {key[len(PARTNER_SCOPE_PREFIX) :]}"
        raise KeyError(key)


class BrandScopes(BaseScopes):
    """mcp:read / mcp:write, plus brand:<slug> for the brands the signing-in user belongs to."""

    def get_all_scopes(self) -> dict[str, str]:
        return _ScopeDescriptions(SCOPES)

    def get_available_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        scopes = [READ_SCOPE, WRITE_SCOPE]
        user = getattr(request, "user", None)
        if user is not None and getattr(user, "is_authenticated", False):
            slugs = Brand.objects.filter(pk__in=staff_roles_for_user(user)).values_list(
                "slug", flat=True
            )
            scopes += [f"{BRAND_SCOPE_PREFIX}{slug}" for slug in slugs]
        # A partner's grant user (partner_grants.py) may hold the one partner scope naming it.
        identity = identity_for_user(getattr(user, "pk", None))
        if identity is not None:
            scopes.append(partner_scope(identity.brand.slug, identity.partner_id))
        return scopes

    def get_default_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        return [READ_SCOPE]


def exact_resource_validator(request_uri: str, audiences: list[str]) -> bool:
    # RFC 8707: the token must name this resource exactly (no prefix matching).
    return request_uri in audiences


# --- discovery documents ---------------------------------------------------------------------


class ProtectedResourceMetadataView(OAuthProtectedResourceMetadataView):
    """RFC 9728 for /api/mcp, at the path-inserted and the root well-known URIs."""

    def get_resource(self, request: HttpRequest) -> str:
        return mcp_resource_url()

    def get_authorization_servers(self, request: HttpRequest) -> list[str]:
        return [external_issuer() or settings.TRCKER_PUBLIC_URL]

    def get_scopes_supported(self) -> list[str]:
        # Minimal on purpose (MCP 2025-11-25): write access is asked for by step-up (403
        # insufficient_scope) when a write tool is called.
        return [READ_SCOPE]

    def get_resource_name(self) -> str:
        return "Trcker MCP"

    def get_resource_documentation(self) -> str:
        return public_url("/api/docs")


class AuthorizationServerMetadataView(OAuthServerMetadataView):
    """RFC 8414: the built-in server's own metadata, or the external issuer's when one is
    configured (for 2025-03-26-era clients that look at the MCP origin)."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if external_issuer():
            from mcp_gateway.oauth_external import issuer_metadata

            try:
                return JsonResponse(issuer_metadata())
            except DomainError as exc:
                return JsonResponse(
                    {"error": exc.code, "error_description": exc.message}, status=503
                )
        return super().get(request, *args, **kwargs)


def builtin_server_metadata(request: HttpRequest) -> dict[str, Any]:
    """The built-in server's RFC 8414 document exactly as the well-known view renders it, so
    registration accepts only what discovery offers and the two cannot drift apart."""
    view = OAuthServerMetadataView()
    view.setup(request)
    return json.loads(view.get(request).content)


# --- client ID metadata documents -----------------------------------------------------------


class GuardedMetadataFetcher(SafeMetadataFetcher):
    """The library's CIMD fetcher with Trcker's SSRF guard in place of its own address check
    (``ipaddress.is_global``, which lets 192.0.0.8 and NAT64/6to4 forms through on some
    CPython releases). The spec's URL rules and the document checks stay the library's."""

    def fetch(self, client_id: str) -> tuple[dict[str, Any], int]:
        cimd._validate_client_id_url(client_id)  # https, a path, no userinfo or fragment
        try:
            target = outbound_http.resolve_and_check(client_id)
        except outbound_http.OutboundRefused as refused:
            raise cimd.CIMDError(f"client_id URL refused: {refused.code}") from None
        path = target.parts.path + (f"?{target.parts.query}" if target.parts.query else "")
        seconds = oauth2_settings.CIMD_FETCH_TIMEOUT_SECONDS
        # total= bounds connect and every read together: a slow-drip body cannot hold the
        # authorization request past the library's own fetch timeout.
        pool = outbound_http.connection_pool(target, urllib3.Timeout(total=seconds))
        try:
            response = pool.urlopen(
                "GET",
                path,
                headers={
                    "Host": target.parts.netloc,
                    "Accept": "application/json, application/*+json",
                    "User-Agent": outbound_http.USER_AGENT,
                },
                redirect=False,
                preload_content=False,
                retries=False,
            )
            try:
                return self._read_document(response)
            finally:
                response.release_conn()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise cimd.CIMDError(
                f"could not fetch client_id document: {type(exc).__name__}"
            ) from None
        finally:
            pool.close()


# --- authorization codes: one use, and a replay revokes ------------------------------------


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class _CodeSpentConcurrently(Exception):  # noqa: N818 - internal signal, never leaves this module
    pass


class _CodeAlreadyUsed(oauth_errors.InvalidGrantError):
    """invalid_grant raised from save_token, outside the grant handler that adds the JSON
    headers to errors it catches itself: without these the body goes out as text/html."""

    @property
    def headers(self) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "Cache-Control": "no-store",
            "Pragma": "no-cache",
        }


def revoke_tokens_from_code(code: str) -> bool:
    """Revoke every token issued from ``code`` (the first access token and the whole rotated
    refresh-token family). True when the code had been exchanged before."""
    with transaction.atomic():
        spent = (
            SpentAuthorizationCode.objects.select_for_update()
            .filter(code_hash=_code_hash(code))
            .first()
        )
        if spent is None:
            return False
        if spent.token_family:
            get_refresh_token_model().revoke_family(spent.token_family)
        if spent.access_token_checksum:
            get_access_token_model().objects.filter(
                token_checksum=spent.access_token_checksum
            ).delete()
        spent.replayed_at = timezone.now()
        spent.save(update_fields=["replayed_at"])
    logger.warning(
        "authorization code %s presented again; its tokens are revoked", spent.code_hash[:12]
    )
    return True


class CodeReplayValidator(OAuth2Validator):
    """django-oauth-toolkit's validator, plus RFC 6749 §4.1.2: "If an authorization code is
    used more than once, the authorization server MUST deny the request and SHOULD revoke
    (when possible) all tokens previously issued based on that authorization code." The
    library deletes the Grant on exchange and so cannot tell a replay from a made-up code; a
    SpentAuthorizationCode row remembers each exchange."""

    def validate_code(self, client_id: str, code: str, client: Any, request: Any, *a, **kw) -> bool:
        if super().validate_code(client_id, code, client, request, *a, **kw):
            return True
        # Whichever client presents it: only a holder of the code can, and revoking is what
        # protects the user when that holder is an attacker.
        revoke_tokens_from_code(code)
        return False

    def save_bearer_token(self, token: dict, request: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().save_bearer_token(token, request, *args, **kwargs)
        except _CodeSpentConcurrently:
            # Two exchanges of one code raced and this one lost: its own tokens were rolled
            # back with the transaction; the winner's are revoked here, after it.
            revoke_tokens_from_code(request.code)
            raise _CodeAlreadyUsed(
                description="The authorization code has already been used.", request=request
            ) from None

    def _create_access_token(self, expires: Any, request: Any, token: dict, *args, **kwargs):
        access_token = super()._create_access_token(expires, request, token, *args, **kwargs)
        if request.grant_type == "authorization_code" and not token.get("refresh_token"):
            self._remember_code(request, access_token, None)  # else: with its refresh token
        return access_token

    def _create_refresh_token(self, request: Any, refresh_token_code: str, access_token, *args):
        refresh_token = super()._create_refresh_token(
            request, refresh_token_code, access_token, *args
        )
        if request.grant_type == "authorization_code":
            self._remember_code(request, access_token, refresh_token.token_family)
        return refresh_token

    def _remember_code(self, request: Any, access_token: Any, token_family: Any) -> None:
        try:
            with transaction.atomic():  # a savepoint: the outer token transaction survives
                SpentAuthorizationCode.objects.create(
                    code_hash=_code_hash(request.code),
                    access_token_checksum=access_token.token_checksum or "",
                    token_family=token_family,
                )
        except IntegrityError:
            raise _CodeSpentConcurrently from None


# --- resource server -------------------------------------------------------------------------


@dataclass(frozen=True)
class OAuthCaller:
    brand: Brand
    scopes: frozenset[str]  # effective: the token's, capped by the user's role
    user_id: int | None
    client_id: str
    subject: str
    partner_id: int | None = None  # set: a partner's token (partner tools only)


def _scopes_for_role(scopes: set[str], role: str | None) -> frozenset[str]:
    effective = {scope for scope in scopes if scope in (READ_SCOPE, WRITE_SCOPE)}
    if role not in WRITE_ROLES:
        effective.discard(WRITE_SCOPE)
    return frozenset(effective)


def authenticate_oauth_token(token: str) -> OAuthCaller:
    """Validate a bearer token issued for this MCP endpoint; AuthenticationError otherwise."""
    if external_issuer():
        return _authenticate_external(token)
    access_token = (
        get_access_token_model()
        .objects.select_related("application", "user")
        .filter(token_checksum=hashlib.sha256(token.encode()).hexdigest())
        .first()
    )
    if access_token is None:
        raise AuthenticationError("Unknown or revoked access token.", code="invalid_token")
    if access_token.expires <= timezone.now():
        raise AuthenticationError("The access token has expired.", code="invalid_token")
    if mcp_resource_url() not in (access_token.resource or []):
        raise AuthenticationError(
            "The access token was not issued for this MCP endpoint (RFC 8707 resource).",
            code="invalid_token",
        )
    scopes = set(access_token.scope.split())
    if any(scope.startswith(PARTNER_SCOPE_PREFIX) for scope in scopes):
        return _partner_caller(access_token, scopes)
    brand_slugs = [
        scope[len(BRAND_SCOPE_PREFIX) :] for scope in scopes if scope.startswith(BRAND_SCOPE_PREFIX)
    ]
    if len(brand_slugs) != 1 or READ_SCOPE not in scopes:
        raise AuthenticationError(
            "The access token is not bound to one brand.", code="invalid_token"
        )
    brand = Brand.objects.filter(slug=brand_slugs[0]).first()
    user = access_token.user
    role = staff_roles_for_user(user).get(brand.pk) if brand and user else None
    if brand is None or role is None:
        raise AuthenticationError(
            "The token's user is no longer a member of its brand.", code="invalid_token"
        )
    return OAuthCaller(
        brand=brand,
        scopes=_scopes_for_role(scopes, role),
        user_id=user.pk,
        client_id=access_token.application.client_id if access_token.application else "",
        subject=f"user:{user.pk}",
    )


def _partner_caller(access_token: Any, scopes: set[str]) -> OAuthCaller:
    """A partner's token: its one partner scope must name the partner its user stands for
    (both set at consent), and the partnership must be active now — a brand pausing or
    rejecting the partner ends every token at its next request."""
    bound = [scope for scope in scopes if scope.startswith(PARTNER_SCOPE_PREFIX)]
    identity = identity_for_user(access_token.user_id)
    if (
        len(bound) != 1
        or READ_SCOPE not in scopes
        or any(scope.startswith(BRAND_SCOPE_PREFIX) for scope in scopes)
        or identity is None
        or partner_scope(identity.brand.slug, identity.partner_id) != bound[0]
    ):
        raise AuthenticationError(
            "The access token is not bound to one partner.", code="invalid_token"
        )
    if identity.partner.status != PartnerStatus.ACTIVE:
        raise AuthenticationError(
            "The token's partner is not an active partner of the brand.", code="invalid_token"
        )
    return OAuthCaller(
        brand=identity.brand,
        scopes=frozenset(scope for scope in scopes if scope in (READ_SCOPE, WRITE_SCOPE)),
        user_id=None,
        client_id=access_token.application.client_id if access_token.application else "",
        subject=f"partner:{identity.partner_id}",
        partner_id=identity.partner_id,
    )


def _authenticate_external(token: str) -> OAuthCaller:
    from mcp_gateway.oauth_external import brand_for_org, validate_external_token

    validated = validate_external_token(token)
    brand = brand_for_org(validated.brand_org)
    scopes = frozenset(scope for scope in validated.scopes if scope in (READ_SCOPE, WRITE_SCOPE))
    if READ_SCOPE not in scopes:
        raise AuthenticationError(
            "The access token lacks the mcp:read scope.", code="invalid_token"
        )
    return OAuthCaller(
        brand=brand,
        scopes=scopes,
        user_id=None,
        client_id=validated.client_id,
        subject=validated.subject,
    )


def challenge(*, error: str | None = None, scope: str = READ_SCOPE, description: str = "") -> str:
    """A WWW-Authenticate value pointing at the protected-resource metadata (RFC 9728 §5.1)."""
    parts = ['realm="trcker"']
    if error:
        parts.append(f'error="{error}"')
    parts.append(f'resource_metadata="{resource_metadata_url()}"')
    parts.append(f'scope="{scope}"')
    if description:
        parts.append(f'error_description="{description}"')
    return "Bearer " + ", ".join(parts)
