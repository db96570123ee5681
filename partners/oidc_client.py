"""The OpenID Connect relying party of partner portal sign-in, for one brand's provider
(``PartnerSignInProvider``): authorization code flow with PKCE (S256), ``state`` and ``nonce``.

Why not mozilla-django-oidc, which staff SSO uses: its settings are process-wide (one
provider), its callback logs a Django ``User`` in, and it fetches with plain ``requests``. A
partner is no Django user, each brand has its own provider, and the issuer URL is a tenant's
input that must be fetched through Trcker's SSRF guard. So the protocol steps are here, and
the part that is easy to get wrong — the ID token's signature, ``iss``, ``aud``, ``exp`` and
``iat`` — is PyJWT's (already Trcker's JWT library, ``mcp_gateway/oauth_external.py``), with
asymmetric algorithms only. PKCE's S256 challenge is mozilla-django-oidc's helper.

Every fetch (discovery, key set, token, userinfo) goes through ``core.outbound_http``; the
discovery document is cached an hour and the key set five minutes (refetched once when a token
names a key it does not hold: key rotation). Every failure is an ``OidcRefused`` with a stable
code, logged for the operator; the partner sees one refusal page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlencode, urlsplit

import jwt
from django.conf import settings
from django.core.cache import cache
from mozilla_django_oidc.utils import generate_code_challenge

from core import outbound_http
from partners.models import PartnerSignInProvider

logger = logging.getLogger(__name__)

# Asymmetric only: with an HMAC algorithm a token would be "verified" with the client secret,
# which the provider's users never hold but the algorithm-confusion attack exploits.
ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC"}  # the JWK kty each family signs with
LEEWAY_SECONDS = 60
DISCOVERY_TTL_SECONDS = 3600
JWKS_TTL_SECONDS = 300
MAX_DOCUMENT_BYTES = 256 * 1024
HTTP_TIMEOUT_SECONDS = 8
SCOPES = "openid email"
CACHE_PREFIX = "partner-oidc:"


class OidcRefused(Exception):  # noqa: N818 - reads as a verdict, used like one
    """The sign-in cannot go on. ``code`` is stable and safe to log and show."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Endpoints:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str
    token_auth_method: str  # client_secret_basic or client_secret_post


@dataclass(frozen=True)
class Pending:
    """What the browser's session keeps between the redirect and the callback."""

    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class VerifiedIdentity:
    subject: str
    email: str


def _key(kind: str, url: str) -> str:
    return CACHE_PREFIX + kind + ":" + hashlib.sha256(url.encode()).hexdigest()[:40]


def _cache_get(key: str) -> Any:
    try:
        return cache.get(key)
    except Exception as exc:  # a cache outage costs a fetch, not the sign-in
        logger.warning("partner OIDC cache unavailable: %s", type(exc).__name__)
        return None


def _cache_set(key: str, value: Any, ttl: int) -> None:
    try:
        cache.set(key, value, ttl)
    except Exception as exc:
        logger.warning("partner OIDC cache unavailable: %s", type(exc).__name__)


