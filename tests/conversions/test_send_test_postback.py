"""Issue 14, send_test_postback: a test click and the postback its advertiser would send,
through the real path, answered with the click's trace and a verdict."""

from __future__ import annotations

from decimal import Decimal

import pytest

from audit.models import AuditEvent
from conversions import tracking_config
from conversions.models import Click, Conversion, PostbackAttempt, PostbackDelivery
from tests.conftest import client_with_key, issue_key
from tests.factories import OfferFactory, PartnerFactory
from tests.mcp_gateway.helpers import Mcp, structured

SECRET = "s3cret-for-tests"
TEMPLATE = "https://partner.example.com/pb?c={CLICK_ID}&p={PAYOUT}"


def send(brand, body, *, read_only=False):
    tracking_config.clear()
    api = client_with_key(issue_key(brand, read_only=read_only))
    offer_id = body.pop("offer_id")
    return api.post(f"/api/v1/offers/{offer_id}/test-postback/", body, format="json")


@pytest.fixture
def signed(brand):
    offer = OfferFactory(
        brand=brand,
        slug="signed",
        postback_secret=SECRET,
        allow_unsigned_postbacks=False,
        postback_url_template=TEMPLATE,
        payout_amount=Decimal("7.50"),
    )
    PartnerFactory(brand=brand, slug="abc-123")
    return offer


def test_a_signed_offer_passes_verification_and_the_trace_shows_everything(brand, signed):
    response = send(brand, {"offer_id": "signed", "sale_amount": "49.90", "sub1": "nl"})

    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["ok"] is True and answer["problems"] == []
    click_id = answer["click_id"]
    assert answer["txn_id"] == f"test-{click_id}"
    assert answer["request"]["proof"] == "signature"
    assert "/api/postback/acme/signed?" in answer["request"]["url"]
    assert SECRET not in response.content.decode()
    assert answer["postback"]["outcome"] == "accepted"
    assert answer["postback"]["http_status"] == 200
    trace = answer["trace"]
    assert trace["click_id"] == click_id and trace["queued"] is False
    assert trace["click"]["is_test"] is True and trace["click"]["outcome"] == "accepted"
    assert (trace["click"]["partner_id"], trace["click"]["sub1"]) == ("abc-123", "nl")
    (conversion,) = trace["conversions"]
    assert conversion["conversion_id"] == answer["postback"]["conversion_id"]
    assert conversion["is_test"] is True and conversion["status"] == "pending"
    assert (conversion["sale_amount"], conversion["payout"]) == ("49.90", "7.50")
    assert conversion["deliveries"] == []  # the partner hears nothing of a test
    (attempt,) = trace["postback_attempts"]
    assert (attempt["outcome"], attempt["txn_id"]) == ("accepted", answer["txn_id"])
    assert attempt["params"]["header:X-Trcker-Signature"] == "[redacted]"
    # What the database holds, independently of the answer.
    assert Click.objects.get(pk=click_id).is_test is True
    stored = Conversion.objects.get(pk=conversion["conversion_id"])
    assert stored.is_test is True and stored.fraud_score == 0
    assert not PostbackDelivery.objects.exists()
    assert PostbackAttempt.objects.get().outcome == "accepted"
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"postback.test", "conversion.create"} <= actions
    assert [c["action"] for c in answer["changes"]] == ["conversion.create", "postback.test"]


def test_each_call_is_a_fresh_test(brand, signed):
    first = send(brand, {"offer_id": "signed"}).json()
    second = send(brand, {"offer_id": "signed"}).json()
    assert first["txn_id"] != second["txn_id"]
    assert first["ok"] and second["ok"]
    assert Conversion.objects.filter(is_test=True).count() == 2


def test_a_paused_offer_shows_the_refused_click_and_the_refused_postback(brand, signed):
    signed.status = "paused"
    signed.save()
    answer = send(brand, {"offer_id": "signed"}).json()
    assert answer["ok"] is False
    assert [(p["stage"], p["code"]) for p in answer["problems"]] == [
        ("click", "offer_paused"),
        ("postback", "unknown_click"),
    ]
    assert answer["trace"]["click"]["outcome"] == "offer_paused"
    assert answer["trace"]["conversions"] == []
    assert answer["postback"] == {
        "outcome": "unknown_click",
        "http_status": 422,
        "conversion_id": None,
        "conversion_status": None,
        "attribution_window_days": 30,
        "effective_hold_days": None,
    }
    assert [a["outcome"] for a in answer["trace"]["postback_attempts"]] == ["unknown_click"]


def test_an_offer_that_cannot_prove_origin_says_so(brand):
    OfferFactory(brand=brand, slug="bare", allow_unsigned_postbacks=False)
    PartnerFactory(brand=brand, slug="abc-123")
    answer = send(brand, {"offer_id": "bare"}).json()
    assert answer["ok"] is False
    assert answer["request"]["proof"] == "unsigned"
    (problem,) = answer["problems"]
    assert (problem["stage"], problem["code"]) == ("postback", "signature_required")
    assert "rotate" in problem["message"]
    assert answer["trace"]["click"]["outcome"] == "accepted"


def test_an_ip_allowlist_is_met_from_its_first_address(brand):
    OfferFactory(
        brand=brand,
        slug="walled",
        postback_allowed_ips=["203.0.113.7/32", "198.51.100.0/24"],
        allow_unsigned_postbacks=False,
    )
    PartnerFactory(brand=brand, slug="abc-123")
    answer = send(brand, {"offer_id": "walled"}).json()
    assert answer["ok"] is True, answer["problems"]
    assert answer["request"] | {"url": ""} == {
        "method": "GET",
        "url": "",
        "proof": "ip_allowlist",
        "source_ip": "203.0.113.7",
    }
    assert PostbackAttempt.objects.get().ip == "203.0.113.7"


