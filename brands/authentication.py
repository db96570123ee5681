"""DRF authentication with a brand API key (``Authorization: Bearer trk_…``)."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from audit.actor import Actor, Channel
from brands.models import ApiKey, ApiKeyScope
from brands.services import api_key_authenticate
from core import auth_throttle
from core.errors import AuthenticationError, RateLimitedError


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """What ``request.user`` is for a key-authenticated request (no Django user behind it)."""

    api_key: ApiKey
    is_authenticated: bool = True
    is_anonymous: bool = False

    @property
    def pk(self) -> None:
        return None


def bearer_token(request: Request) -> str | None:
    header: str = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


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
        if "access_token" in request.query_params or "api_key" in request.query_params:
            # Credentials in URLs end up in logs and browser history: refuse them outright.
            raise exceptions.AuthenticationFailed(
                "Send the API key in the Authorization header, never in the query string."
            )
        token = bearer_token(request)
        if token is None:
            return None
        # An IP over its failed-authentication budget is refused before the key is looked at,
        # so guessing keys costs the guesser and not us (core/auth_throttle.py).
        wait = auth_throttle.retry_after(request, auth_throttle.BEARER)
        if wait is not None:
            raise RateLimitedError(auth_throttle.too_many_message(wait), retry_after=wait)
        try:
            key = api_key_authenticate(token)
        except AuthenticationError as exc:
            auth_throttle.record_failure(request, auth_throttle.BEARER)
            raise exceptions.AuthenticationFailed(exc.message, code=exc.code) from None
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
