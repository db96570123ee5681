import hashlib
import hmac
import json
import math
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from conversions import tracking_config
from conversions.models import Conversion, PostbackDelivery
from conversions.postbacks import canonical_query, sign
from offers.models import Offer
from offers.services import offer_rotate_postback_secret, offer_set_caps, offer_set_payout_rule
from partners.models import Coupon
from tests.conftest import make_actor
from tests.conversions.helpers import click, click_id_from, now_ts, signature
from tests.factories import CouponFactory, OfferFactory, PartnerFactory

SECRET = "whsec_test-secret-please-rotate"


@pytest.fixture
def shop(brand):
    offer = OfferFactory(
        brand=brand,
        slug="spring-sale",
        payout_amount=Decimal("10.00"),
        revenue_amount=Decimal("25.00"),
        min_conversion_seconds=0,
    )
    partner = PartnerFactory(brand=brand, slug="abc-123")
    return offer, partner


@pytest.fixture
def clicked(client, shop):
    return click_id_from(click(client, "acme", "spring-sale", "abc-123", sub1="newsletter"))


def postback(
    client, offer="spring-sale", method="get", body=None, content_type=None, headers=None, **params
):
    # Tests change rows directly (not through services), so drop the cached config first.
    tracking_config.clear()
    url = f"/api/postback/acme/{offer}"
    headers = headers or {}
    if method == "get":
        return client.get(url, params, **headers)
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.generic(
        "POST",
        f"{url}?{query}" if query else url,
        body or b"",
        content_type=content_type or "application/json",
        **headers,
    )


# --- signatures ------------------------------------------------------------------------------


def test_hmac_primitive_matches_githubs_published_vector():
    digest = hmac.new(b"It's a Secret to Everybody", b"Hello, World!", hashlib.sha256).hexdigest()
    assert digest == "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_known_answer_vectors_for_trckers_canonical_forms():
    # Expected digests computed with `openssl dgst -sha256 -hmac whsec_kat` over
    # "<t>.<canonical>" when the format was defined (see docs/postbacks.md).
    canonical = canonical_query(
        [
            ("txn_id", "A 1"),
            ("amount", "9.90"),
            ("sig", "x"),
            ("click_id", "clk_x"),
            ("ts", "1"),
            ("sub1", "a/b"),
        ]
    )
    assert canonical == "amount=9.90&click_id=clk_x&sub1=a%2Fb&txn_id=A%201"
    assert sign("whsec_kat", 1700000000, canonical.encode()) == (
        "ecb86608431a7d6413551c60760ada4673344c86fb12fa9dcd557162b89fd15e"
    )
    assert sign("whsec_kat", 1700000000, b'{"txn_id":"T-1","amount":"10.00"}') == (
        "45042f319cc6b2ee844fb166d0ccb17714b6dd276f28850fd3acfd2e537b4d1d"
    )


def _signed_get(client, clicked, *, secret=SECRET, offset=0, tamper=None, **extra):
    params = {"click_id": clicked, "txn_id": "T-100", "amount": "49.90", **extra}
    ts = now_ts() + offset
    sig = signature(secret, ts, canonical_query(list(params.items())).encode())
    if tamper:
        sig = tamper(sig)
    return postback(client, ts=str(ts), sig=sig, **params)


@pytest.fixture
def secured(shop, brand):
    offer, _ = shop
    Offer.objects.filter(pk=offer.pk).update(postback_secret=SECRET, allow_unsigned_postbacks=False)
    return offer


def test_signed_get_is_accepted(client, secured, clicked):
    response = _signed_get(client, clicked)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "pending"


def test_signed_post_with_header_is_accepted(client, secured, clicked):
    body = json.dumps({"click_id": clicked, "txn_id": "T-200", "amount": "10.00"}).encode()
    ts = now_ts()
    header = f"t={ts},v1={signature(SECRET, ts, body)}"
    response = postback(
        client, method="post", body=body, headers={"HTTP_X_TRCKER_SIGNATURE": header}
    )
    assert response.status_code == 200, response.content


