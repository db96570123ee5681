"""POST /api/mcp: the HTTP edge of the MCP server. It checks Origin and Accept,
authenticates the bearer key, has the framework-free protocol admit the body (JSON, nesting
depth, batch size: refused before any other work and charged nothing), charges the admitted
calls to the credential's rate limit in one round trip (every JSON-RPC request of a batch
counts; the budget is shared with the REST API), hands the body to the protocol, and writes the
HTTP answer. Bodies over the size limit never get here (trcker_site/body_limits.py)."""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from audit.actor import Actor, Channel
from brands.authentication import actor_for_api_key
from brands.models import Brand
from brands.services import api_key_authenticate
from core import auth_throttle
from core.errors import AuthenticationError
from core.rate_limits import count_request, parse_rate
from mcp_gateway.host import TrckerMcpHost
from mcp_gateway.jsonrpc import INVALID_REQUEST, RATE_LIMITED
from mcp_gateway.oauth import WRITE_SCOPE, authenticate_oauth_token, challenge
from mcp_gateway.protocol import McpProtocol
from mcp_gateway.transport import (
    Admission,
    HttpReply,
    HttpRequestInfo,
    error_reply,
    rate_limited_reply,
)
from partners.api_keys import actor_for_partner_key, partner_api_key_authenticate
from partners.keys import TAG as PARTNER_KEY_TAG
from rest_api.base import CREDENTIAL_BUDGET

logger = logging.getLogger(__name__)


def _origin_allowed(origin: str) -> bool:
    parts = urlsplit(origin)
    normalised = f"{parts.scheme}://{parts.netloc}".lower()
    return normalised in {
        allowed.lower().rstrip("/") for allowed in settings.TRCKER_MCP_ALLOWED_ORIGINS
    }


def _wants_sse_only(accept: str) -> bool | None:
    """None: acceptable as JSON; True: only SSE; False: neither JSON nor SSE (→ 406)."""
    if not accept.strip():
        return None
    types = [item.split(";")[0].strip().lower() for item in accept.split(",")]
    if any(t in ("application/json", "*/*", "application/*") for t in types):
        return None
    return "text/event-stream" in types or "text/*" in types


def _render(reply: HttpReply, *, sse: bool, extra_headers: dict[str, str]) -> HttpResponse:
    if reply.payload is None:
        response = HttpResponse(status=reply.status)
    elif sse:
        data = json.dumps(reply.payload, separators=(",", ":"))
        response = HttpResponse(
            f"event: message\ndata: {data}\n\n",
            status=reply.status,
            content_type="text/event-stream",
        )
    else:
        response = HttpResponse(
            json.dumps(reply.payload, separators=(",", ":")),
            status=reply.status,
            content_type="application/json",
        )
    for name, value in {**extra_headers, **reply.headers}.items():
        response[name] = value
    response["Cache-Control"] = "no-store"
    return response


def _rate_limit(request: HttpRequest, rate_key: str, calls: int) -> tuple[bool, int, int]:
    """(allowed, remaining, seconds to reset), counting each JSON-RPC request once, in the
    credential's budget shared with REST (TRCKER_API_RATE, docs/api.md)."""
    usage = count_request(
        request,
        group="mcp",
        budget=CREDENTIAL_BUDGET,
        key=rate_key,
        rate=settings.TRCKER_API_RATE,
        times=calls,
    )
    if usage is None:
        return True, -1, 60
    return not usage.limited, usage.remaining, usage.reset_seconds


@csrf_exempt
def mcp_endpoint(request: HttpRequest) -> HttpResponse:
    started = time.perf_counter()
    if request.method != "POST":
        response = HttpResponse(status=405)
        response["Allow"] = "POST"
        return response
    origin = request.headers.get("Origin")
    if origin and not _origin_allowed(origin):
        return _render(
            error_reply(403, INVALID_REQUEST, "Forbidden: Origin not allowed."),
            sse=False,
            extra_headers={},
        )
    sse_only = _wants_sse_only(request.headers.get("Accept", ""))
    if sse_only is False:
        return _render(
            error_reply(
                406,
                INVALID_REQUEST,
                "Not Acceptable: accept application/json or text/event-stream.",
            ),
            sse=False,
            extra_headers={},
        )
    sse = bool(sse_only)
    token = _bearer(request)
    if token is None and settings.TRCKER_MCP_TEST_ANONYMOUS_BRAND and settings.DEBUG:
        return _serve(
            request, _anonymous_test_actor(request), rate_key="anonymous", sse=sse, started=started
        )
    if token is None:
        return _render(
            error_reply(
                401,
                INVALID_REQUEST,
                "Unauthorized: send Authorization: Bearer <API key or OAuth token>.",
                {"WWW-Authenticate": challenge()},
            ),
            sse=sse,
            extra_headers={},
        )
    # An IP over its failed-authentication budget is refused before the token is looked at
    # (core/auth_throttle.py); the budget is shared with REST's API keys.
    wait = auth_throttle.retry_after(request, auth_throttle.BEARER)
    if wait is not None:
        return _render(
            error_reply(
                429, RATE_LIMITED, auth_throttle.too_many_message(wait), {"Retry-After": str(wait)}
            ),
            sse=sse,
            extra_headers={},
        )
    try:
        actor, rate_key = _authenticate(request, token)
    except AuthenticationError as exc:
        auth_throttle.record_failure(request, auth_throttle.BEARER)
        return _render(
            error_reply(
                401,
                INVALID_REQUEST,
                f"Unauthorized: {exc.message}",
                {"WWW-Authenticate": challenge(error="invalid_token", description=exc.message)},
            ),
            sse=sse,
            extra_headers={},
        )
    return _serve(request, actor, rate_key=rate_key, sse=sse, started=started)


