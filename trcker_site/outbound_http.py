"""SSRF-safe outbound HTTP for URLs that tenants control (outbound postback templates).

The rules, in order: http/https only; no credentials in the URL; ports 80/443 only; no
local-looking host names; resolve the host and refuse unless *every* address is public
unicast (this catches ``2130706433``, ``0x7f000001``, ``127.1``, ``[::ffff:127.0.0.1]`` and
names that resolve to private space); then connect to the checked address itself, so a DNS
answer that changes between check and connect (rebinding) cannot redirect the request.
Redirects are never followed. Failures carry a stable code and no socket detail, so the
delivery log cannot be used as a port scanner.

``TRCKER_OUTBOUND_ALLOW_PRIVATE=1`` lifts the address and port rules for local development
and tests only.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

import urllib3
from django.conf import settings

logger = logging.getLogger(__name__)

ALLOWED_SCHEMES = {"http": 80, "https": 443}
MAX_URL_LENGTH = 4096
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".lan", ".intranet")
USER_AGENT = "Trcker-Postback/1.0 (+https://github.com/trcker)"


class OutboundRefused(Exception):  # noqa: N818 - reads as a verdict, used like one
    """The URL may not be fetched. ``code`` is stable and safe to store and show."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CheckedTarget:
    parts: SplitResult
    host: str
    port: int
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class OutboundResponse:
    status: int
    body_excerpt: str


def _allow_private() -> bool:
    return bool(getattr(settings, "TRCKER_OUTBOUND_ALLOW_PRIVATE", False))


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return False  # IPv4 tunnelled in IPv6: refuse rather than reason about it
        if address.teredo is not None:
            return False
        if address in ipaddress.ip_network("64:ff9b::/96"):  # NAT64
            return False
        if address not in ipaddress.ip_network("2000::/3"):
            return False
    return address.is_global and not address.is_multicast and not address.is_reserved


def check_url_static(url: str) -> tuple[SplitResult, str, int]:
    """Checks that need no DNS: scheme, credentials, port, host name shape."""
    if len(url) > MAX_URL_LENGTH:
        raise OutboundRefused("url_too_long", "The URL is longer than 4096 characters.")
    if any(ch in url for ch in "\r\n\t\x00"):
        raise OutboundRefused("invalid_url", "The URL contains control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise OutboundRefused("invalid_url", "The URL could not be parsed.") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise OutboundRefused("scheme_not_allowed", "Only http and https URLs are allowed.")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise OutboundRefused("credentials_in_url", "URLs may not carry a user name or password.")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise OutboundRefused("invalid_url", "The URL has no host.")
    port = port or ALLOWED_SCHEMES[scheme]
    if _allow_private():
        return parts, host, port
    if port not in (80, 443):
        raise OutboundRefused("port_not_allowed", "Only ports 80 and 443 are allowed.")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is None:
        if host == "localhost" or host.endswith(LOCAL_SUFFIXES) or "." not in host:
            raise OutboundRefused("host_not_allowed", "That host name is not a public name.")
    elif not _is_public(literal):
        raise OutboundRefused("address_not_public", "The URL points to a non-public address.")
    return parts, host, port


def resolve_and_check(url: str) -> CheckedTarget:
    parts, host, port = check_url_static(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise OutboundRefused("dns_failed", "The host name could not be resolved.") from None
    addresses = tuple(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise OutboundRefused("dns_failed", "The host name could not be resolved.")
    if not _allow_private():
        for raw in addresses:
            if not _is_public(ipaddress.ip_address(raw.split("%", 1)[0])):
                raise OutboundRefused(
                    "address_not_public", "The host resolves to a non-public address."
                )
    return CheckedTarget(parts=parts, host=host, port=port, addresses=addresses)


def check_template_on_save(template: str, placeholders: dict[str, str]) -> None:
    """Save-time check of a URL template: placeholders only after the authority, and the
    filled URL passes the static rules. DNS is checked too when the name resolves; a name
    that does not resolve yet is accepted here and judged again at every send."""
    parts = urlsplit(template)
    if "{" in parts.netloc or "}" in parts.netloc or "{" in parts.scheme:
        raise OutboundRefused(
            "placeholder_in_host", "Placeholders may appear only in the path and query."
        )
    filled = template
    for name, value in placeholders.items():
        filled = filled.replace("{" + name + "}", value)
    try:
        resolve_and_check(filled)
    except OutboundRefused as exc:
        if exc.code != "dns_failed":
            raise


def fetch(
    url: str, *, timeout: float = 15.0, extra_headers: dict[str, str] | None = None
) -> OutboundResponse:
    """GET the URL through the SSRF guard; one attempt, no redirects followed."""
    target = resolve_and_check(url)
    address = target.addresses[0]
    path = target.parts.path or "/"
    if target.parts.query:
        path = f"{path}?{target.parts.query}"
    host_header = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
    headers = {
        **(extra_headers or {}),
        "Host": host_header,
        "User-Agent": USER_AGENT,
        "Accept": "*/*",
    }
    pool_kwargs = {"timeout": urllib3.Timeout(connect=5.0, read=timeout), "retries": False}
    if target.parts.scheme == "https":
        pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
            address,
            target.port,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            **pool_kwargs,
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, target.port, **pool_kwargs)
    try:
        response = pool.urlopen(
            "GET", path, headers=headers, redirect=False, preload_content=False, retries=False
        )
        try:
            excerpt = response.read(1024, decode_content=False).decode("utf-8", "replace")
        finally:
            response.release_conn()
    except urllib3.exceptions.TimeoutError:
        raise OutboundRefused("timeout", "The endpoint did not answer in time.") from None
    except urllib3.exceptions.SSLError:
        raise OutboundRefused("tls_error", "The TLS handshake failed.") from None
    except (urllib3.exceptions.HTTPError, OSError):
        raise OutboundRefused("connect_failed", "Could not connect to the endpoint.") from None
    finally:
        pool.close()
    return OutboundResponse(status=response.status, body_excerpt=excerpt)