def test_one_flipped_byte_is_refused(client, secured, clicked):
    flip = lambda sig: ("0" if sig[0] != "0" else "1") + sig[1:]  # noqa: E731
    assert _signed_get(client, clicked, tamper=flip).status_code == 401
    # a flipped byte in the signed data (amount) is refused too
    params = {"click_id": clicked, "txn_id": "T-101", "amount": "49.90"}
    ts = now_ts()
    sig = signature(SECRET, ts, canonical_query(list(params.items())).encode())
    response = postback(client, ts=str(ts), sig=sig, **{**params, "amount": "49.91"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "bad_signature"
    body = json.dumps({"click_id": clicked, "txn_id": "T-102", "amount": "10.00"}).encode()
    header = f"t={ts},v1={signature(SECRET, ts, body)}"
    tampered = body.replace(b"10.00", b"10.01")
    assert (
        postback(
            client, method="post", body=tampered, headers={"HTTP_X_TRCKER_SIGNATURE": header}
        ).status_code
        == 401
    )
    assert not Conversion.objects.exists()


def _freeze_on_a_whole_second(time_machine) -> datetime:
    """Stop the clock on the next whole second (after the click): a signature's ``ts`` is in
    whole seconds, so the server then sees exactly the offset the test chose, however long the
    request takes."""
    now = datetime.fromtimestamp(math.floor(time.time()) + 1, tz=UTC)
    time_machine.move_to(now, tick=False)
    return now


@pytest.mark.parametrize(("offset", "status"), [(-301, 401), (301, 401), (-300, 200), (300, 200)])
def test_timestamp_window_is_300_seconds_both_ways(
    client, secured, clicked, offset, status, time_machine
):
    _freeze_on_a_whole_second(time_machine)
    response = _signed_get(client, clicked, offset=offset)
    assert response.status_code == status
    if status == 401:
        assert response.json()["error"]["code"] == "signature_expired"


def test_missing_signature_is_refused_when_a_secret_is_set(client, secured, clicked):
    response = postback(client, click_id=clicked, txn_id="T-300", amount="1")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "signature_required"
    assert response["WWW-Authenticate"]


def test_secret_parameter_works_for_paste_a_url_integrations(client, secured, clicked):
    assert (
        postback(client, click_id=clicked, txn_id="T-301", amount="1", secret=SECRET).status_code
        == 200
    )
    assert (
        postback(
            client, click_id=clicked, txn_id="T-302", amount="1", secret=SECRET + "x"
        ).status_code
        == 401
    )


def test_rotation_grace_accepts_both_secrets_then_ends(
    client, secured, clicked, brand, time_machine
):
    rotated_at = _freeze_on_a_whole_second(time_machine)
    actor = make_actor(brand)
    _offer, new_secret = offer_rotate_postback_secret(actor=actor, offer=secured, grace_seconds=600)
    assert _signed_get(client, clicked, secret=SECRET, txn_id="old-1").status_code == 200
    assert _signed_get(client, clicked, secret=new_secret, txn_id="new-1").status_code == 200
    # The last moment of the grace period, then its end: the old secret works until then.
    time_machine.move_to(rotated_at + timedelta(seconds=599.999), tick=False)
    assert _signed_get(client, clicked, secret=SECRET, txn_id="old-2").status_code == 200
    time_machine.move_to(rotated_at + timedelta(seconds=600), tick=False)
    assert _signed_get(client, clicked, secret=SECRET, txn_id="old-3").status_code == 401
    assert _signed_get(client, clicked, secret=new_secret, txn_id="new-2").status_code == 200


# --- IP allowlist ----------------------------------------------------------------------------


def test_ip_allowlist_uses_the_real_client_ip(client, shop, clicked, settings):
    import ipaddress

    offer, _ = shop
    Offer.objects.filter(pk=offer.pk).update(postback_allowed_ips=["203.0.113.0/24"])
    params = {"click_id": clicked, "amount": "1"}
    denied = postback(client, txn_id="ip-1", headers={"REMOTE_ADDR": "198.51.100.7"}, **params)
    assert (denied.status_code, denied.json()["error"]["code"]) == (403, "ip_not_allowed")
    spoofed = postback(
        client,
        txn_id="ip-2",
        headers={"REMOTE_ADDR": "198.51.100.7", "HTTP_X_FORWARDED_FOR": "203.0.113.5"},
        **params,
    )
    assert spoofed.status_code == 403  # X-Forwarded-For from an untrusted peer is ignored
    allowed = postback(client, txn_id="ip-3", headers={"REMOTE_ADDR": "203.0.113.9"}, **params)
    assert allowed.status_code == 200
    settings.TRCKER_TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    proxied = postback(
        client,
        txn_id="ip-4",
        headers={"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "203.0.113.5"},
        **params,
    )
    assert proxied.status_code == 200


# --- parsing, errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"txn_id": "x1", "amount": "1"}, 422, "missing_click_and_coupon"),
        ({"click_id": "clk_doesnotexist0000000", "txn_id": "x2"}, 422, "unknown_click"),
        ({"click_id": "not-a-click", "txn_id": "x3"}, 422, "unknown_click"),
        ({"coupon": "NOPE", "txn_id": "x4"}, 422, "unknown_coupon"),
        ({"click_id": "CLICK", "amount": "1"}, 422, "missing_txn_id"),
        ({"click_id": "CLICK", "txn_id": "x5", "amount": "abc"}, 422, "invalid_amount"),
        ({"click_id": "CLICK", "txn_id": "x6", "amount": "-1"}, 422, "invalid_amount"),
        ({"click_id": "CLICK", "txn_id": "x7", "amount": "NaN"}, 422, "invalid_amount"),
        ({"click_id": "CLICK", "txn_id": "x8", "amount": "1e99"}, 422, "invalid_amount"),
        ({"click_id": "CLICK", "txn_id": "x9", "currency": "dollars"}, 422, "invalid_currency"),
        ({"click_id": "CLICK", "txn_id": "x10", "currency": "EUR"}, 422, "fx_rate_missing"),
        ({"click_id": "CLICK", "txn_id": "has space"}, 422, "invalid_txn_id"),
        ({"click_id": "CLICK", "txn_id": "x11", "event": "Bad Event!"}, 422, "invalid_event"),
    ],
)
def test_bad_input_gets_a_stable_code_and_records_nothing(client, clicked, params, status, code):
    params = {k: (clicked if v == "CLICK" else v) for k, v in params.items()}
    response = postback(client, **params)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert not Conversion.objects.exists()


def test_unknown_offer_is_404(client, clicked):
    response = postback(client, offer="nope", click_id=clicked, txn_id="t")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "unknown_offer")


