"""The SSRF guard's deny list, range by range: an address inside every IANA special-purpose
block is refused, and the neighbours just outside it (where they are ordinary public space)
are allowed. The table is written out by hand, not derived from the guard's own list, so a
block dropped from the list turns its row red; a block added without a row fails
``test_every_denied_block_has_a_row``."""

from __future__ import annotations

import ipaddress
import json
import socket

import pytest

from core.outbound_http import (
    DENIED_NETWORKS,
    OutboundRefused,
    check_url_static,
    deny_reason,
    resolve_and_check,
)

# (block, addresses inside, addresses just outside that must stay reachable)
ROWS: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    # IPv4 Special-Purpose Address Registry, multicast, reserved, broadcast
    ("0.0.0.0/8", ("0.0.0.0", "0.255.255.255"), ("1.0.0.0",)),  # noqa: S104 - data, not a bind
    ("10.0.0.0/8", ("10.0.0.1", "10.255.255.255"), ("9.255.255.255", "11.0.0.0")),
    ("100.64.0.0/10", ("100.64.0.1", "100.127.255.255"), ("100.63.255.255", "100.128.0.0")),
    ("127.0.0.0/8", ("127.0.0.1", "127.255.255.254"), ("126.255.255.255", "128.0.0.0")),
    ("169.254.0.0/16", ("169.254.169.254",), ("169.253.255.255", "169.255.0.0")),
    ("172.16.0.0/12", ("172.16.0.1", "172.31.255.255"), ("172.15.255.255", "172.32.0.0")),
    (
        "192.0.0.0/24",
        ("192.0.0.1", "192.0.0.8", "192.0.0.9", "192.0.0.10", "192.0.0.170", "192.0.0.255"),
        ("191.255.255.255", "192.0.1.0"),
    ),
    ("192.0.2.0/24", ("192.0.2.1",), ("192.0.1.255", "192.0.3.0")),
    ("192.31.196.0/24", ("192.31.196.1",), ("192.31.195.255", "192.31.197.0")),
    ("192.52.193.0/24", ("192.52.193.1",), ("192.52.192.255", "192.52.194.0")),
    ("192.88.99.0/24", ("192.88.99.1", "192.88.99.2"), ("192.88.98.255", "192.88.100.0")),
    ("192.168.0.0/16", ("192.168.1.1",), ("192.167.255.255", "192.169.0.0")),
    ("192.175.48.0/24", ("192.175.48.1",), ("192.175.47.255", "192.175.49.0")),
    ("198.18.0.0/15", ("198.18.0.1", "198.19.255.255"), ("198.17.255.255", "198.20.0.0")),
    ("198.51.100.0/24", ("198.51.100.7",), ("198.51.99.255", "198.51.101.0")),
    ("203.0.113.0/24", ("203.0.113.9",), ("203.0.112.255", "203.0.114.0")),
    ("224.0.0.0/4", ("224.0.0.1", "239.255.255.250"), ("223.255.255.255",)),
    ("240.0.0.0/4", ("240.0.0.1", "255.255.255.254"), ()),  # below is multicast, above nothing
    ("255.255.255.255/32", ("255.255.255.255",), ()),
    # IPv6 Special-Purpose Address Registry, multicast, deprecated site-local
    ("::/128", ("::",), ()),
    ("::1/128", ("::1",), ()),
    ("::ffff:0:0/96", ("::ffff:10.0.0.1", "::ffff:127.0.0.1", "::ffff:8.8.8.8"), ()),
    ("64:ff9b::/96", ("64:ff9b::10.0.0.1", "64:ff9b::169.254.169.254", "64:ff9b::8.8.8.8"), ()),
    ("64:ff9b:1::/48", ("64:ff9b:1::8.8.8.8",), ()),
    ("100::/64", ("100::1",), ()),
    ("100:0:0:1::/64", ("100:0:0:1::1",), ()),
    (
        "2001::/23",
        ("2001:100::1", "2001:1ff:ffff::1"),
        ("2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:200::1"),
    ),
    # Sub-blocks of 2001::/23: only "inside" is meaningful, their neighbours are in the /23.
    ("2001::/32", ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001::1"), ()),
    ("2001:1::1/128", ("2001:1::1",), ()),
    ("2001:1::2/128", ("2001:1::2",), ()),
    ("2001:1::3/128", ("2001:1::3",), ()),
    ("2001:2::/48", ("2001:2::1",), ()),
    ("2001:3::/32", ("2001:3::1",), ()),
    ("2001:4:112::/48", ("2001:4:112::1",), ()),
    ("2001:10::/28", ("2001:10::1",), ()),
    ("2001:20::/28", ("2001:20::1",), ()),
    ("2001:30::/28", ("2001:30::1",), ()),
    (
        "2001:db8::/32",
        ("2001:db8::1", "2001:db8:ffff::1"),
        ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::"),
    ),
    (
        "2002::/16",
        ("2002:a00:1::1", "2002:7f00:1::1", "2002:808:808::1"),  # private, loopback, public
        ("2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2003::1"),
    ),
    (
        "2620:4f:8000::/48",
        ("2620:4f:8000::1",),
        ("2620:4f:7fff:ffff:ffff:ffff:ffff:ffff", "2620:4f:8001::"),
    ),
    (
        "3fff::/20",
        ("3fff::1", "3fff:fff:ffff::1"),
        ("3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "3fff:1000::"),
    ),
    ("5f00::/16", ("5f00::1",), ()),
    ("fc00::/7", ("fc00::1", "fd12:3456::1"), ()),
    ("fe80::/10", ("fe80::1",), ()),
    ("fec0::/10", ("fec0::1",), ()),
    ("ff00::/8", ("ff02::1", "ff0e::1"), ()),
]

INSIDE = [(block, address) for block, inside, _ in ROWS for address in inside]
OUTSIDE = [(block, address) for block, _, outside in ROWS for address in outside]


def _url(address: str) -> str:
    return f"http://[{address}]/pb" if ":" in address else f"http://{address}/pb"


@pytest.fixture(autouse=True)
def _guard_on(settings):
    settings.TRCKER_OUTBOUND_ALLOW_PRIVATE = False


def test_every_denied_block_has_a_row():
    assert {block for block, _ in DENIED_NETWORKS} == {block for block, _, _ in ROWS}


@pytest.mark.parametrize(("block", "address"), INSIDE)
def test_address_inside_a_special_purpose_block_is_refused(block, address):
    assert ipaddress.ip_address(address) in ipaddress.ip_network(block)  # the row is right
    with pytest.raises(OutboundRefused) as refused:
        check_url_static(_url(address))
    assert refused.value.code == "address_not_public"


@pytest.mark.parametrize(("block", "address"), OUTSIDE)
def test_address_just_outside_a_block_is_allowed(block, address):
    assert ipaddress.ip_address(address) not in ipaddress.ip_network(block)
    assert deny_reason(ipaddress.ip_address(address)) is None
    check_url_static(_url(address))  # no exception


@pytest.mark.parametrize(
    ("address", "embedded"),
    [
        ("64:ff9b::10.0.0.1", "10.0.0.1"),  # NAT64
        ("64:ff9b:1::a9fe:a9fe", "169.254.169.254"),  # local-use NAT64
        ("::ffff:10.0.0.1", "10.0.0.1"),  # IPv4-mapped
        ("2002:c0a8:101::1", "192.168.1.1"),  # 6to4
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "10.0.0.1"),  # Teredo client (obfuscated)
    ],
)
def test_the_embedded_ipv4_is_judged_too(address, embedded):
    reason = deny_reason(ipaddress.ip_address(address))
    assert reason is not None
    assert reason.startswith(f"embedded IPv4 {embedded}:")


