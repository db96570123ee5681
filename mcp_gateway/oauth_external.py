"""Bearer JWTs for /api/mcp issued by the operator's own authorization server.

In external-issuer mode Trcker is only an OAuth *resource server*: WorkOS AuthKit, Okta,
Keycloak, Auth0 (or any RFC 8414 issuer) authenticates the agent's user and mints an RFC 9068
JWT access token whose audience is Trcker's MCP URL (RFC 8707 resource indicator, required by
the MCP authorization spec). Validation is local — signature against the issuer's JWKS, then
``iss``/``aud``/``exp`` — so a tool call costs no round trip to the issuer; the price is that
a revoked token stays valid until it expires, so issuers should keep access-token lifetimes
short. The brand comes from an organization claim matched against ``Brand.external_org_id``.

Settings (read with defaults, so the module imports before they exist):
``TRCKER_OAUTH_ISSUER``, ``TRCKER_OAUTH_JWKS_URL``, ``TRCKER_OAUTH_ORG_CLAIM``,
``TRCKER_MCP_RESOURCE_URL``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt
import requests
from django.conf import settings
from django.core.cache import cache

from brands.models import Brand
from core.errors import AuthenticationError, ServiceUnavailableError

logger = logging.getLogger(__name__)

# Asymmetric only: an HS256 token would be "verified" with whatever secret we hold, and
# "none" with nothing (the classic algorithm-confusion attacks).
ALLOWED_ALGORITHMS = ("RS256", "ES256")
LEEWAY_SECONDS = 30
HTTP_TIMEOUT_SECONDS = 5
JWKS_LIFESPAN_SECONDS = 300
METADATA_TTL_SECONDS = 3600
METADATA_CACHE_PREFIX = "oauth:issuer-metadata:"

# Used only when the shared cache is unreachable, so a Redis outage does not turn into an
# issuer round trip on every MCP request. Per process, like the JWKS client below.
_memory_metadata: dict[str, tuple[float, dict[str, Any]]] = {}
_memory_lock = threading.Lock()


@dataclass(frozen=True)
class ExternalToken:
    subject: str
    brand_org: str
    scopes: frozenset[str]
    client_id: str
    claims: dict


def _issuer() -> str:
    return getattr(settings, "TRCKER_OAUTH_ISSUER", "") or ""


def _issuer_spellings(issuer: str) -> tuple[str, str]:
    """The issuer with and without a trailing slash. Auth0's ``iss`` ends in "/", Okta's and
    Keycloak's do not, and settings may strip it; the slash never names a different server."""
    bare = issuer.rstrip("/")
    return bare, f"{bare}/"


def _org_claim() -> str:
    return getattr(settings, "TRCKER_OAUTH_ORG_CLAIM", "") or "org"


def mcp_resource_url() -> str:
    default = f"{settings.TRCKER_PUBLIC_URL.rstrip('/')}/api/mcp"
    return getattr(settings, "TRCKER_MCP_RESOURCE_URL", "") or default


def metadata_cache_key(issuer: str) -> str:
    return METADATA_CACHE_PREFIX + hashlib.sha256(issuer.encode()).hexdigest()[:32]


def _metadata_urls(issuer: str) -> list[str]:
    """Where an issuer may publish its metadata. Okta, Keycloak and WorkOS append the
    well-known path to the issuer; RFC 8414 §3.1 inserts it before the issuer's path; OIDC-only
    providers publish just openid-configuration."""
    base = issuer.rstrip("/")
    urls = [f"{base}/.well-known/oauth-authorization-server"]
    parts = urlsplit(base)
    if parts.path not in ("", "/"):
        urls.append(
            urlunsplit(
                (
                    parts.scheme,
                    parts.netloc,
                    "/.well-known/oauth-authorization-server" + parts.path,
                    "",
                    "",
                )
            )
        )
    urls.append(f"{base}/.well-known/openid-configuration")
    return urls


