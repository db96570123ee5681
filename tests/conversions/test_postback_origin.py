"""Issue 12, "signed means signed": what a signature covers, secure-by-default offers, the
canonical form's test vectors (docs/tracking.md), and malformed signatures."""

import json
from pathlib import Path

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from conversions import tracking_config
from conversions.models import Conversion
from conversions.postbacks import canonical_query, sign
from offers.models import Offer
from tests.conftest import issue_key
from tests.conversions.helpers import click, click_id_from, now_ts, signature
from tests.factories import CouponFactory, OfferFactory, PartnerFactory
from tests.mcp_gateway.helpers import Mcp, structured

SECRET = "whsec_origin-test-secret"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "tracking.md"


@pytest.fixture
def signed_offer(brand):
    offer = OfferFactory(
        brand=brand, slug="spring-sale", postback_secret=SECRET, min_conversion_seconds=0
    )
    PartnerFactory(brand=brand, slug="abc-123")
    assert offer.allow_unsigned_postbacks is False
    return offer


@pytest.fixture
def clicked(client, signed_offer):
    return click_id_from(click(client, "acme", "spring-sale", "abc-123"))


def post(client, body: bytes, *, query: str = "", header: str | None = None, offer="spring-sale"):
    tracking_config.clear()
    headers = {"HTTP_X_TRCKER_SIGNATURE": header} if header is not None else {}
    url = f"/api/postback/acme/{offer}" + (f"?{query}" if query else "")
    return client.generic("POST", url, body, content_type="application/json", **headers)


def get(client, query: str, offer="spring-sale", **extra):
    tracking_config.clear()
    return client.get(f"/api/postback/acme/{offer}?{query}", **extra)


def signed_header(body: bytes, secret: str = SECRET, ts: int | None = None) -> str:
    ts = now_ts() if ts is None else ts
    return f"t={ts},v1={signature(secret, ts, body)}"


def error_code(response) -> str:
    return response.json()["error"]["code"]


# --- a signed POST authorises its body and nothing else ------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        "event=upsell",  # a new event slips past dedup: a second conversion
        "coupon=STOLEN",  # the sale moves to the coupon's partner
        "amount=99999",
        "txn_id=T-NEW",
        "currency=USD",
        "sub1=x",
    ],
)
def test_a_captured_signed_post_replayed_with_query_parameters_records_nothing(
    client, brand, clicked, extra
):
    CouponFactory(brand=brand, code="STOLEN")
    body = json.dumps({"click_id": clicked, "txn_id": "T-1", "amount": "10.00"}).encode()
    header = signed_header(body)
    assert post(client, body, header=header).status_code == 200
    before = Conversion.objects.count()

    replay = post(client, body, header=header, query=extra)

    assert replay.status_code == 401, replay.content
    assert error_code(replay) == "unsigned_parameters"
    assert Conversion.objects.count() == before


def test_sig_and_ts_in_the_query_of_a_signed_post_are_fine_but_nothing_else(client, clicked):
    body = json.dumps({"click_id": clicked, "txn_id": "T-2", "amount": "5"}).encode()
    ts = now_ts()
    auth = f"ts={ts}&sig={signature(SECRET, ts, body)}"
    assert post(client, body, query=auth).status_code == 200
    refused = post(client, body, query=f"{auth}&event=lead")
    assert (refused.status_code, error_code(refused)) == (401, "unsigned_parameters")
    assert Conversion.objects.count() == 1


def test_a_signed_empty_body_authorises_no_query_string(client, clicked):
    header = signed_header(b"")
    for query in (f"click_id={clicked}&txn_id=T-3&amount=1", ""):
        response = post(client, b"", header=header, query=query)
        assert response.status_code == 401, response.content
        assert error_code(response) in {"unsigned_parameters", "bad_signature"}
    assert Conversion.objects.count() == 0


