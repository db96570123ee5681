"""/api/partner/v1/: the partner's own REST surface, derived from ``PARTNER_OPERATIONS`` like
/api/v1/ is from the brand's (docs/partners.md).

Only a partner key (``Authorization: Bearer trkp_…``) authenticates here, and a partner key
authenticates nowhere else on REST: the brand routes take ``trk_`` keys only
(brands/authentication.py refuses anything else as malformed). A brand key sent here gets a
401 saying which key this API takes: it names no data, and the caller holds the key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NoReturn

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import authentication, exceptions
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from audit.actor import Channel
from brands.authentication import bearer_token, throttled_authenticate
from conversions.partner_selectors import partner_statement
from conversions.statements import statement_content_disposition
from core.errors import AuthenticationError, NotFoundError
from core.rate_limits import count_request
from operations.lookups import PAYOUT_ID
from partners.api_keys import actor_for_partner_key, partner_api_key_authenticate
from partners.models import PartnerApiKey
from rest_api.base import CREDENTIAL_BUDGET
from rest_api.operations import OperationApi

BRAND_KEY_HERE = (
    "This is a brand API key (trk_…); the partner API takes a partner key (trkp_…). "
    "Brand keys work on /api/v1/."
)


@dataclass(frozen=True)
class PartnerKeyPrincipal:
    """What ``request.user`` is for a partner-key request (no Django user behind it)."""

    api_key: PartnerApiKey
    is_authenticated: bool = True
    is_anonymous: bool = False

    @property
    def pk(self) -> None:
        return None


def _partner_key(token: str) -> PartnerApiKey:
    if token.startswith("trk_"):  # refused, and charged to the budget, like any wrong key
        raise AuthenticationError(BRAND_KEY_HERE, code="brand_key_on_partner_api")
    return partner_api_key_authenticate(token)


class PartnerKeyAuthentication(authentication.BaseAuthentication):
    www_authenticate_realm = "trcker-partner"

    def authenticate(self, request: Request) -> tuple[PartnerKeyPrincipal, PartnerApiKey] | None:
        token = bearer_token(request)
        if token is None:
            return None
        key = throttled_authenticate(request, token, _partner_key)
        return PartnerKeyPrincipal(api_key=key), key

    def authenticate_header(self, request: Request) -> str:
        return f'Bearer realm="{self.www_authenticate_realm}"'


class PartnerKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = PartnerKeyAuthentication
    name = "PartnerKeyBearer"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "trkp_<prefix>_<secret>",
            "description": "A partner-scoped key, made by the brand for one partner "
            "(POST /api/v1/partners/{partner_id}/api-keys/). Only /api/partner/v1/ takes it.",
        }


class PartnerKeyRateThrottle(BaseThrottle):
    """TRCKER_API_RATE per partner key, in the same budget as the key's MCP calls."""

    def allow_request(self, request: Request, view: APIView) -> bool:
        key = request.auth
        if not isinstance(key, PartnerApiKey):
            return True
        request.data  # noqa: B018 - parsed first: a malformed body is refused uncharged
        usage = count_request(
            request,
            group="api",
            budget=CREDENTIAL_BUDGET,
            key=f"partner_key:{key.pk}",
            rate=settings.TRCKER_API_RATE,
        )
        self._wait = None if usage is None else usage.reset_seconds
        return usage is None or not usage.limited

    def wait(self) -> float | None:
        return self._wait


class PartnerOperationApi(OperationApi):
    """Base of the derived partner views: the actor is the key's partner."""

    authentication_classes = [PartnerKeyAuthentication]
    throttle_classes = [PartnerKeyRateThrottle]

    def permission_denied(
        self, request: Request, message: str | None = None, code: str | None = None
    ) -> NoReturn:
        if request.authenticators and not request.successful_authenticator:
            # No credential at all: say which one this API takes (the brand API asks for trk_).
            raise exceptions.AuthenticationFailed(
                "Authentication required: send Authorization: Bearer trkp_… (a partner key).",
                code="unauthenticated",
            )
        super().permission_denied(request, message=message, code=code)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        APIView.initial(self, request, *args, **kwargs)
        key = request.auth
        if not isinstance(key, PartnerApiKey):  # the permission check has refused anything else
            raise exceptions.NotAuthenticated()
        self.actor = actor_for_partner_key(key, channel=Channel.REST, request=request)


class PartnerStatementApi(PartnerOperationApi):
    """The statement of one of the partner's own payouts as CSV (the portal's and the brand's
    file, ``conversions.partner_selectors.partner_statement``): the one partner route that is
    not an operation, since it answers a file."""

    operations: dict[str, Any] = {}

    @extend_schema(
        tags=["partner"],
        operation_id="partner_payout_statement_csv",
        summary="Your payout's statement (CSV)",
        description="The payout's lines, a blank line, then one row per conversion it covers; "
        "text a spreadsheet would run as a formula is prefixed with a single quote.",
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR)},
    )
    def get(self, request: Request, payout_id: str) -> HttpResponse:
        if not re.match(PAYOUT_ID, payout_id):
            raise NotFoundError("payout", payout_id[:64])
        statement = partner_statement(actor=self.actor, payout_id=payout_id)
        response = HttpResponse(statement.content, content_type=statement.content_type)
        response["Content-Disposition"] = statement_content_disposition(statement)
        return response

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # The CSV bypasses renderers; errors stay JSON whatever Accept asks for.
        return super().perform_content_negotiation(request, force=True)
