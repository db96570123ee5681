"""Open dynamic client registration (RFC 7591, RFC 7592) for "add MCP server by URL" clients,
with the bounds the library leaves out: registrations per client IP are rate limited, the
metadata is size-bounded, and only the grant types, response types and token endpoint auth
methods the authorization-server metadata advertises are accepted — anything else is
``invalid_client_metadata`` (400) with a description that names the field.

django-oauth-toolkit's views do the registering; these subclasses only refuse first."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from oauth2_provider.views import (
    DynamicClientRegistrationManagementView,
    DynamicClientRegistrationView,
)

from core.client_ip import request_client_ip
from core.rate_limits import count_request
from mcp_gateway.oauth import builtin_server_metadata

# Generous for any real client (one or two loopback URIs, a name, a logo) and small enough
# that a registration row stays a few kilobytes. Constants, not settings: nobody needs more.
MAX_BODY_BYTES = 16 * 1024  # the library's cap on a client ID metadata document, too
MAX_REDIRECT_URIS = 10
MAX_URI_LENGTH = 2000
MAX_NAME_LENGTH = 200
MAX_CONTACTS = 10
MAX_CONTACT_LENGTH = 320  # an e-mail address at most
# Optional RFC 7591 §2 strings the library ignores but a client may send; bounded all the same.
URI_FIELDS = ("client_uri", "logo_uri", "tos_uri", "policy_uri", "jwks_uri")
SHORT_FIELDS = ("software_id", "software_version", "scope")


class RegistrationRefused(Exception):  # noqa: N818 - reads as a verdict, used like one
    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def _error(error: str, description: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": error, "error_description": description}, status=status)


def _string_list(data: dict[str, Any], field: str) -> list[str] | None:
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RegistrationRefused(f"{field} must be an array of strings.")
    return value


def _bounded_string(data: dict[str, Any], field: str, limit: int) -> None:
    value = data.get(field)
    if value is None:
        return
    if not isinstance(value, str):
        raise RegistrationRefused(f"{field} must be a string.")
    if len(value) > limit:
        raise RegistrationRefused(f"{field} is longer than {limit} characters.")


def check_client_metadata(data: Any, advertised: dict[str, Any]) -> None:
    """Raise RegistrationRefused unless ``data`` is within bounds and asks only for what the
    ``advertised`` RFC 8414 document offers. Defaults are RFC 7591's (§2)."""
    if not isinstance(data, dict):
        raise RegistrationRefused("The request body must be a JSON object.")

    redirect_uris = _string_list(data, "redirect_uris") or []
    if len(redirect_uris) > MAX_REDIRECT_URIS:
        raise RegistrationRefused(f"redirect_uris may list at most {MAX_REDIRECT_URIS} URIs.")
    for uri in redirect_uris:
        if len(uri) > MAX_URI_LENGTH:
            raise RegistrationRefused(
                f"Each redirect URI must be at most {MAX_URI_LENGTH} characters."
            )
    _bounded_string(data, "client_name", MAX_NAME_LENGTH)
    for field in URI_FIELDS:
        _bounded_string(data, field, MAX_URI_LENGTH)
    for field in SHORT_FIELDS:
        _bounded_string(data, field, MAX_NAME_LENGTH)
    contacts = _string_list(data, "contacts") or []
    if len(contacts) > MAX_CONTACTS or any(len(c) > MAX_CONTACT_LENGTH for c in contacts):
        raise RegistrationRefused(
            f"contacts may list at most {MAX_CONTACTS} addresses of at most "
            f"{MAX_CONTACT_LENGTH} characters."
        )

    grant_types = _string_list(data, "grant_types")
    grant_types = ["authorization_code"] if grant_types is None else grant_types
    response_types = _string_list(data, "response_types")
    response_types = ["code"] if response_types is None else response_types
    auth_method = data.get("token_endpoint_auth_method", "client_secret_basic")
    for field, asked, offered_key in (
        ("grant_types", grant_types, "grant_types_supported"),
        ("response_types", response_types, "response_types_supported"),
        ("token_endpoint_auth_method", [auth_method], "token_endpoint_auth_methods_supported"),
    ):
        offered = advertised.get(offered_key) or []
        unsupported = [value for value in asked if value not in offered]
        if unsupported:
            raise RegistrationRefused(
                f"{field}: {', '.join(repr(value) for value in unsupported)} not supported; "
                f"this server offers {', '.join(offered)} ({offered_key} in "
                "/.well-known/oauth-authorization-server)."
            )
    # RFC 7591 §2.1: the "code" response type and the authorization_code grant go together.
    if ("code" in response_types) != ("authorization_code" in grant_types):
        raise RegistrationRefused(
            'response_types "code" and grant_types "authorization_code" must be used together.'
        )


def _refusal(request: HttpRequest) -> HttpResponse | None:
    if len(request.body) > MAX_BODY_BYTES:
        return _error(
            "invalid_client_metadata", f"The request body is larger than {MAX_BODY_BYTES} bytes."
        )
    try:
        data = json.loads(request.body)
    except ValueError:
        return None  # the library answers malformed JSON itself, in the same error shape
    try:
        check_client_metadata(data, builtin_server_metadata(request))
    except RegistrationRefused as refused:
        return _error("invalid_client_metadata", refused.description)
    return None


class RegistrationView(DynamicClientRegistrationView):
    """POST /oauth/register/: rate limited per client IP, then bounded, then registered."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # Every attempt counts, refused ones too: the limit is on what one address may ask.
        ip = request_client_ip(request) or ""
        usage = count_request(request, group="dcr", key=f"ip:{ip}", rate=settings.TRCKER_DCR_RATE)
        if usage is not None and usage.limited:
            response = _error(
                "temporarily_unavailable",
                "Too many client registrations from this address; retry after "
                f"{usage.reset_seconds} seconds.",
                status=429,
            )
            response["Retry-After"] = str(usage.reset_seconds)
            return response
        return _refusal(request) or super().post(request, *args, **kwargs)


class RegistrationManagementView(DynamicClientRegistrationManagementView):
    """RFC 7592 client configuration: an update is held to the same bounds as a registration
    (after the registration token is checked, so an outsider learns nothing from a 400)."""

    def put(self, request: HttpRequest, client_id: str, *args: Any, **kwargs: Any) -> HttpResponse:
        auth = self._authenticate_registration_request(request, client_id)
        if isinstance(auth, HttpResponse):
            return auth
        return _refusal(request) or super().put(request, client_id, *args, **kwargs)
