"""DRF authentication with a brand API key (``Authorization: Bearer trk_…``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.http import HttpRequest
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from audit.actor import Actor, Channel
from brands.models import ApiKey, ApiKeyScope
from brands.services import api_key_authenticate
from core import auth_throttle
from core.errors import AuthenticationError, RateLimitedError

K = TypeVar("K")


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """What ``request.user`` is for a key-authenticated request (no Django user behind it)."""

    api_key: ApiKey
    is_authenticated: bool = True
    is_anonymous: bool = False

    @property
    def pk(self) -> None:
        return None


KEY_IN_QUERY = "Send the API key in the Authorization header, never in the query string."


def bearer_token(request: Request) -> str | None:
    """The bearer token of the Authorization header (None without one). A key in the query
    string is refused outright: credentials in URLs end up in logs and browser history."""
    if "access_token" in request.query_params or "api_key" in request.query_params:
        raise exceptions.AuthenticationFailed(KEY_IN_QUERY)
    header: str = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def throttled_authenticate(request: Request, token: str, authenticate: Callable[[str], K]) -> K:
    """``authenticate(token)`` behind the failed-authentication budget, for every kind of key:
    an IP over its budget is refused before the key is looked at, so guessing keys costs the
    guesser and not us (core/auth_throttle.py), and each refusal is charged to it."""
    wait = auth_throttle.retry_after(request, auth_throttle.BEARER)
    if wait is not None:
        raise RateLimitedError(auth_throttle.too_many_message(wait), retry_after=wait)
    try:
        return authenticate(token)
    except AuthenticationError as exc:
        auth_throttle.record_failure(request, auth_throttle.BEARER)
        raise exceptions.AuthenticationFailed(exc.message, code=exc.code) from None


def actor_for_api_key(key: ApiKey, *, channel: Channel, request: HttpRequest | Request) -> Actor:
    """The actor of a request made with ``key`` (REST and MCP): what of the key it records is
    the brand's to read, how it is labelled is ``Actor.for_api_key``'s."""
    return Actor.for_api_key(
        key_id=key.pk,
        prefix=key.prefix,
        brand_id=key.brand.pk,
        brand_slug=key.brand.slug,
        write=key.scope == ApiKeyScope.READ_WRITE,
        channel=channel,
        request=request,
    )


class ApiKeyAuthentication(authentication.BaseAuthentication):
    www_authenticate_realm = "trcker"

    def authenticate(self, request: Request) -> tuple[ApiKeyPrincipal, ApiKey] | None:
        token = bearer_token(request)
        if token is None:
            return None
        key = throttled_authenticate(request, token, api_key_authenticate)
        return ApiKeyPrincipal(api_key=key), key

    def authenticate_header(self, request: Request) -> str:
        return f'Bearer realm="{self.www_authenticate_realm}"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents the bearer key in the OpenAPI document (and the docs page's Authorize box)."""

    target_class = ApiKeyAuthentication
    name = "ApiKeyBearer"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "trk_<prefix>_<secret>",
            "description": (
                "A brand API key. Create one in the admin or with manage.py create_api_key."
            ),
        }