def _fetch_metadata(issuer: str) -> dict[str, Any]:
    # Plain requests, not core.outbound_http: the issuer URL comes from the operator's
    # configuration, not from a tenant, and may legitimately be on a private network.
    reached = False
    for url in _metadata_urls(issuer):
        try:
            response = requests.get(
                url, timeout=HTTP_TIMEOUT_SECONDS, headers={"Accept": "application/json"}
            )
        except requests.RequestException as exc:
            logger.warning("OAuth issuer metadata %s unreachable: %s", url, type(exc).__name__)
            continue
        reached = True
        if response.status_code != 200:
            continue
        try:
            document = response.json()
        except ValueError:
            continue
        if not isinstance(document, dict):
            continue
        # RFC 8414 §3.3: the document must name the issuer we asked about, or it is someone
        # else's metadata (and its jwks_uri must not be trusted for our tokens).
        if document.get("issuer") not in _issuer_spellings(issuer):
            raise ServiceUnavailableError(
                f"The OAuth issuer metadata at {url} names issuer {document.get('issuer')!r}, "
                f"not the configured TRCKER_OAUTH_ISSUER {issuer!r}; set TRCKER_OAUTH_ISSUER "
                "to the issuer's 'iss' value.",
                code="oauth_issuer_mismatch",
            )
        return document
    if reached:
        message = (
            f"The OAuth issuer {issuer} publishes no metadata at /.well-known/"
            "oauth-authorization-server or /.well-known/openid-configuration."
        )
    else:
        message = f"The OAuth issuer {issuer} cannot be reached; try again shortly."
    raise ServiceUnavailableError(message, code="oauth_issuer_unavailable")


def issuer_metadata() -> dict[str, Any]:
    """The configured issuer's RFC 8414 (or OIDC discovery) metadata, cached for an hour."""
    issuer = _issuer()
    if not issuer:
        raise ServiceUnavailableError(
            "No external OAuth issuer is configured (TRCKER_OAUTH_ISSUER is empty).",
            code="oauth_issuer_not_configured",
        )
    key = metadata_cache_key(issuer)
    cache_ok = True
    try:
        cached = cache.get(key)
    except Exception as exc:
        cache_ok = False
        cached = None
        logger.warning("Cache unavailable for OAuth issuer metadata: %s", type(exc).__name__)
    if cached is not None:
        return cached
    if not cache_ok:
        with _memory_lock:
            remembered = _memory_metadata.get(issuer)
        if remembered is not None and time.monotonic() - remembered[0] < METADATA_TTL_SECONDS:
            return remembered[1]
    document = _fetch_metadata(issuer)
    with _memory_lock:
        _memory_metadata[issuer] = (time.monotonic(), document)
    if cache_ok:
        try:
            cache.set(key, document, METADATA_TTL_SECONDS)
        except Exception as exc:
            logger.warning("Could not cache OAuth issuer metadata: %s", type(exc).__name__)
    return document


def _jwks_url() -> str:
    configured = getattr(settings, "TRCKER_OAUTH_JWKS_URL", "") or ""
    if configured:
        return configured
    jwks_uri = issuer_metadata().get("jwks_uri")
    if not isinstance(jwks_uri, str) or not jwks_uri:
        raise ServiceUnavailableError(
            f"The OAuth issuer {_issuer()} publishes no jwks_uri; set TRCKER_OAUTH_JWKS_URL.",
            code="oauth_issuer_unavailable",
        )
    return jwks_uri


@functools.lru_cache(maxsize=8)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    # One client per URL and process: it caches the key set for its lifespan and refetches
    # once when a token names a kid it has not seen (key rotation at the issuer).
    return jwt.PyJWKClient(
        url, cache_keys=True, lifespan=JWKS_LIFESPAN_SECONDS, timeout=HTTP_TIMEOUT_SECONDS
    )


def clear_process_caches() -> None:
    """Forget this process's JWKS clients and remembered issuer metadata (the shared cache's
    copy is untouched): for tests that change the issuer between cases."""
    _jwks_client.cache_clear()
    with _memory_lock:
        _memory_metadata.clear()


def _invalid(message: str) -> AuthenticationError:
    return AuthenticationError(message, code="invalid_token")