def _fetch_json(
    url: str,
    *,
    what: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    ok_statuses: tuple[int, ...] = (200,),
) -> dict[str, Any]:
    try:
        response = outbound_http.fetch_bounded(
            url,
            max_bytes=MAX_DOCUMENT_BYTES,
            timeout=HTTP_TIMEOUT_SECONDS,
            headers={"Accept": "application/json", **(headers or {})},
            method=method,
            body=body,
        )
    except outbound_http.OutboundRefused as refused:
        raise OidcRefused(f"{what}_unreachable", f"{what}: {refused.message}") from None
    try:
        document = json.loads(response.body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise OidcRefused(f"{what}_invalid", f"{what}: HTTP {response.status}, not a JSON object")
    if response.status not in ok_statuses:
        error = str(document.get("error", ""))[:64]
        raise OidcRefused(f"{what}_refused", f"{what}: HTTP {response.status} {error}".strip())
    return document


def _issuer_spellings(issuer: str) -> tuple[str, str]:
    bare = issuer.rstrip("/")
    return bare, f"{bare}/"


def _endpoint(document: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value:
        if required:
            raise OidcRefused("discovery_invalid", f"the discovery document has no {name}")
        return ""
    try:
        outbound_http.check_url_static(value)
    except outbound_http.OutboundRefused as refused:
        raise OidcRefused("discovery_invalid", f"{name}: {refused.message}") from None
    if urlsplit(value).scheme != "https" and not settings.TRCKER_OUTBOUND_ALLOW_PRIVATE:
        raise OidcRefused("discovery_invalid", f"{name} is not an https URL")
    return value


def endpoints(provider: PartnerSignInProvider) -> Endpoints:
    """The provider's endpoints from its discovery document (OpenID Connect Discovery §4),
    cached. The document must name the configured issuer (§4.3): another server's document
    must not choose the keys our tokens are checked with."""
    configured = provider.issuer
    key = _key("discovery", configured)
    document = _cache_get(key)
    if not isinstance(document, dict):
        url = configured.rstrip("/") + "/.well-known/openid-configuration"
        document = _fetch_json(url, what="discovery")
        _cache_set(key, document, DISCOVERY_TTL_SECONDS)
    issuer = document.get("issuer")
    if not isinstance(issuer, str) or issuer not in _issuer_spellings(configured):
        raise OidcRefused(
            "issuer_mismatch", f"the discovery document names issuer {str(issuer)[:200]!r}"
        )
    methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    basic = not isinstance(methods, list) or "client_secret_basic" in methods
    return Endpoints(
        issuer=issuer,
        authorization_endpoint=_endpoint(document, "authorization_endpoint"),
        token_endpoint=_endpoint(document, "token_endpoint"),
        jwks_uri=_endpoint(document, "jwks_uri"),
        userinfo_endpoint=_endpoint(document, "userinfo_endpoint", required=False),
        token_auth_method="client_secret_basic" if basic else "client_secret_post",
    )


def new_pending() -> Pending:
    return Pending(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        # 64 characters of the unreserved set (RFC 7636 §4.1: 43-128).
        code_verifier=secrets.token_urlsafe(48),
    )


def authorization_url(
    provider: PartnerSignInProvider, found: Endpoints, pending: Pending, redirect_uri: str
) -> str:
    query = urlencode(
        {
            "response_type": "code",
            "client_id": provider.client_id,
            "redirect_uri": redirect_uri,
            "scope": SCOPES,
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": generate_code_challenge(pending.code_verifier, "S256"),
            "code_challenge_method": "S256",
        }
    )
    separator = "&" if urlsplit(found.authorization_endpoint).query else "?"
    return f"{found.authorization_endpoint}{separator}{query}"


def _client_auth(
    provider: PartnerSignInProvider, found: Endpoints
) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, extra form fields) authenticating the client (RFC 6749 §2.3.1)."""
    if found.token_auth_method == "client_secret_post":  # noqa: S105 - a method's name
        return {}, {"client_id": provider.client_id, "client_secret": provider.client_secret}
    # Basic credentials are form-urlencoded first (RFC 6749 §2.3.1).
    pair = f"{quote_plus(provider.client_id)}:{quote_plus(provider.client_secret)}"
    token = base64.b64encode(pair.encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}, {}


def _jwks(found: Endpoints, *, fresh: bool) -> jwt.PyJWKSet:
    key = _key("jwks", found.jwks_uri)
    document = None if fresh else _cache_get(key)
    if not isinstance(document, dict):
        document = _fetch_json(found.jwks_uri, what="jwks")
        _cache_set(key, document, JWKS_TTL_SECONDS)
    try:
        return jwt.PyJWKSet.from_dict(document)
    except jwt.PyJWTError:
        raise OidcRefused("jwks_invalid", "the key set holds no usable key") from None


def _signing_key(found: Endpoints, header: dict[str, Any]) -> jwt.PyJWK:
    kid = header.get("kid")
    for fresh in (False, True):
        usable = [
            key
            for key in _jwks(found, fresh=fresh).keys
            if key.public_key_use in (None, "sig") and (kid is None or key.key_id == kid)
        ]
        if len(usable) == 1 or (kid is not None and usable):
            return usable[0]
    raise OidcRefused("id_token_invalid", "no key of the provider's key set signed the token")


def verify_id_token(
    provider: PartnerSignInProvider, found: Endpoints, id_token: str, nonce: str
) -> dict[str, Any]:
    """The ID token's claims after OpenID Connect Core §3.1.3.7: signature by the provider's
    key, ``iss`` the discovered issuer, ``aud`` containing our client id (and ``azp`` ours when
    there are several audiences), ``exp`` and ``iat`` present and ``exp`` not past, and the
    ``nonce`` this browser's sign-in sent."""
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError:
        raise OidcRefused("id_token_invalid", "the ID token is not a JWT") from None
    algorithm = header.get("alg")
    if algorithm not in ALLOWED_ALGORITHMS:
        raise OidcRefused("id_token_invalid", f"ID token algorithm {str(algorithm)[:20]!r}")
    key = _signing_key(found, header)
    if key.key_type != KEY_TYPES[algorithm[:2]]:
        # An RSA key named by an ES256 header (or the reverse) is not the signer.
        raise OidcRefused("id_token_invalid", "ID token: the key does not fit the algorithm")
    try:
        claims: dict[str, Any] = jwt.decode(
            id_token,
            key.key,
            algorithms=[algorithm],
            audience=provider.client_id,
            issuer=found.issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["iss", "aud", "exp", "iat", "sub"]},
        )
    except (jwt.PyJWTError, TypeError, ValueError) as exc:
        raise OidcRefused("id_token_invalid", f"ID token: {type(exc).__name__}") from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != provider.client_id:
        raise OidcRefused("id_token_invalid", "ID token: azp is not this client")
    token_nonce = claims.get("nonce")
    if not isinstance(token_nonce, str) or not hmac.compare_digest(
        token_nonce.encode(), nonce.encode()
    ):
        raise OidcRefused("nonce_mismatch", "ID token: the nonce is not this sign-in's")
    return claims