def test_click_of_another_offer_is_unknown(client, clicked, brand):
    OfferFactory(brand=brand, slug="other")
    response = postback(client, offer="other", click_id=clicked, txn_id="t")
    assert response.json()["error"]["code"] == "unknown_click"


def test_json_and_form_bodies(client, clicked):
    as_json = postback(
        client,
        method="post",
        body=json.dumps({"click_id": clicked, "txn_id": "J-1", "amount": 12.5}),
    )
    as_form = postback(
        client,
        method="post",
        body=f"click_id={clicked}&txn_id=F-1&amount=3.10",
        content_type="application/x-www-form-urlencoded",
    )
    assert as_json.status_code == as_form.status_code == 200
    assert Conversion.objects.get(txn_id="J-1").sale_amount == Decimal("12.50")
    assert Conversion.objects.get(txn_id="F-1").sale_amount == Decimal("3.10")
    bad = postback(client, method="post", body=b"{not json")
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_json")


def test_recorded_conversion_echoes_subs_and_defaults_event(client, clicked):
    response = postback(client, click_id=clicked, txn_id="T-9", amount="80", sub2="from-adv")
    body = response.json()
    assert (body["event"], body["sub2"], body["duplicate"]) == ("sale", "from-adv", False)
    conversion = Conversion.objects.get()
    assert conversion.click_id == clicked
    assert conversion.partner.slug == "abc-123"