def test_a_currency_without_a_rate_is_refused_as_the_advertiser_would_be(brand, signed):
    answer = send(brand, {"offer_id": "signed", "currency": "EUR"}).json()
    assert [(p["stage"], p["code"]) for p in answer["problems"]] == [
        ("postback", "fx_rate_missing")
    ]
    assert "USD" in answer["problems"][0]["message"]


def test_targeting_defaults_to_an_allowed_visitor_and_can_be_tested(brand):
    OfferFactory(brand=brand, slug="geo", geo_allow=["FR", "DE"], device_allow=["mobile"])
    PartnerFactory(brand=brand, slug="abc-123")
    default = send(brand, {"offer_id": "geo"}).json()
    assert default["ok"] is True
    assert (default["trace"]["click"]["country"], default["trace"]["click"]["device_class"]) == (
        "DE",
        "mobile",
    )
    elsewhere = send(brand, {"offer_id": "geo", "country": "US"}).json()
    assert elsewhere["problems"][0]["code"] == "geo_blocked"


def test_a_full_hard_cap_refuses_the_click_and_takes_no_slot(brand):
    offer = OfferFactory(brand=brand, slug="capped", daily_cap=0, cap_mode="hard")
    PartnerFactory(brand=brand, slug="abc-123")
    answer = send(brand, {"offer_id": "capped"}).json()
    assert answer["problems"][0]["code"] == "cap_reached"
    assert not offer.cap_counters.exists()


def test_the_default_partner_is_the_only_one_that_may_send_traffic(brand):
    offer = OfferFactory(brand=brand, slug="private", is_private=True)
    allowed = PartnerFactory(brand=brand, slug="only-one")
    PartnerFactory(brand=brand, slug="not-allowed")
    PartnerFactory(brand=brand, slug="paused-one", status="paused")
    offer.allowed_partners.add(allowed)
    answer = send(brand, {"offer_id": "private"}).json()
    assert answer["ok"] is True
    assert answer["trace"]["click"]["partner_id"] == "only-one"

    OfferFactory(brand=brand, slug="public")
    response = send(brand, {"offer_id": "public"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "partner_required"
    assert "not-allowed" in error["message"] and "partner_id" in error["fields"]
    assert not Click.objects.filter(offer__slug="public").exists()

    refused = send(brand, {"offer_id": "private", "partner_id": "not-allowed"}).json()
    assert refused["problems"][0]["code"] == "partner_not_allowed"


def test_no_active_partner_is_a_clear_error(brand):
    OfferFactory(brand=brand, slug="lonely")
    response = send(brand, {"offer_id": "lonely"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "no_active_partner"


def test_a_dry_run_answers_the_story_and_keeps_nothing(brand, signed):
    response = send(brand, {"offer_id": "signed", "dry_run": True})
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["dry_run"] is True and answer["ok"] is True
    assert len(answer["trace"]["conversions"]) == 1
    assert [c["action"] for c in answer["changes"]] == ["conversion.create", "postback.test"]
    assert not Click.objects.exists() and not Conversion.objects.exists()
    assert not PostbackAttempt.objects.exists()
    assert not AuditEvent.objects.exclude(action="api_key.create").exists()


def test_a_read_only_key_is_refused(brand, signed):
    response = send(brand, {"offer_id": "signed"}, read_only=True)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "read_only_credential"
    assert not Click.objects.exists()


def test_another_brands_offer_or_partner_is_not_found(brand, other_brand, signed):
    OfferFactory(brand=other_brand, slug="theirs")
    PartnerFactory(brand=other_brand, slug="their-partner")
    foreign = send(brand, {"offer_id": "theirs"})
    missing = send(brand, {"offer_id": "nothing-here"})
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
    partner = send(brand, {"offer_id": "signed", "partner_id": "their-partner"})
    assert partner.status_code == 404
    assert not Click.objects.exists()
    assert not AuditEvent.objects.exclude(action="api_key.create").exists()


def test_over_mcp_the_write_is_the_agents(brand, signed):
    tracking_config.clear()
    answer = structured(
        Mcp(issue_key(brand)).call("send_test_postback", {"offer_id": "signed", "sub2": "x"})
    )
    assert answer["ok"] is True
    assert answer["trace"]["click"]["sub2"] == "x"
    labels = set(
        AuditEvent.objects.filter(action__in=["postback.test", "conversion.create"]).values_list(
            "actor_label", flat=True
        )
    )
    assert labels == {"mcp:acme"}


def test_the_outbox_itself_refuses_a_test_conversion(brand, signed):
    """Defence in depth: even a caller that asked would get no outbound row for a test."""
    from conversions.outbox import enqueue_postbacks

    answer = send(brand, {"offer_id": "signed"}).json()
    conversion = Conversion.objects.get(pk=answer["postback"]["conversion_id"])
    assert (
        enqueue_postbacks(
            conversion,
            event="conversion.approved",
            offer_template=TEMPLATE,
            partner_template=TEMPLATE,
            offer_slug="signed",
            partner_slug="x",
        )
        == []
    )
    assert not PostbackDelivery.objects.exists()


def test_a_test_before_launch_leaves_the_currency_open(brand, signed, api):
    """Test rows are in no rollup, so they do not freeze the offer's currency; real ones do."""
    assert send(brand, {"offer_id": "signed"}).json()["ok"] is True
    changed = api.patch("/api/v1/offers/signed/", {"currency": "EUR"}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["currency"] == "EUR"
    Click.objects.filter(is_test=True).update(is_test=False)  # as if it had been real traffic
    refused = api.patch("/api/v1/offers/signed/", {"currency": "USD"}, format="json")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "currency_locked"