def _email_claims(found: Endpoints, claims: dict[str, Any], access_token: object) -> dict[str, Any]:
    """``email`` and ``email_verified`` from the ID token, else from userinfo (many providers
    release them only there for the code flow). A userinfo answer about another subject is
    refused (OpenID Connect Core §5.3.2, token substitution)."""
    if "email" in claims and "email_verified" in claims:
        return claims
    if not found.userinfo_endpoint or not isinstance(access_token, str) or not access_token:
        return claims
    userinfo = _fetch_json(
        found.userinfo_endpoint,
        what="userinfo",
        headers={"Authorization": f"Bearer {access_token}"},
    )
    if userinfo.get("sub") != claims["sub"]:
        raise OidcRefused("userinfo_invalid", "userinfo names another subject")
    return {**claims, **{k: userinfo[k] for k in ("email", "email_verified") if k in userinfo}}


def finish(
    provider: PartnerSignInProvider, pending: Pending, code: str, redirect_uri: str
) -> VerifiedIdentity:
    """Exchange ``code`` (with the PKCE verifier) and return the verified identity: the ID
    token checked, and an address the provider says it verified (``email_verified`` true)."""
    found = endpoints(provider)
    headers, auth_fields = _client_auth(provider, found)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": pending.code_verifier,
        **auth_fields,
    }
    answer = _fetch_json(
        found.token_endpoint,
        what="token",
        method="POST",
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
        body=urlencode(form).encode(),
    )
    id_token = answer.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise OidcRefused("id_token_invalid", "the token answer has no ID token")
    claims = verify_id_token(provider, found, id_token, pending.nonce)
    claims = _email_claims(found, claims, answer.get("access_token"))
    email = claims.get("email")
    verified = claims.get("email_verified")
    # Some providers send the JSON string "true"; anything else is not a verified address.
    if verified is not True and verified != "true":
        raise OidcRefused("email_not_verified", "the provider has not verified the address")
    if not isinstance(email, str) or not email or len(email) > 254:
        raise OidcRefused("email_missing", "the provider released no usable email address")
    return VerifiedIdentity(subject=str(claims["sub"])[:255], email=email)
