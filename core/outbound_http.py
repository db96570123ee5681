"""SSRF-safe outbound HTTP for URLs that outsiders control: outbound postback templates
(tenants) and OAuth client ID metadata documents (anyone who starts an authorization).

The rules, in order: http/https only; no credentials in the URL; ports 80/443 only; no
local-looking host names; resolve the host and refuse unless *every* address is outside the
deny list below (this catches ``2130706433``, ``0x7f000001``, ``127.1``,
``[::ffff:127.0.0.1]`` and names that resolve to private space); then connect to the checked
address itself, so a DNS answer that changes between check and connect (rebinding) cannot
redirect the request. Redirects are never followed. Failures carry a stable code and no
socket detail, so the delivery log cannot be used as a port scanner.

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


# --- the deny list ---------------------------------------------------------------------------
# Every special-purpose block of the IANA IPv4 Special-Purpose Address Registry and the IANA
# IPv6 Special-Purpose Address Registry (RFC 6890 and the RFCs each entry names), plus
# multicast (IANA multicast registries), taken as the registries stood in 2025 — written out
# here rather than read from ``ipaddress.is_global``, whose answer changes between CPython patch
# releases (3.11.7 calls 192.0.0.8, 64:ff9b::a00:1 and 2002:a00:1:: global). Blocks the
# registries mark "globally reachable" (AS112, AMT, the PCP/TURN anycasts, 6to4 relay anycast)
# are denied too: no postback or client-metadata host legitimately lives there. The one place to
# add a block; tests/test_ssrf_ranges.py has a row per entry and fails on one without a row.
DENIED_NETWORKS: tuple[tuple[str, str], ...] = (
    # IPv4 Special-Purpose Address Registry
    ("0.0.0.0/8", "this network (RFC 791)"),
    ("10.0.0.0/8", "private use (RFC 1918)"),
    ("100.64.0.0/10", "shared address space, CGNAT (RFC 6598)"),
    ("127.0.0.0/8", "loopback (RFC 1122)"),
    ("169.254.0.0/16", "link local, cloud metadata (RFC 3927)"),
    ("172.16.0.0/12", "private use (RFC 1918)"),
    # 192.0.0.0/24 holds 192.0.0.0/29 (DS-Lite/service continuity), 192.0.0.8/32 (dummy),
    # 192.0.0.9/32 (PCP anycast), 192.0.0.10/32 (TURN anycast), 192.0.0.170-171 (NAT64
    # discovery): the whole block is denied.
    ("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
    ("192.0.2.0/24", "documentation TEST-NET-1 (RFC 5737)"),
    ("192.31.196.0/24", "AS112-v4 (RFC 7535)"),
    ("192.52.193.0/24", "AMT (RFC 7450)"),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast (RFC 7526)"),
    ("192.168.0.0/16", "private use (RFC 1918)"),
    ("192.175.48.0/24", "AS112 direct delegation (RFC 7534)"),
    ("198.18.0.0/15", "benchmarking (RFC 2544)"),
    ("198.51.100.0/24", "documentation TEST-NET-2 (RFC 5737)"),
    ("203.0.113.0/24", "documentation TEST-NET-3 (RFC 5737)"),
    ("224.0.0.0/4", "multicast (RFC 5771)"),
    ("240.0.0.0/4", "reserved (RFC 1112)"),
    ("255.255.255.255/32", "limited broadcast (RFC 919)"),
    # IPv6 Special-Purpose Address Registry
    ("::/128", "unspecified (RFC 4291)"),
    ("::1/128", "loopback (RFC 4291)"),
    ("::ffff:0:0/96", "IPv4-mapped (RFC 4291)"),
    ("64:ff9b::/96", "NAT64 well-known prefix (RFC 6052)"),
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation (RFC 8215)"),
    ("100::/64", "discard-only (RFC 6666)"),
    ("100:0:0:1::/64", "dummy IPv6 prefix"),
    # 2001::/23 holds Teredo, the PCP/TURN/DNS-SD anycasts, benchmarking, AMT, AS112-v6,
    # ORCHID, ORCHIDv2 and drone DETs; listed one by one below as well, for the record.
    ("2001::/23", "IETF protocol assignments (RFC 2928)"),
    ("2001::/32", "Teredo (RFC 4380)"),
    ("2001:1::1/128", "PCP anycast (RFC 7723)"),
    ("2001:1::2/128", "TURN anycast (RFC 8155)"),
    ("2001:1::3/128", "DNS-SD SRP anycast (RFC 9665)"),
    ("2001:2::/48", "benchmarking (RFC 5180)"),
    ("2001:3::/32", "AMT (RFC 7450)"),
    ("2001:4:112::/48", "AS112-v6 (RFC 7535)"),
    ("2001:10::/28", "deprecated ORCHID (RFC 4843)"),
    ("2001:20::/28", "ORCHIDv2 (RFC 7343)"),
    ("2001:30::/28", "drone remote ID DETs (RFC 9374)"),
    ("2001:db8::/32", "documentation (RFC 3849)"),
    ("2002::/16", "6to4 (RFC 3056)"),
    ("2620:4f:8000::/48", "AS112 direct delegation (RFC 7534)"),
    ("3fff::/20", "documentation (RFC 9637)"),
    ("5f00::/16", "SRv6 SIDs (RFC 9602)"),
    ("fc00::/7", "unique local (RFC 4193)"),
    ("fe80::/10", "link local (RFC 4291)"),
    ("fec0::/10", "deprecated site local (RFC 3879)"),
    ("ff00::/8", "multicast (RFC 4291)"),
)
_DENIED = tuple((ipaddress.ip_network(block), f"{block} {name}") for block, name in DENIED_NETWORKS)
# IANA IPv6 Address Space registry: only 2000::/3 is allocated as global unicast; the rest is
# "reserved by IETF", so an address outside it is refused whatever the list above says.
_IPV6_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_NAT64_PREFIXES = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries: IPv4-mapped, 6to4, Teredo (server and client),
    NAT64 (the low 32 bits)."""
    embedded = [address.ipv4_mapped, address.sixtofour]
    if address.teredo is not None:
        embedded.extend(address.teredo)
    if any(address in prefix for prefix in _NAT64_PREFIXES):
        embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [ip for ip in embedded if ip is not None]


