"""Webhooks to the brand: managed over REST, each subscribed event delivered through the
outbox as a signed JSON POST that the standardwebhooks package's own verify() accepts, in the
transaction of the change (a rolled-back change sends nothing), another brand's endpoints
invisible, SSRF targets refused at creation and at delivery."""

import json
from decimal import Decimal

import pytest
from django.db import transaction
from standardwebhooks import Webhook

from audit.models import AuditEvent
from brands import events
from brands.webhook_models import WebhookEndpoint
from brands.webhooks import signing_secret_rotate, webhook_create
from conversions.models import PostbackDelivery
from conversions.outbox import drain
from conversions.services import conversion_approve, conversion_reject
from partners.services import partner_approve
from tests.conftest import client_with_key, issue_key, make_actor
from tests.conversions.factories_flow import accepted_click, record
from tests.conversions.test_ssrf import STABLE_CODES, VECTORS
from tests.factories import OfferFactory, PartnerFactory

ALL_EVENTS = list(events.EVENTS)


@pytest.fixture
def receiver(httpserver, allow_private_outbound):
    httpserver.expect_request("/hooks", method="POST").respond_with_data("ok")
    return httpserver.url_for("/hooks")


def bodies(httpserver, secret):
    """Every POST received, verified the way a receiver does; the log cleared."""
    got = []
    for request, _ in httpserver.log:
        if request.path != "/hooks":
            continue
        payload = Webhook(secret).verify(request.get_data(), dict(request.headers))
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["webhook-id"].startswith("trk-wh-")
        got.append(payload)
    httpserver.clear_log()
    return got


