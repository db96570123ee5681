"""The public integration endpoints: Stripe's and Shopify's webhooks, and /t.js.

The webhooks are public and hostile: every request counts against its IP's rate
(``TRCKER_INTEGRATION_RATE``, high, since the providers send every brand's events from a few
addresses), and every refusal against the failed-authentication budget of that IP and brand
path (``TRCKER_AUTH_FAILURES_PER_IP``; over it: 429 before anything is verified). Checks run
in an order that says nothing of the brand until the signature is proven: body size, bytes
(UTF-8, no NUL), then the signature — an unknown brand, a brand that has not connected the
provider and a wrong signature answer the same ``bad_signature`` — then the JSON."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError, InterfaceError
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from audit.actor import Actor
from conversions import tracking_config
from core.auth_throttle import record_failure, retry_after
from core.edge_text import is_slug
from core.json_limits import loads_bounded
from core.rate_limits import count_request
from integrations import shopify_events, stripe_events
from integrations.intake import Source, event_handle, log_event
from integrations.models import EventOutcome, IntegrationConnection, Provider
from integrations.signatures import Refused, active_secrets, shopify_verify, stripe_verify
from integrations.tracker_script import SCRIPT, SCRIPT_ETAG

logger = logging.getLogger(__name__)
MAX_WEBHOOK_BODY = 512 * 1024
_EVENT_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-:.")


def _error(code: str, message: str, status: int) -> JsonResponse:
    response = JsonResponse({"error": {"code": code, "message": message}}, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _too_many(seconds: int) -> JsonResponse:
    response = _error("rate_limited", f"Too many requests; retry in {seconds} s.", 429)
    response["Retry-After"] = str(seconds)
    return response


def _plain_id(value: object) -> str:
    text = value if isinstance(value, str) else ""
    return text if 0 < len(text) <= 255 and set(text) <= _EVENT_ID_CHARS else ""


@csrf_exempt
@require_http_methods(["POST"])
def stripe_webhook(request: HttpRequest, brand: str) -> HttpResponse:
    return _webhook(request, brand, Provider.STRIPE)


@csrf_exempt
@require_http_methods(["POST"])
def shopify_webhook(request: HttpRequest, brand: str) -> HttpResponse:
    return _webhook(request, brand, Provider.SHOPIFY)


def _webhook(request: HttpRequest, brand_slug: str, provider: str) -> HttpResponse:
    ip = getattr(request, "client_ip", None)
    usage = count_request(
        request, group="integration", key=f"ip:{ip}", rate=settings.TRCKER_INTEGRATION_RATE
    )
    if usage is not None and usage.limited:
        return _too_many(usage.reset_seconds)
    budget = f"webhook:{provider}:{brand_slug[:64]}"
    wait = retry_after(request, budget)
    if wait is not None:
        return _too_many(wait)
    try:
        return _verified_webhook(request, brand_slug, provider, budget)
    except (DatabaseError, InterfaceError):
        # Never acknowledge what was not recorded: the provider retries on 5xx.
        logger.exception("%s webhook not recorded: database unavailable", provider)
        response = _error("service_unavailable", "Temporarily unable to record; retry.", 503)
        response["Retry-After"] = "30"
        return response


def _verified_webhook(
    request: HttpRequest, brand_slug: str, provider: str, budget: str
) -> HttpResponse:
    if len(request.body) > MAX_WEBHOOK_BODY:
        record_failure(request, budget)
        return _error("body_too_large", f"Body over {MAX_WEBHOOK_BODY // 1024} KB.", 413)
    body = request.body
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if not text or "\x00" in text:
        record_failure(request, budget)
        return _error("malformed_body", "The body must be UTF-8 JSON without NUL bytes.", 400)
    brand = tracking_config.brand_config(brand_slug) if is_slug(brand_slug) else None
    connection = (
        IntegrationConnection.objects.select_related("default_offer")
        .filter(brand_id=brand.id, provider=provider)
        .first()
        if brand is not None
        else None
    )
    secrets = active_secrets(connection)
    try:
        if provider == Provider.STRIPE:
            stripe_verify(text, request.headers.get("Stripe-Signature", ""), secrets)
        else:
            shopify_verify(body, request.headers.get("X-Shopify-Hmac-Sha256", ""), secrets)
        try:
            payload = loads_bounded(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise Refused("malformed_body", "The body is not a JSON object.")
    except Refused as refused:
        record_failure(request, budget)
        if brand is not None:
            reason = refused.code if secrets else "not_connected"
            log_event(
                brand.id,
                provider,
                outcome=EventOutcome.REFUSED,
                reason=reason,
                detail=refused.message if secrets else f"{provider} is not connected.",
                http_status=400,
                ip=getattr(request, "client_ip", None),
            )
        return _error(refused.code, refused.message, 400)
    assert brand is not None
    assert connection is not None
    source = Source(
        brand=brand,
        connection=connection,
        actor=Actor.for_integration(
            brand_id=brand.id, brand_slug=brand.slug, provider=provider, request=request
        ),
        ip=getattr(request, "client_ip", None),
    )
    if provider == Provider.STRIPE:
        event_type = str(payload.get("type", ""))[:64]
        event_id = _plain_id(payload.get("id"))
        handler = stripe_events.handler_for(source, payload)
    else:
        event_type = request.headers.get("X-Shopify-Topic", "")[:64]
        event_id = _plain_id(
            request.headers.get("X-Shopify-Event-Id") or request.headers.get("X-Shopify-Webhook-Id")
        ) or _plain_id(f"{event_type}:{payload.get('id', '')}")
        handler = shopify_events.handler_for(source, event_type, payload)
    if not event_id:
        log_event(
            brand.id,
            provider,
            outcome=EventOutcome.REFUSED,
            reason="malformed_event",
            detail="The event has no id.",
            http_status=400,
            ip=source.ip,
            event_type=event_type,
        )
        return _error("malformed_event", "The event has no id.", 400)
    row = event_handle(source, event_id=event_id, event_type=event_type, handler=handler)
    return JsonResponse(
        {
            "received": True,
            "outcome": row.outcome,
            "reason": row.reason,
            "conversion_id": row.conversion_id or None,
        }
    )


@require_http_methods(["GET", "HEAD"])
def tracker_script(request: HttpRequest) -> HttpResponse:
    """/t.js: the first-party click-id keeper (integrations/tracker_script.py). Sets no
    cookie of Trcker's own; cached by browsers and CDNs for a day, revalidated by ETag."""
    if SCRIPT_ETAG in request.headers.get("If-None-Match", ""):
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = HttpResponse(SCRIPT, content_type="text/javascript; charset=utf-8")
    response["ETag"] = SCRIPT_ETAG
    response["Cache-Control"] = "public, max-age=86400, stale-while-revalidate=604800"
    # Loaded by the brand's pages from another origin.
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    response["Access-Control-Allow-Origin"] = "*"
    return response