def deny_reason(address: IPAddress) -> str | None:
    """Why ``address`` may not be connected to, or None when it may. The embedded IPv4 of a
    transition address is judged too, so a gap in the IPv6 list cannot let one through."""
    if isinstance(address, ipaddress.IPv6Address):
        for inner in _embedded_ipv4(address):
            reason = deny_reason(inner)
            if reason is not None:
                return f"embedded IPv4 {inner}: {reason}"
    for network, reason in _DENIED:
        if address.version == network.version and address in network:
            return reason
    if isinstance(address, ipaddress.IPv6Address) and address not in _IPV6_GLOBAL_UNICAST:
        return "outside 2000::/3 global unicast (IANA IPv6 address space)"
    return None


def _is_public(address: IPAddress) -> bool:
    reason = deny_reason(address)
    if reason is not None:
        logger.info("outbound address %s refused: %s", address, reason)
    return reason is None


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
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))  # IPs: str already
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


def connection_pool(target: CheckedTarget, timeout: urllib3.Timeout) -> urllib3.HTTPConnectionPool:
    """A pool that connects to the checked address itself (the name is never resolved again),
    with TLS verified against the name."""
    if target.parts.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            target.addresses[0],
            target.port,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            timeout=timeout,
            retries=False,
        )
    return urllib3.HTTPConnectionPool(
        target.addresses[0], target.port, timeout=timeout, retries=False
    )


def _exchange(
    url: str,
    *,
    method: str,
    body: bytes | None,
    headers: dict[str, str],
    timeout: urllib3.Timeout,
    read_bytes: int,
    decode: bool,
) -> tuple[int, str, bytes]:
    """One request through the SSRF guard, no redirects followed, no retry: (status, content
    type, at most ``read_bytes`` of the body). Connection failures become ``OutboundRefused``."""
    target = resolve_and_check(url)
    path = (target.parts.path or "/") + (f"?{target.parts.query}" if target.parts.query else "")
    host_header = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
    sent = {**headers, "Host": host_header, "User-Agent": USER_AGENT}
    pool = connection_pool(target, timeout)
    try:
        response = pool.urlopen(
            method,
            path,
            body=body,
            headers=sent,
            redirect=False,
            preload_content=False,
            retries=False,
        )
        try:
            data = response.read(read_bytes, decode_content=decode)
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
    content_type = str(response.headers.get("Content-Type", ""))[:200]
    return response.status, content_type, data


def fetch(
    url: str,
    *,
    timeout: float = 15.0,
    extra_headers: dict[str, str] | None = None,
    method: str = "GET",
    body: bytes | None = None,
) -> OutboundResponse:
    """GET (or POST ``body``) the URL through the SSRF guard; one attempt, no redirects
    followed; the first KiB of the answer kept as an excerpt."""
    status, _content_type, data = _exchange(
        url,
        method=method,
        body=body,
        headers={**(extra_headers or {}), "Accept": "*/*"},
        timeout=urllib3.Timeout(connect=5.0, read=timeout),
        read_bytes=1024,
        decode=False,
    )
    return OutboundResponse(status=status, body_excerpt=data.decode("utf-8", "replace"))


@dataclass(frozen=True)
class BoundedResponse:
    status: int
    content_type: str
    body: bytes


def fetch_bounded(
    url: str,
    *,
    max_bytes: int,
    timeout: float = 10.0,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    body: bytes | None = None,
) -> BoundedResponse:
    """Like ``fetch``, for a document read whole (an OpenID provider's discovery document, key
    set, token answer): the body up to ``max_bytes``, refused (``too_large``) past it.
    ``timeout`` bounds connect and every read together, so a slow-drip answer cannot hold a
    request handler."""
    status, content_type, data = _exchange(
        url,
        method=method,
        body=body,
        headers=headers or {},
        timeout=urllib3.Timeout(total=timeout),
        read_bytes=max_bytes + 1,
        decode=True,
    )
    if len(data) > max_bytes:
        raise OutboundRefused("too_large", f"The answer is over {max_bytes} bytes.")
    return BoundedResponse(status=status, content_type=content_type, body=data)