@pytest.mark.parametrize(
    "change",
    [
        {"event": "upsell"},
        {"coupon": "STOLEN"},
        {"amount": "99999.00"},
        {"txn_id": "T-OTHER"},
    ],
)
def test_a_replayed_signature_over_a_changed_body_records_nothing(client, brand, clicked, change):
    CouponFactory(brand=brand, code="STOLEN")
    body = json.dumps({"click_id": clicked, "txn_id": "T-4", "amount": "10.00"}).encode()
    header = signed_header(body)
    assert post(client, body, header=header).status_code == 200
    changed = json.dumps(
        {"click_id": clicked, "txn_id": "T-4", "amount": "10.00", **change}
    ).encode()
    replay = post(client, changed, header=header)
    assert (replay.status_code, error_code(replay)) == (401, "bad_signature")
    assert Conversion.objects.count() == 1


def test_a_signed_get_covers_every_query_parameter(client, clicked):
    params = [("click_id", clicked), ("txn_id", "T-5"), ("amount", "3.00")]
    ts = now_ts()
    sig = signature(SECRET, ts, canonical_query(params).encode())
    query = "&".join(f"{k}={v}" for k, v in params) + f"&ts={ts}&sig={sig}"
    assert get(client, query).status_code == 200
    for extra in ("&event=upsell", "&coupon=STOLEN", "&amount=1"):
        replay = get(client, query + extra)
        assert (replay.status_code, error_code(replay)) == (401, "bad_signature")
    assert Conversion.objects.count() == 1


# --- malformed signatures are 401, never 500 -----------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "t=" + "9" * 13 + ",v1=" + "0" * 64,  # 13 digits: over the bound
        "t=" + "9" * 5000 + ",v1=" + "0" * 64,  # once a 500 (float overflow)
        "t=1e9,v1=" + "0" * 64,
        "t=-5,v1=" + "0" * 64,
        "t=,v1=" + "0" * 64,
        "v1=" + "0" * 64,
        "t=1700000000",
        "garbage",
        "t=1700000000,v1=zz",
        "t=\u0661\u0662\u0663,v1=" + "0" * 64,  # Arabic-Indic digits: int() would take them
    ],
)
def test_a_malformed_signature_header_is_bad_signature(client, clicked, header):
    body = json.dumps({"click_id": clicked, "txn_id": "T-6"}).encode()
    response = post(client, body, header=header)
    assert response.status_code == 401, response.content
    assert error_code(response) == "bad_signature"
    assert Conversion.objects.count() == 0


def test_an_overlong_ts_parameter_is_bad_signature(client, clicked):
    response = get(client, f"click_id={clicked}&txn_id=T-7&ts={'9' * 400}&sig={'0' * 64}")
    assert (response.status_code, error_code(response)) == (401, "bad_signature")


# --- test vectors (docs/tracking.md, "Proving origin") ---------------------------------------

VECTORS = [
    # (method, query or body, canonical, expected hex) with secret whsec_kat, t=1700000000
    (
        "GET",
        "click_id=clk_x&txn_id=A%201&amount=9.90&sub1=a%2Fb&ts=1700000000&sig=…",
        "amount=9.90&click_id=clk_x&sub1=a%2Fb&txn_id=A%201",
        "ecb86608431a7d6413551c60760ada4673344c86fb12fa9dcd557162b89fd15e",
    ),
    (
        "POST",
        '{"txn_id":"T-1","amount":"10.00"}',
        '{"txn_id":"T-1","amount":"10.00"}',
        "45042f319cc6b2ee844fb166d0ccb17714b6dd276f28850fd3acfd2e537b4d1d",
    ),
    (
        "POST",
        "click_id=clk_x&txn_id=T-2&amount=5.00",
        "click_id=clk_x&txn_id=T-2&amount=5.00",
        "6aa3da75ddb0d7257c3daeabdc147be8b0a57d89c8b30e263433a3e1c74af983",
    ),
]


