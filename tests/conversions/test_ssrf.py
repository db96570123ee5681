"""Outbound postback URLs are tenant-controlled: refused at save and at send, and no
connection is ever made to loopback/private space (a canary listener counts attempts)."""

import socket
import threading

import pytest

from conversions.models import PostbackDelivery
from conversions.outbox import drain
from core.errors import ValidationError
from core.outbound_http import OutboundRefused, fetch
from offers.services import offer_create, offer_update
from tests.conversions.factories_flow import accepted_click, record
from tests.factories import OfferFactory, PartnerFactory

STABLE_CODES = {
    "scheme_not_allowed",
    "credentials_in_url",
    "port_not_allowed",
    "host_not_allowed",
    "address_not_public",
    "dns_failed",
    "invalid_url",
    "placeholder_in_host",
}

VECTORS = [
    "http://127.0.0.1/pb",
    "http://[::1]/pb",
    "http://0x7f000001/pb",
    "http://2130706433/pb",
    "http://0177.0.0.1/pb",
    "http://127.1/pb",
    "http://0.0.0.0/pb",
    "http://[::]/pb",
    "http://169.254.169.254/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://10.0.0.1/pb",
    "http://172.16.0.1/pb",
    "http://192.168.1.1/pb",
    "http://100.64.0.1/pb",
    "http://198.18.0.1/pb",
    "http://[::ffff:127.0.0.1]/pb",
    "http://[0:0:0:0:0:ffff:7f00:1]/pb",
    "http://[fe80::1]/pb",
    "http://[fc00::1]/pb",
    "http://224.0.0.1/pb",
    "http://example.com:22/pb",
    "http://example.com:5432/pb",
    "http://example.com:6379/pb",
    "http://localhost/pb",
    "http://localhost./pb",
    "http://printer.local/pb",
    "http://db.internal/pb",
    "http://intranet/pb",
    "https://user:pass@example.com/pb",
    "https://example.com@127.0.0.1/pb",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
    "ftp://example.com/pb",
]


@pytest.fixture
def canary():
    """A listener on loopback that records every connection made to it."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind(("127.0.0.1", 80))  # where a bypass of the port rule would land
    except OSError:
        server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.1)
    hits: list[tuple[str, int]] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, address = server.accept()
            except (TimeoutError, OSError):
                continue
            hits.append(address)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield hits, server.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    server.close()


def test_there_are_at_least_20_vectors():
    assert len(VECTORS) >= 20


@pytest.mark.parametrize("url", VECTORS)
def test_vector_is_refused_at_send_with_a_stable_code_and_no_connection(canary, url):
    hits, _ = canary
    with pytest.raises(OutboundRefused) as refused:
        fetch(url, timeout=1)
    assert refused.value.code in STABLE_CODES
    assert "Errno" not in refused.value.message and "socket" not in refused.value.message.lower()
    assert hits == []


def test_canary_port_itself_is_refused(canary):
    hits, port = canary
    for url in (
        f"http://127.0.0.1:{port}/",
        f"http://2130706433:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
    ):
        with pytest.raises(OutboundRefused):
            fetch(url, timeout=1)
    assert hits == []


@pytest.mark.parametrize("url", VECTORS)
def test_vector_is_refused_when_saved_as_a_template(actor, offer, url):
    with pytest.raises(ValidationError):
        offer_update(actor=actor, offer=offer, postback_url_template=url + "?c={CLICK_ID}")
    offer.refresh_from_db()
    assert offer.postback_url_template is None


def test_placeholders_may_not_touch_the_host(actor):
    for template in (
        "https://{SUB1}.example.com/pb",
        "https://example.com:{SUB1}/pb",
        "https://{SUB1}/",
    ):
        with pytest.raises(ValidationError) as err:
            offer_create(
                actor=actor,
                name="x",
                destination_url="https://a.example/",
                payout_amount=1,
                postback_url_template=template,
            )
        assert err.value.code.startswith("unsafe_postback_url") or err.value.code == "invalid_input"


def test_stored_vectors_are_refused_by_the_worker_without_connecting(canary, brand):
    hits, _ = canary
    offer = OfferFactory(brand=brand)
    partner = PartnerFactory(brand=brand)
    conversion = record(brand, offer, click=accepted_click(brand, offer, partner), txn_id="S")
    for url in VECTORS:
        PostbackDelivery.objects.create(brand=brand, conversion=conversion, url=url)
    PostbackDelivery.objects.update(next_attempt_at=conversion.created_at)
    drain()
    deliveries = PostbackDelivery.objects.all()
    assert {d.status for d in deliveries} <= {"dead", "failed"}
    assert {d.last_error for d in deliveries} <= STABLE_CODES
    assert all(d.last_status_code is None for d in deliveries)
    assert hits == []


def test_placeholder_values_cannot_change_host_path_or_headers():
    from core.url_templates import render_url_template

    template = "https://adv.example/pb?c={SUB1}&t={TXN_ID}"
    for value in (
        "@evil.example/",
        "%0d%0aX-Injected: 1",
        "\r\nX-Injected: 1",
        "../../admin",
        "#frag",
        "?a=b&c=d",
    ):
        rendered = render_url_template(template, {"SUB1": value, "TXN_ID": value})
        assert rendered.startswith("https://adv.example/pb?c=")
        assert "\r" not in rendered and "\n" not in rendered
        assert "@" not in rendered and "#" not in rendered and "/.." not in rendered