def test_crud_over_rest(api, receiver):
    created = api.post(
        "/api/v1/webhooks/",
        {"url": receiver, "events": ["conversion.approved", "partner.applied"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    hook = created.json()
    assert hook["events"] == ["conversion.approved", "partner.applied"]
    assert api.get("/api/v1/webhooks/").json()["results"][0]["webhook_id"] == hook["webhook_id"]
    path = f"/api/v1/webhooks/{hook['webhook_id']}/"
    changed = api.patch(path, {"events": ["payout.paid"], "is_active": False}, format="json")
    assert changed.status_code == 200, changed.content
    assert (changed.json()["events"], changed.json()["is_active"]) == (["payout.paid"], False)
    assert api.get(f"{path}deliveries/").json()["results"] == []
    assert api.delete(path).status_code == 200
    assert api.get(path).status_code == 404
    assert list(
        AuditEvent.objects.filter(action__startswith="webhook.").values_list("action", flat=True)
    ) == ["webhook.create", "webhook.update", "webhook.delete"]


def test_signing_secret_is_shown_once_and_rotates(api):
    assert api.get("/api/v1/signing-secret/").json()["has_secret"] is False
    rotated = api.post("/api/v1/signing-secret/rotate/", {"overlap_hours": 2}, format="json")
    assert rotated.status_code == 200, rotated.content
    secret = rotated.json()["signing_secret"]
    assert secret.startswith("whsec_")
    assert rotated["Cache-Control"].startswith("no-store")
    status = api.get("/api/v1/signing-secret/").json()
    assert status["has_secret"] is True
    assert secret not in json.dumps(status)
    assert secret not in json.dumps(list(AuditEvent.objects.values("changes")), default=str)


def test_refusals_are_clear_and_write_nothing(api, other_brand):
    cases = [
        ({"url": "https://hooks.example.com/x", "events": ["nope"]}, "unknown_event"),
        ({"url": "https://hooks.example.com/x", "events": []}, "invalid_input"),
        ({"url": "ftp://hooks.example.com/x", "events": ["payout.paid"]}, "invalid_input"),
        ({"url": "https://hooks.example.com/x"}, "invalid_input"),
        ({"url": "https://hooks.example.com/x", "events": "payout.paid"}, "invalid_input"),
        ({"url": "https://hooks.example.com/x", "events": ["payout.paid"], "brand": 1}, None),
    ]
    for body, code in cases:
        answer = api.post("/api/v1/webhooks/", body, format="json")
        assert answer.status_code in (400, 422), (body, answer.content)
        if code:
            assert answer.json()["error"]["code"] == code
    foreign = webhook_create(
        actor=make_actor(other_brand), url="https://hooks.example.com/o", events=["payout.paid"]
    )
    for method in ("get", "patch", "delete"):
        body = {"is_active": False} if method == "patch" else None
        call = getattr(api, method)
        answer = call(f"/api/v1/webhooks/{foreign.pk}/", body, format="json")
        never = call("/api/v1/webhooks/999999/", body, format="json")
        assert answer.status_code == never.status_code == 404, (method, answer.content)
        assert answer.json()["error"]["message"].replace(str(foreign.pk), "N") == never.json()[
            "error"
        ]["message"].replace("999999", "N")
    assert api.get(f"/api/v1/webhooks/{foreign.pk}/deliveries/").status_code == 404
    assert WebhookEndpoint.objects.filter(brand__slug=api_brand_slug(api)).count() == 0
    foreign.refresh_from_db()
    assert foreign.is_active


def api_brand_slug(api):
    return api.get("/api/v1/signing-secret/").wsgi_request.auth.brand.slug


@pytest.mark.parametrize("url", VECTORS)
def test_ssrf_targets_are_refused_at_creation(actor, url):
    from core.errors import ValidationError

    with pytest.raises(ValidationError):
        webhook_create(actor=actor, url=url, events=["payout.paid"])
    assert not WebhookEndpoint.objects.exists()


def test_ssrf_targets_stored_anyway_are_refused_at_delivery_without_connecting(
    brand, actor, canary_hits
):
    hits, _ = canary_hits
    for url in VECTORS:
        WebhookEndpoint.objects.create(brand=brand, url=url, events=ALL_EVENTS)
    offer, partner = OfferFactory(brand=brand), PartnerFactory(brand=brand)
    record(brand, offer, click=accepted_click(brand, offer, partner), txn_id="S")
    assert PostbackDelivery.objects.filter(kind="webhook").count() == len(VECTORS)
    drain()
    deliveries = PostbackDelivery.objects.filter(kind="webhook")
    assert {d.status for d in deliveries} <= {"dead", "failed"}
    assert {d.last_error for d in deliveries} <= STABLE_CODES
    assert hits == []


@pytest.fixture
def canary_hits():
    from tests.conversions.test_ssrf import canary

    yield from canary.__wrapped__()


def test_conversion_events_are_signed_posts(httpserver, brand, actor, receiver):
    _, secret = signing_secret_rotate(actor=actor)
    webhook_create(actor=actor, url=receiver, events=ALL_EVENTS)
    offer = OfferFactory(brand=brand, slug="shop", payout_amount=Decimal("5.00"))
    partner = PartnerFactory(brand=brand, slug="pa")
    conversion = record(brand, offer, click=accepted_click(brand, offer, partner), txn_id="T1")
    conversion_approve(actor=actor, conversion=conversion)
    conversion_reject(actor=actor, conversion=conversion, reason="refund")
    assert drain() == 3
    got = bodies(httpserver, secret)
    assert [payload["type"] for payload in got] == [
        "conversion.created",
        "conversion.approved",
        "conversion.rejected",
    ]
    assert got[1]["data"]["conversion_id"] == conversion.id
    assert got[1]["data"]["payout"] == "5.00"
    assert (got[1]["data"]["offer_id"], got[1]["data"]["partner_id"]) == ("shop", "pa")
    assert got[2]["data"]["status"] == "rejected"


def test_partner_events_and_unsubscribed_events(httpserver, brand, actor, receiver):
    _, secret = signing_secret_rotate(actor=actor)
    webhook_create(actor=actor, url=receiver, events=["partner.approved"])
    applicant = PartnerFactory(brand=brand, status="pending", approved_at=None)
    offer = OfferFactory(brand=brand)
    record(brand, offer, click=accepted_click(brand, offer, applicant), txn_id="T1")
    partner_approve(actor=actor, partner=applicant)
    partner_approve(actor=actor, partner=applicant)  # already active: no second event
    drain()
    (payload,) = bodies(httpserver, secret)
    assert (payload["type"], payload["data"]["partner_id"]) == ("partner.approved", applicant.slug)


def test_an_event_of_a_rolled_back_change_is_never_sent(httpserver, brand, actor, receiver):
    webhook_create(actor=actor, url=receiver, events=["partner.approved"])
    applicant = PartnerFactory(brand=brand, status="pending", approved_at=None)

    def approve_then_fail():
        with transaction.atomic():
            partner_approve(actor=actor, partner=applicant)
            assert PostbackDelivery.objects.filter(kind="webhook").count() == 1
            raise RuntimeError("the change fails after the event was enqueued")

    with pytest.raises(RuntimeError):
        approve_then_fail()
    assert not PostbackDelivery.objects.exists()
    assert drain() == 0


def test_cap_reached_fires_once_per_filled_period(httpserver, brand, actor, receiver):
    _, secret = signing_secret_rotate(actor=actor)
    webhook_create(actor=actor, url=receiver, events=["cap.reached"])
    offer = OfferFactory(brand=brand, slug="capped", daily_cap=2, monthly_cap=3, cap_mode="soft")
    partner = PartnerFactory(brand=brand)
    for n in range(5):
        record(brand, offer, click=accepted_click(brand, offer, partner), txn_id=f"C{n}")
    drain()
    got = bodies(httpserver, secret)
    assert [(p["data"]["period"], p["data"]["cap"]) for p in got] == [("day", 2)]


def test_dead_postback_announces_postback_dead(httpserver, brand, actor, receiver):
    _, secret = signing_secret_rotate(actor=actor)
    webhook_create(actor=actor, url=receiver, events=["postback.dead"])
    httpserver.expect_request("/pb").respond_with_data("gone", status=410)
    offer = OfferFactory(
        brand=brand, postback_url_template=httpserver.url_for("/pb") + "?c={CONVERSION_ID}"
    )
    partner = PartnerFactory(brand=brand)
    conversion = record(brand, offer, click=accepted_click(brand, offer, partner), txn_id="D")
    assert drain() == 2  # the postback (410: dead at once), then the webhook it caused
    (payload,) = bodies(httpserver, secret)
    assert payload["type"] == "postback.dead"
    assert payload["data"]["conversion_id"] == conversion.id
    assert payload["data"]["last_error"] == "gone"


def test_a_read_key_cannot_manage_webhooks(brand):
    reader = client_with_key(issue_key(brand, read_only=True))
    answer = reader.post(
        "/api/v1/webhooks/",
        {"url": "https://h.example.com/", "events": ["payout.paid"]},
        format="json",
    )
    assert answer.status_code == 403
    assert reader.post("/api/v1/signing-secret/rotate/", {}, format="json").status_code == 403


def test_payout_paid(httpserver, brand, actor, receiver):
    from conversions.payouts import payout_mark_paid, payouts_generate

    _, secret = signing_secret_rotate(actor=actor)
    webhook_create(actor=actor, url=receiver, events=["payout.paid"])
    offer, partner = OfferFactory(brand=brand), PartnerFactory(brand=brand, slug="pp")
    conversion = record(brand, offer, click=accepted_click(brand, offer, partner), txn_id="P")
    conversion_approve(actor=actor, conversion=conversion)
    (payout,) = payouts_generate(actor=actor)
    payout_mark_paid(actor=actor, payout=payout, method="wire", reference="W-1")
    payout_mark_paid(actor=actor, payout=payout, method="wire", reference="W-1")  # a repeat
    drain()
    (payload,) = bodies(httpserver, secret)
    assert payload["type"] == "payout.paid"
    assert (payload["data"]["payout_id"], payload["data"]["partner_id"]) == (payout.pk, "pp")
    assert payload["data"]["reference"] == "W-1"
