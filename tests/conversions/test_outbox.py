import threading
from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
from django.utils import timezone
from werkzeug import Response

from conversions.models import PostbackDelivery
from conversions.outbox import MAX_ATTEMPTS, RETRY_DELAYS, deliver_one, drain
from conversions.services import conversion_approve, delivery_replay
from core.errors import InvalidTransitionError
from tests.conversions.factories_flow import accepted_click, record
from tests.factories import OfferFactory, PartnerFactory

TEMPLATE = (
    "{base}/pb?click={CLICK_ID}&conv={CONVERSION_ID}&amount={AMOUNT}&txn={TXN_ID}&event={EVENT_TYPE}"
    "&payout={PAYOUT}&offer={OFFER_ID}&partner={PARTNER_ID}&s1={SUB1}"
)


@pytest.fixture
def endpoint(httpserver, allow_private_outbound, brand):
    offer = OfferFactory(
        brand=brand,
        slug="shop",
        payout_amount=Decimal("12.50"),
        postback_url_template=TEMPLATE.replace("{base}", httpserver.url_for("").rstrip("/")),
    )
    partner = PartnerFactory(brand=brand, slug="abc-123")
    return offer, partner


def convert(brand, offer, partner, txn="T-1", **click_fields):
    return record(
        brand,
        offer,
        click=accepted_click(brand, offer, partner, **click_fields),
        txn_id=txn,
        amount="99.90",
    )


def test_outbound_postback_is_delivered_with_placeholders_filled(httpserver, brand, endpoint):
    offer, partner = endpoint
    httpserver.expect_oneshot_request("/pb", method="GET").respond_with_data("ok")
    conversion = convert(brand, offer, partner, sub1="a&b=c @x\r\nX-Injected: 1")
    assert drain() == 1
    httpserver.check_assertions()
    ((request, _response),) = httpserver.log
    query = parse_qs(request.query_string.decode())
    assert query == {
        "click": [conversion.click_id],
        "conv": [conversion.id],
        "amount": ["99.90"],
        "txn": ["T-1"],
        "event": ["sale"],
        "payout": ["12.50"],
        "offer": ["shop"],
        "partner": ["abc-123"],
        "s1": ["a&b=c @x\r\nX-Injected: 1"],
    }
    assert "X-Injected" not in request.headers
    delivery = PostbackDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert request.headers["Idempotency-Key"] == f"trk-pb-{delivery.pk}"


def test_retry_schedule_then_dead_then_replay_delivers_exactly_once(
    httpserver, brand, endpoint, time_machine
):
    offer, partner = endpoint
    httpserver.expect_request("/pb").respond_with_data("down", status=500)
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    convert(brand, offer, partner)
    delivery = PostbackDelivery.objects.get()
    seen_delays = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert deliver_one() is not None
        delivery.refresh_from_db()
        assert delivery.attempts == attempt
        if attempt < MAX_ATTEMPTS:
            assert delivery.status == "failed"
            delay = delivery.next_attempt_at - timezone.now()
            expected = RETRY_DELAYS[attempt - 1]
            assert expected * 0.9 <= delay <= expected * 1.1
            seen_delays.append(expected)
            assert deliver_one() is None  # not due yet
            time_machine.move_to(delivery.next_attempt_at, tick=False)
    assert delivery.status == "dead"
    assert delivery.last_error == "http_500"
    assert seen_delays == [
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
        timedelta(hours=10),
    ]
    assert len(httpserver.log) == MAX_ATTEMPTS
    # Every attempt of one delivery carries the same key, so a receiver can drop repeats.
    assert {request.headers["Idempotency-Key"] for request, _ in httpserver.log} == {
        f"trk-pb-{delivery.pk}"
    }
    # replay after the endpoint recovers: delivered exactly once
    httpserver.clear()
    httpserver.expect_request("/pb").respond_with_data("ok")
    from tests.conftest import make_actor

    delivery_replay(actor=make_actor(brand), delivery=delivery)
    assert drain() == 1
    assert drain() == 0
    assert len(httpserver.log) == 1
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    with pytest.raises(InvalidTransitionError):
        delivery_replay(actor=make_actor(brand), delivery=delivery)


def test_410_stops_delivery_at_once(httpserver, brand, endpoint):
    offer, partner = endpoint
    httpserver.expect_request("/pb").respond_with_data("gone", status=410)
    convert(brand, offer, partner)
    drain()
    delivery = PostbackDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("dead", 1, "gone")


def test_redirects_count_as_failures_and_are_not_followed(httpserver, brand, endpoint):
    offer, partner = endpoint
    httpserver.expect_request("/pb").respond_with_response(
        Response(status=302, headers={"Location": httpserver.url_for("/elsewhere")})
    )
    httpserver.expect_request("/elsewhere").respond_with_data("should never be reached")
    convert(brand, offer, partner)
    drain()
    delivery = PostbackDelivery.objects.get()
    assert (delivery.status, delivery.last_error, delivery.last_status_code) == (
        "failed",
        "http_302",
        302,
    )
    assert [request.path for request, _ in httpserver.log] == ["/pb"]


def test_held_conversions_fire_when_approved(httpserver, brand, endpoint, actor):
    offer, partner = endpoint
    brand.fraud_mode, brand.fraud_threshold = "review", 30
    brand.save()
    held = record(
        brand, offer, click=accepted_click(brand, offer, partner, seconds_ago=0), txn_id="H"
    )
    assert held.status == "pending_review"
    assert drain() == 0
    httpserver.expect_oneshot_request("/pb").respond_with_data("ok")
    conversion_approve(actor=actor, conversion=held)
    assert drain() == 1
    httpserver.check_assertions()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_never_send_the_same_delivery_twice(httpserver, allow_private_outbound):
    from django.db import connection

    from tests.factories import BrandFactory

    brand = BrandFactory(slug="workers")
    offer = OfferFactory(
        brand=brand, postback_url_template=httpserver.url_for("/pb") + "?conv={CONVERSION_ID}"
    )
    partner = PartnerFactory(brand=brand)
    for i in range(40):
        record(brand, offer, click=accepted_click(brand, offer, partner), txn_id=f"W-{i}")
    httpserver.expect_request("/pb").respond_with_data("ok")
    counts = []

    def worker() -> None:
        try:
            counts.append(drain())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    sent = [parse_qs(request.query_string.decode())["conv"][0] for request, _ in httpserver.log]
    assert sum(counts) == 40
    assert len(sent) == 40
    assert len(set(sent)) == 40
    assert set(PostbackDelivery.objects.values_list("status", flat=True)) == {"delivered"}