def test_subs_default_to_the_clicks(client, clicked):
    postback(client, click_id=clicked, txn_id="T-10")
    assert Conversion.objects.get().sub1 == "newsletter"


def test_repeated_txn_id_is_a_duplicate_with_no_second_side_effect(client, shop, clicked):
    offer, _ = shop
    Offer.objects.filter(pk=offer.pk).update(
        postback_url_template="https://adv.example/pb?c={CLICK_ID}"
    )
    first = postback(client, click_id=clicked, txn_id="D-1", amount="5")
    again = postback(client, click_id=clicked, txn_id="D-1", amount="5")
    assert first.json()["conversion_id"] == again.json()["conversion_id"]
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    assert Conversion.objects.count() == 1
    assert PostbackDelivery.objects.count() == 1
    other_event = postback(client, click_id=clicked, txn_id="D-1", amount="5", event="upsell")
    assert other_event.json()["duplicate"] is False  # unique per offer *and* event type


# --- attribution, payouts, caps --------------------------------------------------------------


def test_coupon_overrides_click_by_default_and_both_are_recorded(client, brand, shop, clicked):
    coupon_partner = PartnerFactory(brand=brand, slug="coupon-kings")
    CouponFactory(brand=brand, partner=coupon_partner, code="SPRING10")
    response = postback(client, click_id=clicked, txn_id="C-1", couponCode="spring10", amount="10")
    conversion = Conversion.objects.get(pk=response.json()["conversion_id"])
    assert conversion.partner == coupon_partner
    assert conversion.attribution["winner"] == "coupon"
    assert conversion.attribution["click_partner_id"] == "abc-123"
    assert conversion.attribution["coupon_partner_id"] == "coupon-kings"
    assert Coupon.objects.get().used_count == 1


def test_click_wins_when_the_brand_says_so(client, brand, shop, clicked):
    brand.attribution_precedence = "click"
    brand.save()
    CouponFactory(brand=brand, partner=PartnerFactory(brand=brand, slug="ck"), code="SPRING10")
    response = postback(client, click_id=clicked, txn_id="C-2", coupon="SPRING10")
    assert Conversion.objects.get(pk=response.json()["conversion_id"]).partner.slug == "abc-123"


def test_a_used_up_coupon_alone_records_the_sale_held_for_review(client, brand, shop):
    # Nothing lost (issue 15): the sale is recorded for the coupon's partner, but held — the
    # brand capped the code's uses and decides whether to pay past them.
    CouponFactory(brand=brand, partner=shop[1], code="ONCE", max_uses=1)
    assert postback(client, coupon="ONCE", txn_id="M-1").status_code == 200
    used_up = postback(client, coupon="ONCE", txn_id="M-2")
    assert used_up.status_code == 200
    body = used_up.json()
    assert (body["status"], body["status_reason"]) == ("pending_review", "coupon_exhausted")
    assert body["attribution"] == {
        "winner": "coupon",
        "click_outcome": None,
        "coupon_outcome": "exhausted",
    }
    conversion = Conversion.objects.get(pk=body["conversion_id"])
    assert conversion.partner == shop[1]
    assert conversion.coupon is not None
    assert conversion.attribution["coupon_outcome"] == "exhausted"
    assert Coupon.objects.get().used_count == 1  # never counted past max_uses
    assert postback(client, coupon="ONCE", txn_id="M-2").json()["duplicate"] is True