@pytest.mark.parametrize(("method", "request_text", "canonical", "expected"), VECTORS)
def test_the_documented_vectors(method, request_text, canonical, expected):
    from urllib.parse import parse_qsl

    if method == "GET":
        pairs = parse_qsl(request_text.replace("sig=…", "sig=x"), keep_blank_values=True)
        assert canonical_query(pairs) == canonical
    assert sign("whsec_kat", 1700000000, canonical.encode()) == expected
    # The docs show the same vector: a change to either side must change both.
    docs = DOCS.read_text()
    assert expected in docs
    assert canonical in docs


def test_a_documented_vector_verifies_end_to_end(client, brand, settings):
    """The POST vector, sent as documented at its timestamp, is accepted by the endpoint."""
    import time_machine

    OfferFactory(brand=brand, slug="kat", postback_secret="whsec_kat", min_conversion_seconds=0)
    partner = PartnerFactory(brand=brand, slug="kat-partner")
    CouponFactory(brand=brand, partner=partner, code="KAT")
    body = b'{"txn_id":"T-1","amount":"10.00","coupon":"KAT"}'
    with time_machine.travel(1700000000, tick=False):
        header = f"t=1700000000,v1={sign('whsec_kat', 1700000000, body)}"
        assert post(client, body, header=header, offer="kat").status_code == 200
        tampered = header[:-1] + ("0" if header[-1] != "0" else "1")
        assert error_code(post(client, body, header=tampered, offer="kat")) == "bad_signature"


# --- secure by default -----------------------------------------------------------------------


def _unsigned(client, offer_slug, clicked_id, txn="U-1", **extra):
    return get(client, f"click_id={clicked_id}&txn_id={txn}&amount=1", offer=offer_slug, **extra)


def _click_on(client, brand, offer_slug):
    PartnerFactory(brand=brand, slug=f"p-{offer_slug}")
    response = click(client, "acme", offer_slug, f"p-{offer_slug}")
    return click_id_from(response)