@pytest.mark.parametrize("address", ["4000::1", "1000::1", "e000::1", "200::1"])
def test_ipv6_outside_global_unicast_is_refused(address):
    assert "2000::/3" in (deny_reason(ipaddress.ip_address(address)) or "")


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450::1"])
def test_ordinary_public_addresses_pass(address):
    assert deny_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("resolved", ["192.0.0.8", "100.64.0.1", "198.18.0.1", "2001:db8::1"])
def test_a_name_resolving_into_a_block_is_refused(monkeypatch, resolved):
    family = socket.AF_INET6 if ":" in resolved else socket.AF_INET

    def fake_getaddrinfo(host, port, *args, **kwargs):
        return [(family, socket.SOCK_STREAM, 6, "", (resolved, port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(OutboundRefused) as refused:
        resolve_and_check("https://postbacks.example.com/pb")
    assert refused.value.code == "address_not_public"


def test_allow_private_still_lifts_the_address_rules(settings, monkeypatch):
    settings.TRCKER_OUTBOUND_ALLOW_PRIVATE = True
    check_url_static("http://192.0.0.8:8080/pb")

    def fake_getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    assert resolve_and_check("http://sink.internal:9000/pb").addresses == ("10.0.0.5",)


def _resolve_to(monkeypatch, address: str) -> None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET

    def fake_getaddrinfo(host, port, *args, **kwargs):
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)


def test_client_metadata_documents_go_through_the_same_guard(monkeypatch):
    """OAuth client ID metadata documents (CIMD) are fetched by Trcker's fetcher, not the
    library's, whose ipaddress.is_global check lets 192.0.0.8 through on this CPython."""
    from oauth2_provider.cimd import CIMDError
    from oauth2_provider.settings import oauth2_settings

    _resolve_to(monkeypatch, "192.0.0.8")
    fetcher = oauth2_settings.CIMD_METADATA_FETCHER()
    with pytest.raises(CIMDError, match="address_not_public"):
        fetcher.fetch("https://client.example.com/oauth/metadata.json")


def test_client_metadata_documents_are_read_from_the_checked_address(monkeypatch):
    import io

    import urllib3
    from oauth2_provider.settings import oauth2_settings

    from core import outbound_http

    _resolve_to(monkeypatch, "93.184.215.14")
    opened: list[tuple[str, str, dict]] = []
    document = {"client_id": "https://client.example.com/m.json", "redirect_uris": []}

    class FakePool:
        def __init__(self, target, timeout):
            self.address = target.addresses[0]

        def urlopen(self, method, path, headers, **kwargs):
            opened.append((self.address, path, headers))
            return urllib3.HTTPResponse(
                body=io.BytesIO(json.dumps(document).encode()),
                headers={"Content-Type": "application/json", "Cache-Control": "max-age=600"},
                status=200,
                preload_content=False,
            )

        def close(self):
            pass

    monkeypatch.setattr(outbound_http, "connection_pool", FakePool)
    metadata, _max_age = oauth2_settings.CIMD_METADATA_FETCHER().fetch(
        "https://client.example.com/m.json"
    )
    assert metadata == document
    assert [(a, p, h["Host"]) for a, p, h in opened] == [
        ("93.184.215.14", "/m.json", "client.example.com")
    ]