def test_a_used_up_coupon_beside_a_click_is_attributed_by_the_click(client, brand, shop, clicked):
    coupon_partner = PartnerFactory(brand=brand, slug="coupon-kings")
    CouponFactory(brand=brand, partner=coupon_partner, code="ONCE", max_uses=1, used_count=1)
    response = postback(client, click_id=clicked, coupon="ONCE", txn_id="M-3")
    body = response.json()
    assert (response.status_code, body["status"], body["status_reason"]) == (200, "pending", "")
    assert body["attribution"] == {
        "winner": "click",
        "click_outcome": "won",
        "coupon_outcome": "exhausted",
    }
    conversion = Conversion.objects.get(pk=body["conversion_id"])
    assert conversion.partner == shop[1]
    assert conversion.coupon is None
    assert conversion.sub1 == "newsletter"  # the click's partner is credited: its sub ids
    assert Coupon.objects.get().used_count == 1


def test_a_sale_credited_by_coupon_to_another_partner_keeps_no_click_sub_ids(
    client, brand, shop, clicked
):
    coupon_partner = PartnerFactory(brand=brand, slug="coupon-kings")
    CouponFactory(brand=brand, partner=coupon_partner, code="SPRING10")
    body = postback(client, click_id=clicked, coupon="SPRING10", txn_id="S-1").json()
    conversion = Conversion.objects.get(pk=body["conversion_id"])
    assert conversion.partner == coupon_partner
    assert (conversion.sub1, body["sub1"]) == ("", "")  # not the clicking partner's "newsletter"
    assert body["attribution"]["click_outcome"] == "not_used"
    # The advertiser's own sub ids are its statement about the sale: kept.
    sent = postback(client, click_id=clicked, coupon="SPRING10", txn_id="S-2", sub2="checkout")
    assert (sent.json()["sub1"], sent.json()["sub2"]) == ("", "checkout")


def test_a_sale_credited_by_coupon_to_the_clicking_partner_keeps_its_click_sub_ids(
    client, brand, shop, clicked
):
    CouponFactory(brand=brand, partner=shop[1], code="OWN10")
    body = postback(client, click_id=clicked, coupon="OWN10", txn_id="S-3").json()
    assert (body["attribution"]["winner"], body["sub1"]) == ("coupon", "newsletter")


@pytest.mark.parametrize(
    ("rules", "event", "expected"),
    [
        ([], "sale", Decimal("10.00")),
        ([("event", "sale", "percent", "20")], "sale", Decimal("20.00")),  # 20 % of 100.00
        (
            [("partner", "", "flat", "7.77"), ("event", "sale", "flat", "3.00")],
            "sale",
            Decimal("7.77"),
        ),
        (
            [("partner", "", "flat", "7.77"), ("both", "sale", "flat", "9.99")],
            "sale",
            Decimal("9.99"),
        ),
        ([("both", "signup", "flat", "1.00")], "sale", Decimal("10.00")),
    ],
)
def test_payout_resolution_order(client, brand, shop, clicked, rules, event, expected):
    offer, partner = shop
    actor = make_actor(brand)
    for kind, event_type, payout_type, amount in rules:
        offer_set_payout_rule(
            actor=actor,
            offer=offer,
            partner=partner if kind in ("partner", "both") else None,
            event_type=event_type,
            payout_type=payout_type,
            payout_amount=Decimal(amount),
        )
    response = postback(client, click_id=clicked, txn_id="P-1", amount="100.00", event=event)
    conversion = Conversion.objects.get(pk=response.json()["conversion_id"])
    assert conversion.payout == expected
    assert conversion.revenue == Decimal("25.00")


@pytest.mark.parametrize(("mode", "status"), [("soft", "pending_review"), ("hard", "rejected")])
def test_over_cap_conversions_by_mode(client, brand, shop, clicked, mode, status):
    offer, _ = shop
    offer_set_caps(
        actor=make_actor(brand), offer=offer, daily=1, weekly=None, monthly=None, mode=mode
    )
    assert postback(client, click_id=clicked, txn_id="K-1").json()["status"] == "pending"
    over = postback(client, click_id=clicked, txn_id="K-2").json()
    assert over["status"] == status
    assert Conversion.objects.get(pk=over["conversion_id"]).status_reason == "cap_exceeded"