def _signing_key(token: str) -> jwt.PyJWK:
    client = _jwks_client(_jwks_url())
    try:
        return client.get_signing_key_from_jwt(token)
    except jwt.PyJWKClientConnectionError:
        raise ServiceUnavailableError(
            f"The OAuth issuer's key set ({client.uri}) cannot be fetched; try again shortly.",
            code="oauth_issuer_unavailable",
        ) from None
    except jwt.PyJWKClientError:
        raise _invalid(
            "The access token is signed with a key the issuer does not publish."
        ) from None
    except jwt.DecodeError:
        raise _invalid("The access token is not a well-formed JWT.") from None


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    raw = claims.get("scope")
    if raw is None:
        raw = claims.get("scp")  # Okta and Azure AD
    if isinstance(raw, str):
        return frozenset(raw.split())
    if isinstance(raw, list | tuple):
        return frozenset(item for item in raw if isinstance(item, str) and item)
    return frozenset()


def _single_org(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    # Keycloak's organization mapper emits a list even for one membership; a token for
    # several organizations cannot say which brand the agent acts for, so it is refused.
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str) and value[0]:
        return value[0]
    return None


def validate_external_token(token: str) -> ExternalToken:
    """Check an external issuer's JWT access token for the MCP endpoint.

    Raises ``AuthenticationError(code="invalid_token")`` naming what is wrong (never echoing
    the token), or ``ServiceUnavailableError`` when the issuer's metadata or keys cannot be
    fetched — that is our outage, not the client's bad credential, so it must not read as 401.
    """
    issuer = _issuer()
    if not issuer:
        raise _invalid("External OAuth access tokens are not accepted on this server.")
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise _invalid("The access token is not a well-formed JWT.") from None
    if header.get("alg") not in ALLOWED_ALGORITHMS:
        raise _invalid(
            f"The access token's signing algorithm is not accepted (use "
            f"{' or '.join(ALLOWED_ALGORITHMS)})."
        )
    # Checked before any key lookup, so a token from a foreign issuer costs no JWKS fetch.
    accepted_issuers = _issuer_spellings(issuer)
    if unverified.get("iss") not in accepted_issuers:
        raise _invalid("The access token was issued by an unknown issuer.")

    key = _signing_key(token)
    audience = mcp_resource_url()
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=list(ALLOWED_ALGORITHMS),
            audience=audience,
            issuer=accepted_issuers,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise _invalid("The access token has expired.") from None
    except jwt.InvalidAudienceError:
        raise _invalid(
            f"The access token was not issued for this server (wrong audience; expected "
            f"{audience})."
        ) from None
    except jwt.InvalidIssuerError:
        raise _invalid("The access token was issued by an unknown issuer.") from None
    except jwt.MissingRequiredClaimError as exc:
        raise _invalid(f"The access token has no {exc.claim!r} claim.") from None
    except jwt.ImmatureSignatureError:
        raise _invalid("The access token is not valid yet.") from None
    except jwt.InvalidSignatureError:
        raise _invalid("The access token's signature is invalid.") from None
    except jwt.InvalidAlgorithmError:
        raise _invalid("The access token's signing algorithm is not accepted.") from None
    except jwt.InvalidTokenError as exc:
        raise _invalid(f"The access token is invalid ({type(exc).__name__}).") from None

    org_claim = _org_claim()
    org = _single_org(claims.get(org_claim))
    if org is None:
        raise _invalid(
            f"The access token has no usable organization claim {org_claim!r}; the issuer must "
            "add it (one organization per token) so Trcker can tell which brand it is for."
        )
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise _invalid("The access token's 'sub' claim is empty.")
    client_id = claims.get("client_id") or claims.get("azp") or claims.get("cid") or ""
    return ExternalToken(
        subject=subject,
        brand_org=org,
        scopes=_scopes(claims),
        client_id=str(client_id),
        claims=claims,
    )


def brand_for_org(org: str) -> Brand:
    """The brand whose ``external_org_id`` is exactly ``org``."""
    # A blank org must not match the brands that have no external org id (blank is their
    # "unset" value).
    brand = Brand.objects.filter(external_org_id=org).first() if org else None
    if brand is None:
        raise AuthenticationError(
            "The access token's organization is not linked to any brand on this server; an "
            "operator must set that brand's external organization id.",
            code="unknown_organization",
        )
    return brand
