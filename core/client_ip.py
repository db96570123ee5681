"""The real client IP: X-Forwarded-For is believed only from configured trusted proxies."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def is_trusted_proxy(address: str) -> bool:
    if not settings.TRCKER_TRUSTED_PROXIES:
        return False  # the common case, without parsing the address
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in settings.TRCKER_TRUSTED_PROXIES)


def client_ip(request: HttpRequest) -> str | None:
    """Walk X-Forwarded-For from the right, skipping trusted hops; the first untrusted hop is
    the client. A spoofed left-most entry from an untrusted peer is never believed."""
    peer: str | None = request.META.get("REMOTE_ADDR") or None
    if peer is None or not is_trusted_proxy(peer):
        return peer
    forwarded: str = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer
        if not is_trusted_proxy(hop):
            return hop
    return hops[0] if hops else peer


def request_client_ip(request: HttpRequest) -> str | None:
    """The client IP of a request: the one the middleware resolved, or resolved now (for
    requests that did not pass through the middleware, e.g. built in tests)."""
    return getattr(request, "client_ip", None) or client_ip(request)