def _authenticate(request: HttpRequest, token: str) -> tuple[Actor, str]:
    """A brand API key (trk_…), a partner key (trkp_…: the partner tools only), or an OAuth
    access token issued for this endpoint: a brand's, or a partner's (the partner tools only,
    exactly as a trkp_ key of the same access)."""
    if token.startswith(PARTNER_KEY_TAG):
        partner_key = partner_api_key_authenticate(token)
        actor = actor_for_partner_key(partner_key, channel=Channel.MCP, request=request)
        return actor, f"partner_key:{partner_key.pk}"
    if token.startswith("trk_"):
        key = api_key_authenticate(token)
        return actor_for_api_key(key, channel=Channel.MCP, request=request), f"key:{key.pk}"
    caller = authenticate_oauth_token(token)
    if caller.partner_id is not None:
        # A partner's token: the partner actor a trkp_ key of the same access gets, so the
        # same host path offers the partner tools and nothing else.
        actor = Actor.for_partner_oauth(
            brand_id=caller.brand.pk,
            brand_slug=caller.brand.slug,
            partner_id=caller.partner_id,
            write=WRITE_SCOPE in caller.scopes,
            client_id=caller.client_id,
            request=request,
        )
        return actor, f"oauth:{caller.client_id}:{caller.subject}"
    actor = Actor.for_oauth(
        brand_id=caller.brand.pk,
        brand_slug=caller.brand.slug,
        write=WRITE_SCOPE in caller.scopes,
        user_id=caller.user_id,
        client_id=caller.client_id,
        subject=caller.subject,
        request=request,
    )
    return actor, f"oauth:{caller.client_id}:{caller.subject}"


def _serve(
    request: HttpRequest, actor: Actor, *, rate_key: str, sse: bool, started: float
) -> HttpResponse:
    info = HttpRequestInfo(
        body=request.body,
        protocol_version_header=request.headers.get("MCP-Protocol-Version"),
        method_header=request.headers.get("Mcp-Method"),
        name_header=request.headers.get("Mcp-Name"),
    )
    protocol = McpProtocol(TrckerMcpHost(actor), max_batch=settings.TRCKER_MCP_MAX_BATCH)
    # Parse, depth and batch size first: a refused body is answered before the rate limit
    # is charged or any element is looked at.
    admission: Admission = protocol.admit(info)
    if admission.refusal is not None:
        return _render(admission.refusal, sse=sse, extra_headers={})
    limit, period = parse_rate(settings.TRCKER_API_RATE)
    allowed, remaining, reset = _rate_limit(request, rate_key, admission.calls)
    rate_headers = {"RateLimit-Policy": f"{limit};w={period}"}
    if remaining >= 0:
        rate_headers["RateLimit"] = f"limit={limit}, remaining={remaining}, reset={reset}"
    if not allowed:
        return _render(
            rate_limited_reply(admission, retry_after=reset, limit=limit, period_seconds=period),
            sse=sse,
            extra_headers=rate_headers,
        )
    reply = protocol.handle(info, admission)
    logger.info("mcp %s in %.1f ms", reply.status, (time.perf_counter() - started) * 1000)
    return _render(reply, sse=sse, extra_headers=rate_headers)


def _anonymous_test_actor(request: HttpRequest) -> Actor:
    brand = Brand.objects.get(slug=settings.TRCKER_MCP_TEST_ANONYMOUS_BRAND)
    return Actor.for_mcp_test_anonymous(brand_id=brand.pk, brand_slug=brand.slug, request=request)


def _bearer(request: HttpRequest) -> str | None:
    if "access_token" in request.GET or "api_key" in request.GET:
        return None  # tokens in URLs are refused outright (they end up in logs)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