def _check_secure_default(client, brand, api, offer_slug, secret):
    offer = Offer.objects.get(brand=brand, slug=offer_slug)
    assert secret.startswith("whsec_") and offer.postback_secret == secret
    assert offer.allow_unsigned_postbacks is False
    Offer.objects.filter(pk=offer.pk).update(min_conversion_seconds=0)
    clicked_id = _click_on(client, brand, offer_slug)

    refused = _unsigned(client, offer_slug, clicked_id)
    assert (refused.status_code, error_code(refused)) == (401, "signature_required")
    assert Conversion.objects.count() == 0
    # …the secret handed out once works…
    ts = now_ts()
    pairs = [("click_id", clicked_id), ("txn_id", "S-1"), ("amount", "1")]
    sig = sign(secret, ts, canonical_query(pairs).encode())
    query = "&".join(f"{k}={v}" for k, v in pairs) + f"&ts={ts}&sig={sig}"
    assert get(client, query, offer=offer_slug).status_code == 200
    # …and opting out is an audited update.
    patched = api.patch(
        f"/api/v1/offers/{offer_slug}/", {"allow_unsigned_postbacks": True}, format="json"
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["allow_unsigned_postbacks"] is True
    event = AuditEvent.objects.filter(action="offer.update").latest("id")
    assert event.changes["allow_unsigned_postbacks"] == [False, True]
    assert _unsigned(client, offer_slug, clicked_id, txn="U-2").status_code == 200
    assert Conversion.objects.count() == 2


def test_an_offer_created_over_rest_has_a_secret_once_and_refuses_unsigned(client, brand, api):
    response = api.post(
        "/api/v1/offers/",
        {"name": "Rest", "destination_url": "https://s.example/?c={CLICK_ID}", "payout_amount": 1},
        format="json",
    )
    assert response.status_code == 201, response.content
    secret = response.json()["postback_secret"]
    assert response["Cache-Control"] == "no-store"
    assert secret not in api.get("/api/v1/offers/rest/").content.decode()
    assert secret not in json.dumps(AuditEvent.objects.get(action="offer.create").changes)
    _check_secure_default(client, brand, api, "rest", secret)


def test_an_offer_created_over_mcp_has_a_secret_once_and_refuses_unsigned(client, brand, api):
    mcp = Mcp(issue_key(brand))
    created = structured(
        mcp.call(
            "create_offer",
            {
                "name": "Agent",
                "destination_url": "https://s.example/?c={CLICK_ID}",
                "payout_amount": 1,
            },
        )
    )
    secret = created["postback_secret"]
    assert secret not in json.dumps(structured(mcp.call("get_offer_config", {"offer_id": "agent"})))
    from mcp_gateway.models import McpToolCall

    assert secret not in json.dumps(list(McpToolCall.objects.values()), default=str)
    _check_secure_default(client, brand, api, "agent", secret)


def test_an_offer_created_in_the_admin_shows_its_secret_once(client, brand, api):
    from tests.test_admin import admin_url, logged_in, member

    logged_in(client, member(brand))
    response = client.post(
        admin_url(Offer, "add"),
        {
            "brand": brand.pk,
            "slug": "",
            "name": "Admin Made",
            "destination_url": "https://s.example/?c={CLICK_ID}",
            "payout_type": "flat",
            "payout_amount": "1",
            "revenue_type": "flat",
            "revenue_amount": "0",
            "cap_mode": "soft",
        },
        follow=True,
    )
    assert response.status_code == 200
    offer = Offer.objects.get(slug="admin-made")
    assert offer.postback_secret in response.content.decode()
    again = client.get(admin_url(Offer, "change", offer.pk))
    assert offer.postback_secret not in again.content.decode()
    client.logout()
    _check_secure_default(client, brand, api, "admin-made", offer.postback_secret)


def test_an_ip_allowlist_alone_is_proof_of_origin_from_that_ip_only(client, brand):
    offer = OfferFactory(
        brand=brand,
        slug="by-ip",
        postback_secret=SECRET,
        postback_allowed_ips=["198.51.100.0/24"],
        min_conversion_seconds=0,
    )
    assert offer.allow_unsigned_postbacks is False
    clicked_id = _click_on(client, brand, "by-ip")
    accepted = _unsigned(client, "by-ip", clicked_id, REMOTE_ADDR="198.51.100.7")
    assert accepted.status_code == 200, accepted.content
    refused = _unsigned(client, "by-ip", clicked_id, txn="U-9", REMOTE_ADDR="203.0.113.5")
    assert (refused.status_code, error_code(refused)) == (403, "ip_not_allowed")
    assert Conversion.objects.count() == 1


def test_an_offer_with_no_secret_and_no_opt_in_refuses_even_a_signature(client, brand):
    OfferFactory(brand=brand, slug="bare", allow_unsigned_postbacks=False)
    clicked_id = _click_on(client, brand, "bare")
    refused = _unsigned(client, "bare", clicked_id)
    assert (refused.status_code, error_code(refused)) == (401, "signature_required")
    signed = get(client, f"click_id={clicked_id}&txn_id=U-1&ts={now_ts()}&sig={'0' * 64}", "bare")
    assert error_code(signed) == "signature_required"


def test_the_previous_secret_still_works_during_its_grace_period(client, brand, clicked):
    offer = Offer.objects.get(slug="spring-sale")
    Offer.objects.filter(pk=offer.pk).update(
        postback_secret="whsec_new",
        previous_postback_secret=SECRET,
        previous_secret_valid_until=timezone.now() + timezone.timedelta(minutes=5),
    )
    body = json.dumps({"click_id": clicked, "txn_id": "G-1"}).encode()
    assert post(client, body, header=signed_header(body, SECRET)).status_code == 200
