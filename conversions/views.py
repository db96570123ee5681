"""The public tracking endpoints: the click redirect, the BotD verdict beacon and the inbound
postback. Plain Django views (no DRF) because they are the hot path and take no API key."""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.signing import BadSignature, Signer
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.http import http_date
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from audit.actor import Actor
from conversions import tracking_config
from conversions.attribution import attribution_summary
from conversions.clicks import ClickInput, click_handle, click_record_botd_verdict
from conversions.models import SUB_ID_MAX
from conversions.postback_intake import InboundPostback, postback_receive
from conversions.postback_log import ACCEPTED, DUPLICATE, Attempt, attempt_record
from conversions.refunds import RecordedRefund, refund_answer
from core.client_ip import is_trusted_proxy
from core.edge_text import clean_text, is_slug
from core.errors import DomainError
from core.json_limits import loads_bounded

logger = logging.getLogger(__name__)
MAX_POSTBACK_BODY = 64 * 1024
_botd_signer = Signer(salt="trcker.botd-verdict")
# The stored column sizes of Click (and of the audit actor's user agent).
USER_AGENT_MAX = 512
REFERRER_MAX = 1024
SUB_NAMES = ("sub1", "sub2", "sub3", "sub4", "sub5")
RETRY_AFTER_SECONDS = "30"


def _refusal_page(request: HttpRequest, status: int) -> HttpResponse:
    return render(
        request,
        "tracking/refused.html",
        {"gone": status == 410, "unavailable": status == 503},
        status=status,
    )


# What django.views.decorators.cache.never_cache sets, written directly: the decorator parses
# and rebuilds Cache-Control on every response, a measurable share of the click's CPU.
NEVER_CACHE = "max-age=0, no-cache, no-store, must-revalidate, private"


