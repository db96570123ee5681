"""Status postbacks (created / approved / rejected), the partner's own template beside the
offer's, and the Standard Webhooks signature on every outbound postback, checked with the
standardwebhooks package's own verify()."""

from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
from django.utils import timezone
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from brands.webhooks import signing_secret_rotate
from conversions.models import PostbackDelivery
from conversions.outbox import drain
from conversions.services import conversion_approve, conversion_reject
from tests.conversions.factories_flow import accepted_click, record
from tests.factories import OfferFactory, PartnerFactory


@pytest.fixture
def wired(httpserver, allow_private_outbound, brand):
    base = httpserver.url_for("").rstrip("/")
    offer = OfferFactory(
        brand=brand,
        slug="shop",
        payout_amount=Decimal("5.00"),
        postback_url_template=base + "/offer?c={CONVERSION_ID}&s={STATUS}&e={EVENT}&t={EVENT_TYPE}",
    )
    partner = PartnerFactory(
        brand=brand, slug="pa", postback_url_template=base + "/partner?c={CONVERSION_ID}&s={STATUS}"
    )
    httpserver.expect_request("/offer").respond_with_data("ok")
    httpserver.expect_request("/partner").respond_with_data("ok")
    return offer, partner


def sent(httpserver):
    got = [
        (request.path, parse_qs(request.query_string.decode()), request)
        for request, _ in httpserver.log
    ]
    httpserver.clear_log()
    return got


def verify(secret, request):
    """What a receiver does: the request target (path and query as sent) is the content."""
    target = request.full_path.rstrip("?")
    Webhook(secret).verify(target, dict(request.headers), json_parse=False)


def test_every_status_change_fires_both_templates_signed(httpserver, brand, actor, wired):
    offer, partner = wired
    _, secret = signing_secret_rotate(actor=actor)
    conversion = record(brand, offer, click=accepted_click(brand, offer, partner), txn_id="T1")
    assert drain() == 2
    created = sent(httpserver)
    assert sorted((path, query["s"][0]) for path, query, _ in created) == [
        ("/offer", "pending"),
        ("/partner", "pending"),
    ]
    offer_request = next(r for path, q, r in created if path == "/offer")
    assert parse_qs(offer_request.query_string.decode())["e"] == ["created"]
    assert parse_qs(offer_request.query_string.decode())["t"] == ["sale"]
    for _, _, request in created:
        verify(secret, request)
        assert request.headers["webhook-signature"].startswith("v1,")
        assert request.headers["Idempotency-Key"] == request.headers["webhook-id"]
    conversion_approve(actor=actor, conversion=conversion)
    conversion_approve(actor=actor, conversion=conversion)  # idempotent: fires once
    assert drain() == 2
    assert sorted((p, q["s"][0]) for p, q, _ in sent(httpserver)) == [
        ("/offer", "approved"),
        ("/partner", "approved"),
    ]
    conversion_reject(actor=actor, conversion=conversion, reason="refund")
    assert drain() == 2
    rejected = sent(httpserver)
    assert {q["s"][0] for _, q, _ in rejected} == {"rejected"}
    assert {q.get("e", ["-"])[0] for p, q, _ in rejected if p == "/offer"} == {"rejected"}
    assert set(
        PostbackDelivery.objects.filter(conversion=conversion).values_list("kind", "event")
    ) == {
        (kind, f"conversion.{event}")
        for kind in ("offer_postback", "partner_postback")
        for event in ("created", "approved", "rejected")
    }


def test_a_tampered_or_foreign_signature_does_not_verify(httpserver, brand, actor, wired):
    offer, partner = wired
    _, secret = signing_secret_rotate(actor=actor)
    record(brand, offer, click=accepted_click(brand, offer, partner), txn_id="T1")
    drain()
    (_, _, request), _ = sent(httpserver)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(
            request.full_path.replace("pending", "approved"),
            dict(request.headers),
            json_parse=False,
        )
    _, other = signing_secret_rotate(actor=actor, overlap_hours=0)
    with pytest.raises(WebhookVerificationError):  # signed before this secret existed
        verify(other, request)


def test_rotation_overlap_signs_with_both_secrets_until_it_ends(
    httpserver, brand, actor, wired, time_machine
):
    offer, partner = wired
    _, old = signing_secret_rotate(actor=actor)
    _, new = signing_secret_rotate(actor=actor, overlap_hours=24)
    record(brand, offer, click=accepted_click(brand, offer, partner), txn_id="T1")
    drain()
    for _, _, request in sent(httpserver):
        assert len(request.headers["webhook-signature"].split(" ")) == 2
        verify(old, request)
        verify(new, request)
    time_machine.move_to(timezone.now() + timedelta(hours=25))
    record(brand, offer, click=accepted_click(brand, offer, partner), txn_id="T2")
    drain()
    for _, _, request in sent(httpserver):
        assert len(request.headers["webhook-signature"].split(" ")) == 1
        verify(new, request)
        with pytest.raises(WebhookVerificationError):
            verify(old, request)


def test_a_template_without_status_placeholders_gets_one_postback_as_before(
    httpserver, brand, actor, allow_private_outbound
):
    base = httpserver.url_for("").rstrip("/")
    offer = OfferFactory(brand=brand, postback_url_template=base + "/legacy?c={CONVERSION_ID}")
    partner = PartnerFactory(brand=brand)
    httpserver.expect_request("/legacy").respond_with_data("ok")
    conversion = record(brand, offer, click=accepted_click(brand, offer, partner), txn_id="L")
    conversion_approve(actor=actor, conversion=conversion)
    conversion_reject(actor=actor, conversion=conversion)
    assert drain() == 1
    assert len(sent(httpserver)) == 1


def test_held_conversion_rejected_tells_nobody(httpserver, brand, actor, wired):
    offer, partner = wired
    brand.fraud_mode, brand.fraud_threshold = "review", 30
    brand.save()
    held = record(
        brand, offer, click=accepted_click(brand, offer, partner, seconds_ago=0), txn_id="H"
    )
    assert held.status == "pending_review"
    conversion_reject(actor=actor, conversion=held)
    assert drain() == 0
    assert not PostbackDelivery.objects.exists()


def test_a_reversal_after_payout_is_a_status_postback_and_a_webhook(
    httpserver, brand, actor, wired
):
    from brands.webhooks import webhook_create
    from conversions.payouts import payout_mark_paid, payouts_generate
    from conversions.reversals import conversion_reverse

    offer, partner = wired
    httpserver.expect_request("/hooks", method="POST").respond_with_data("ok")
    _, secret = signing_secret_rotate(actor=actor)
    webhook_create(actor=actor, url=httpserver.url_for("/hooks"), events=["conversion.reversed"])
    conversion = record(brand, offer, click=accepted_click(brand, offer, partner), txn_id="R")
    conversion_approve(actor=actor, conversion=conversion)
    (payout,) = payouts_generate(actor=actor)
    payout_mark_paid(actor=actor, payout=payout, method="wire")
    drain()
    sent(httpserver)
    conversion_reverse(actor=actor, conversion=conversion, reason="refund")
    assert drain() == 3
    got = sent(httpserver)
    assert sorted((p, q.get("s", [""])[0]) for p, q, _ in got) == [
        ("/hooks", ""),
        ("/offer", "reversed"),
        ("/partner", "reversed"),
    ]
    hook = next(r for p, _, r in got if p == "/hooks")
    payload = Webhook(secret).verify(hook.get_data(), dict(hook.headers))
    assert (payload["type"], payload["data"]["status"]) == ("conversion.reversed", "reversed")