def _never_cached(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = NEVER_CACHE
    response["Expires"] = http_date()
    return response


@require_http_methods(["GET", "HEAD"])
def click_redirect(request: HttpRequest, brand: str, offer: str, partner: str) -> HttpResponse:
    if not (is_slug(brand) and is_slug(offer) and is_slug(partner)):
        # No stored row has such a slug; asking the database would only let a NUL reach it.
        return _never_cached(_refusal_page(request, 404))
    params = request.GET
    sub1, sub2, sub3, sub4, sub5 = (
        clean_text(params.get(name, ""), max_length=SUB_ID_MAX) for name in SUB_NAMES
    )
    try:
        decision = click_handle(
            ClickInput(
                brand_slug=brand,
                offer_slug=offer,
                partner_slug=partner,
                ip=getattr(request, "client_ip", None),
                user_agent=clean_text(
                    request.headers.get("User-Agent", ""), max_length=USER_AGENT_MAX
                ),
                referrer=clean_text(request.headers.get("Referer", ""), max_length=REFERRER_MAX),
                subs=(sub1, sub2, sub3, sub4, sub5),
                meta={key: value for key, value in request.META.items() if key.startswith("HTTP_")},
                via_trusted_proxy=is_trusted_proxy(request.META.get("REMOTE_ADDR", "")),
                head_only=request.method == "HEAD",
                deep_link=params.get("url", ""),
            )
        )
    except (DatabaseError, InterfaceError) as exc:
        # Config not cached and the database unreachable, or the click could not be recorded
        # anywhere: the visitor may retry, so this is a 503, not a 500 or a "not found".
        # (InterfaceError is DatabaseError's sibling in PEP 249, not a subclass.)
        if isinstance(exc, OperationalError | InterfaceError):
            logger.warning("click refused: database unavailable (%s)", type(exc).__name__)
        else:  # DataError, IntegrityError, ProgrammingError: a bug, not an outage
            logger.exception("click refused: database error")
        response = _refusal_page(request, 503)
        response["Retry-After"] = RETRY_AFTER_SECONDS
        return _never_cached(response)
    if decision.location is None:
        return _never_cached(_refusal_page(request, decision.status_code))
    if decision.interstitial and decision.click_id:
        response = render(
            request,
            "tracking/botd.html",
            {
                "destination": decision.location,
                "click_id": decision.click_id,
                "token": _botd_signer.sign(decision.click_id).rsplit(":", 1)[1],
                "botd_asset": settings.TRCKER_BOTD_ASSET,
            },
        )
    else:
        # HttpResponseRedirect refuses non-web schemes; the URL comes from offer config, or a
        # deep link on a host the offer's allowlist names (core.deep_links).
        response = HttpResponseRedirect(decision.location)
    response["Referrer-Policy"] = "no-referrer-when-downgrade"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return _never_cached(response)


@csrf_exempt
@require_http_methods(["POST"])
def botd_verdict(request: HttpRequest) -> HttpResponse:
    """The interstitial's report. Bound to its click by an HMAC token; a bot verdict adds
    risk, a human verdict changes nothing (client-side claims can only make things worse)."""
    try:
        payload = json.loads(request.body[:4096] or b"{}")
        click_id = str(payload.get("click_id", ""))[:32]
        _botd_signer.unsign(f"{click_id}:{payload.get('token', '')}")
    except (ValueError, BadSignature, AttributeError):
        return JsonResponse(
            {"error": {"code": "bad_token", "message": "Invalid verdict token."}}, status=400
        )
    click_record_botd_verdict(
        click_id=click_id,
        bot=payload.get("bot") is True,
        bot_kind=str(payload.get("bot_kind", "unknown")),
    )
    return HttpResponse(status=204)


def _postback_error(exc: DomainError) -> JsonResponse:
    response = JsonResponse({"error": exc.as_dict()}, status=exc.http_status)
    if exc.http_status == 401:
        response["WWW-Authenticate"] = 'HMAC realm="trcker-postback"'
    return response


def _json_value(value: object) -> str:
    """A JSON body value as the text a query parameter would carry. Only strings and numbers
    (and null, read as absent) are parameters; anything else would be stored as Python's
    repr of it. bool is refused before int because it is one."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise DomainError(
            "The JSON body's values must be strings or numbers (no objects, arrays or booleans).",
            code="invalid_json",
        )
    return str(value)


def _params(request: HttpRequest, query_pairs: list[tuple[str, str]]) -> dict[str, str]:
    """The postback's parameters: query, then (POST) the body over it. Called only once
    verify_origin has passed, and a signed POST then has no query parameters but sig/ts."""
    params = dict(query_pairs)
    if request.method == "POST" and request.body:
        content_type = request.content_type or ""
        if content_type == "application/json":
            try:
                body = loads_bounded(request.body)
            except ValueError:
                raise DomainError("The body is not valid JSON.", code="invalid_json") from None
            if not isinstance(body, dict):
                raise DomainError("The JSON body must be an object.", code="invalid_json")
            params.update({str(k): _json_value(v) for k, v in body.items()})
        else:
            params.update(
                dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
            )
    return params


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def inbound_postback(request: HttpRequest, brand: str, offer: str) -> HttpResponse:
    """Answer the postback, then log the attempt (one XADD; conversions.postback_log)."""
    attempt = Attempt(
        offer_slug=offer,
        method=request.method or "GET",
        ip=getattr(request, "client_ip", None),
        request_id=getattr(request, "request_id", ""),
        signature_header="X-Trcker-Signature" in request.headers,
    )
    response = _inbound_postback(request, brand, offer, attempt)
    attempt_record(attempt, http_status=response.status_code)
    return response


def _brand_config(brand: str) -> tracking_config.BrandConfig | None:
    # A slug no row can have is unknown without a lookup (a NUL would make PostgreSQL
    # raise, and the 503 that follows would have the advertiser retry it forever).
    return tracking_config.brand_config(brand) if is_slug(brand) else None


def _inbound_postback(
    request: HttpRequest, brand: str, offer: str, attempt: Attempt
) -> HttpResponse:
    # Only for the log until origin is proven: nothing below reads a parameter before that.
    query_pairs = parse_qsl(request.META.get("QUERY_STRING", ""), keep_blank_values=True)
    attempt.params = dict(query_pairs)
    if len(request.body) > MAX_POSTBACK_BODY:
        attempt.outcome = "body_too_large"
        try:
            found = _brand_config(brand) if is_slug(offer) else None
            attempt.brand_id = found.id if found else None
        except (DatabaseError, InterfaceError):
            pass  # only the log line is lost; the answer stays a 413
        return JsonResponse(
            {"error": {"code": "body_too_large", "message": "Body over 64 KB."}}, status=413
        )
    try:
        brand_config = _brand_config(brand)
        attempt.brand_id = brand_config.id if brand_config else None
        offer_config = (
            tracking_config.offer_config(brand_config, offer)
            if brand_config and is_slug(offer)
            else None
        )
        if brand_config is None or offer_config is None:
            attempt.outcome = "unknown_offer"
            if not is_slug(offer):
                # Not logged: no postback URL we issued has such a path, and hostile paths
                # stay free of database work (conversions.postback_log).
                attempt.brand_id = None
            return JsonResponse(
                {
                    "error": {
                        "code": "unknown_offer",
                        "message": "No such brand/offer postback URL.",
                    }
                },
                status=404,
            )
        # Proof of origin first, from the raw request: no parameter is read before it passes.
        recorded = postback_receive(
            actor=Actor.for_postback(
                brand_id=brand_config.id, brand_slug=brand_config.slug, request=request
            ),
            brand=brand_config,
            offer=offer_config,
            postback=InboundPostback(
                method=request.method or "GET",
                query_pairs=query_pairs,
                body=request.body,
                signature_header=request.headers.get("X-Trcker-Signature", ""),
                ip=getattr(request, "client_ip", None),
            ),
            read_params=lambda: _params(request, query_pairs),
            on_params=lambda params: setattr(attempt, "params", params),
        )
    except DomainError as exc:
        attempt.outcome = exc.code
        return _postback_error(exc)
    except (OperationalError, InterfaceError, DatabaseError):
        # Never acknowledge what was not recorded: the advertiser retries on 5xx.
        logger.exception("postback not recorded: database unavailable")
        attempt.outcome = "service_unavailable"
        response = JsonResponse(
            {
                "error": {
                    "code": "service_unavailable",
                    "message": "Temporarily unable to record; retry.",
                }
            },
            status=503,
        )
        response["Retry-After"] = RETRY_AFTER_SECONDS
        return response
    conversion = recorded.conversion
    attempt.outcome = DUPLICATE if recorded.duplicate else ACCEPTED
    attempt.conversion_id = conversion.id
    if isinstance(recorded, RecordedRefund):
        return JsonResponse(refund_answer(recorded))
    return JsonResponse(
        {
            "conversion_id": conversion.id,
            "status": conversion.status,
            "status_reason": conversion.status_reason,
            "duplicate": recorded.duplicate,
            "txn_id": conversion.txn_id,
            "event": conversion.event_type,
            "payout": str(conversion.payout),
            "currency": conversion.currency,
            # The sale as reported, and the rate that put it in the offer's currency.
            "sale_amount": str(conversion.sale_amount),
            "original_amount": str(conversion.original_amount),
            "original_currency": conversion.original_currency,
            "fx_rate": str(conversion.fx_rate),
            "sub1": conversion.sub1,
            "sub2": conversion.sub2,
            "sub3": conversion.sub3,
            "sub4": conversion.sub4,
            "sub5": conversion.sub5,
            "attribution": attribution_summary(conversion.attribution),
        }
    )
