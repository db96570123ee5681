"""Issue 14, the inbound postback log: every attempt, accepted or refused, with its reason code,
secrets never stored, through the queue and the worker or written directly, bounded retention,
the list_postback_attempts read (REST and MCP) and its tenant isolation, hostile input."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import quote, urlencode

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from audit.models import AuditEvent
from conversions import tracking_config
from conversions.models import Conversion, PostbackAttempt
from conversions.postback_log import (
    POSTBACK_ATTEMPTS,
    REDACTED,
    Attempt,
    attempt_record,
    postback_attempts_prune,
)
from core.queue_redis import queue_client
from tests.conftest import client_with_key, issue_key
from tests.conversions.helpers import click, click_id_from, now_ts, signature, signed_query
from tests.factories import BrandFactory, OfferFactory, PartnerFactory, StaffMembershipFactory
from tests.mcp_gateway.helpers import Mcp, structured
from workers.loop import Worker

SECRET = "whsec_log-test-secret-0123456789"
IP = "203.0.113.9"


@pytest.fixture
def offers(brand):
    PartnerFactory(brand=brand, slug="abc-123")
    return {
        "open": OfferFactory(brand=brand, slug="open", min_conversion_seconds=0),
        "signed": OfferFactory(
            brand=brand, slug="signed", postback_secret=SECRET, min_conversion_seconds=0
        ),
        "walled": OfferFactory(
            brand=brand,
            slug="walled",
            postback_allowed_ips=["198.51.100.0/24"],
            min_conversion_seconds=0,
        ),
        "closed": OfferFactory(
            brand=brand, slug="closed", allow_unsigned_postbacks=False, min_conversion_seconds=0
        ),
    }


@pytest.fixture
def clicked(client, offers):
    return click_id_from(click(client, "acme", "open", "abc-123"))


def send(client, offer, query="", *, method="get", body=b"", ctype="application/json", **h):
    tracking_config.clear()
    url = f"/api/postback/acme/{offer}" + (f"?{query}" if query else "")
    if method == "get":
        return client.get(url, REMOTE_ADDR=IP, **h)
    return client.generic("POST", url, body, content_type=ctype, REMOTE_ADDR=IP, **h)


def last_attempt() -> PostbackAttempt:
    return PostbackAttempt.objects.latest("pk")


def _sig(query: dict[str, str]) -> str:
    return urlencode(signed_query(SECRET, query))


# (offer, method, query, body, content type, headers) → the refusal's code.
REFUSALS = {
    "unknown_offer": ("no-such-offer", "get", "txn_id=T1&click_id={click}", b"", "", {}),
    "body_too_large": ("open", "post", "", b"x" * (64 * 1024 + 1), "text/plain", {}),
    "ip_not_allowed": ("walled", "get", "txn_id=T1&click_id={click}", b"", "", {}),
    "signature_required": ("closed", "get", "txn_id=T1&click_id={click}", b"", "", {}),
    "bad_signature": ("signed", "get", "txn_id=T1&click_id={click}&secret=wrong", b"", "", {}),
    "signature_expired": ("signed", "get", "txn_id=T1&ts=1000&sig=" + "a" * 64, b"", "", {}),
    "unsigned_parameters": ("signed", "post", "event=x", b'{"txn_id":"T1"}', "", "header"),
    "invalid_json": ("open", "post", "", b"{not json", "application/json", {}),
    "missing_txn_id": ("open", "get", "click_id={click}", b"", "", {}),
    "invalid_txn_id": ("open", "get", "txn_id=a%20b&click_id={click}", b"", "", {}),
    "invalid_amount": ("open", "get", "txn_id=T1&amount=NaN&click_id={click}", b"", "", {}),
    "invalid_currency": ("open", "get", "txn_id=T1&currency=US&click_id={click}", b"", "", {}),
    "fx_rate_missing": ("open", "get", "txn_id=T1&currency=EUR&click_id={click}", b"", "", {}),
    "invalid_event": ("open", "get", "txn_id=T1&event=A%20B&click_id={click}", b"", "", {}),
    "unknown_click": ("open", "get", "txn_id=T1&click_id=clk_0000000000000000", b"", "", {}),
    "unknown_coupon": ("open", "get", "txn_id=T1&coupon=NOPE", b"", "", {}),
    "missing_click_and_coupon": ("open", "get", "txn_id=T1", b"", "", {}),
}


@pytest.mark.parametrize("code", sorted(REFUSALS))
def test_every_refusal_is_logged_with_its_code(client, brand, clicked, code):
    offer, method, query, body, ctype, headers = REFUSALS[code]
    if headers == "header":  # a correctly signed body, with an unsigned query parameter beside
        ts = now_ts()
        headers = {"HTTP_X_TRCKER_SIGNATURE": f"t={ts},v1={signature(SECRET, ts, body)}"}
    response = send(
        client,
        offer,
        query.format(click=clicked),
        method=method,
        body=body,
        ctype=ctype or "application/json",
        **headers,
    )
    assert response.json()["error"]["code"] == code
    logged = last_attempt()
    assert (logged.brand_id, logged.offer_slug, logged.outcome, logged.http_status) == (
        brand.pk,
        offer,
        code,
        response.status_code,
    )
    assert (logged.ip, logged.method, logged.conversion_id) == (IP, method.upper(), "")
    assert logged.request_id == response["X-Request-ID"]
    if "click_id={click}" in query:
        assert logged.click_id == clicked
    assert PostbackAttempt.objects.count() == 1


def test_accepted_and_duplicate_are_logged_with_their_conversion(client, brand, clicked):
    query = f"txn_id=T-ok&amount=12.50&click_id={clicked}&sub1=x"
    first, again = send(client, "open", query), send(client, "open", query)
    conversion = Conversion.objects.get()
    assert [first.status_code, again.status_code] == [200, 200]
    rows = list(PostbackAttempt.objects.order_by("pk"))
    assert [(r.outcome, r.conversion_id, r.txn_id, r.click_id) for r in rows] == [
        ("accepted", conversion.pk, "T-ok", clicked),
        ("duplicate", conversion.pk, "T-ok", clicked),
    ]
    assert rows[0].params == {
        "txn_id": "T-ok",
        "amount": "12.50",
        "click_id": clicked,
        "sub1": "x",
    }


def test_secrets_are_never_stored(client, brand, clicked):
    signed_click = click_id_from(click(client, "acme", "signed", "abc-123"))
    signed = _sig({"txn_id": "T-s1", "click_id": signed_click})
    sig_value = signed.rsplit("sig=", 1)[1]
    body = json.dumps({"txn_id": "T-s2", "click_id": signed_click}).encode()
    ts = now_ts()
    body_sig = signature(SECRET, ts, body)
    responses = [
        send(client, "signed", signed),
        send(client, "signed", f"txn_id=T-s3&click_id={signed_click}&secret={quote(SECRET)}"),
        send(client, "signed", f"txn_id=T-s4&click_id={signed_click}&secret={SECRET}x"),
        send(
            client,
            "signed",
            method="post",
            body=body,
            HTTP_X_TRCKER_SIGNATURE=f"t={ts},v1={body_sig}",
        ),
        # Credentials under other names an integration might use are kept out too.
        send(client, "open", f"txn_id=T-s5&click_id={clicked}&api_token={SECRET}&Secret=z"),
    ]
    assert [r.status_code for r in responses] == [200, 200, 401, 200, 200]
    rows = list(PostbackAttempt.objects.order_by("pk"))
    assert [r.outcome for r in rows] == ["accepted"] * 2 + ["bad_signature"] + ["accepted"] * 2
    stored = json.dumps([r.params for r in rows])
    for secret in (SECRET, sig_value, body_sig):
        assert secret not in stored
    assert rows[0].params["sig"] == REDACTED and rows[0].params["ts"].isdigit()
    assert rows[1].params["secret"] == rows[2].params["secret"] == REDACTED
    assert rows[3].params["header:X-Trcker-Signature"] == REDACTED
    assert rows[4].params["api_token"] == rows[4].params["Secret"] == REDACTED


def test_requests_naming_no_brand_or_no_possible_offer_are_not_logged(client, brand, clicked):
    tracking_config.clear()
    for url in ("/api/postback/nobody/open", "/api/postback/acme/Open%00", "/api/postback/%ff/x"):
        assert client.get(f"{url}?txn_id=T1&click_id={clicked}").status_code == 404
    assert not PostbackAttempt.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_log_row_the_database_refuses_never_fails_the_postback(settings):
    settings.TRCKER_QUEUE_REDIS_URL = ""  # written directly, and its commit is refused
    settings.TRCKER_CLICK_QUEUE = False
    brand = BrandFactory(slug="acme")
    OfferFactory(brand=brand, slug="open", min_conversion_seconds=0)
    PartnerFactory(brand=brand, slug="abc-123")
    client = Client()
    clicked = click_id_from(click(client, "acme", "open", "abc-123"))
    attempt = Attempt(offer_slug="open", method="GET", ip=None, request_id="r", brand_id=10**9)
    attempt.outcome = "accepted"
    attempt_record(attempt, http_status=200)  # no such brand: the insert fails, quietly
    assert not PostbackAttempt.objects.exists()
    assert send(client, "open", f"txn_id=T-after&click_id={clicked}").status_code == 200


# --- hostile input ----------------------------------------------------------------------------

# Mostly the characters that break a text or JSON column or a log, and any code point.
HOSTILE = st.text(
    alphabet=st.one_of(
        st.sampled_from(["\x00", "\ud800", "\udfff", "\x1b", "\x7f", "\x85", "\u2028", "é"]),
        st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF),
    ),
    max_size=40,
)


@hsettings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    names=st.lists(HOSTILE, max_size=60),
    value=HOSTILE,
    raw=st.binary(max_size=60),
    big=st.integers(min_value=0, max_value=5000),
)
def test_hostile_parameters_are_cleaned_and_bounded(client, offers, names, value, raw, big):
    query = "&".join(
        [f"{quote(name.encode('utf-8', 'surrogatepass'))}=v" for name in names]
        + [f"txn_id={quote(value.encode('utf-8', 'surrogatepass'))}"]
        + [f"sub1={quote(raw)}", "sub2=" + "y" * big, "click_id=clk_%00%ff"]
    )
    before = PostbackAttempt.objects.count()
    response = send(client, "open", query)
    assert response.status_code < 500
    logged = last_attempt()
    assert PostbackAttempt.objects.count() == before + 1
    assert len(logged.params) <= 41  # MAX_PARAMS and the "more not kept" note
    for name, kept in logged.params.items():
        for text in (name, kept, logged.txn_id, logged.click_id):
            assert "\x00" not in text and len(text) <= 256
            assert not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)
            text.encode("utf-8")


def test_a_huge_post_body_is_refused_and_logged_without_it(client, brand, offers):
    response = send(client, "open", "txn_id=T1", method="post", body=b"\x00" * 200_000)
    assert response.status_code == 413
    logged = last_attempt()
    assert (logged.outcome, logged.params) == ("body_too_large", {"txn_id": "T1"})


# --- the queue, the worker, and without a queue -----------------------------------------------


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_attempts_are_queued_by_the_request_and_written_by_the_worker():
    brand = BrandFactory(slug="acme")
    OfferFactory(brand=brand, slug="open", min_conversion_seconds=0)
    PartnerFactory(brand=brand, slug="abc-123")
    client = Client()
    clicked = click_id_from(click(client, "acme", "open", "abc-123"))
    Worker(name="w").run_until_idle(queues_only=True)  # the click itself is queued too
    ok = send(client, "open", f"txn_id=T-q&click_id={clicked}")
    refused = send(client, "open", "txn_id=T-q2")
    assert [ok.status_code, refused.status_code] == [200, 422]
    assert not PostbackAttempt.objects.exists()  # queued, not written by the request
    assert POSTBACK_ATTEMPTS.depth(queue_client()) == 2

    Worker(name="w").run_until_idle(queues_only=True)

    rows = list(PostbackAttempt.objects.order_by("created_at", "pk"))
    assert [(r.outcome, r.txn_id, r.http_status) for r in rows] == [
        ("accepted", "T-q", 200),
        ("missing_click_and_coupon", "T-q2", 422),
    ]
    assert rows[0].conversion_id == Conversion.objects.get().pk
    assert POSTBACK_ATTEMPTS.depth(queue_client()) == 0


@pytest.mark.django_db(transaction=True)
def test_without_a_queue_redis_the_request_writes_the_row(settings):
    settings.TRCKER_QUEUE_REDIS_URL = ""
    settings.TRCKER_CLICK_QUEUE = False
    brand = BrandFactory(slug="acme")
    OfferFactory(brand=brand, slug="open", min_conversion_seconds=0)
    response = send(Client(), "open", "txn_id=T-d")
    assert response.status_code == 422
    assert last_attempt().outcome == "missing_click_and_coupon"


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_the_worker_dead_letters_bad_records_alone():
    brand, gone = BrandFactory(), BrandFactory()
    client = queue_client()
    for target in (brand, gone, brand):
        attempt = Attempt(offer_slug="o", method="GET", ip=None, request_id="", brand_id=target.pk)
        attempt.outcome = "unknown_click"
        attempt_record(attempt, http_status=400)
    client.xadd(POSTBACK_ATTEMPTS.key, {"r": "not json"})
    client.xadd(POSTBACK_ATTEMPTS.key, {"r": json.dumps({"brand_id": brand.pk})})
    AuditEvent.objects.filter(brand=gone).delete()
    gone.delete()  # its queued row now names a brand that does not exist

    Worker(name="w").run_until_idle(queues_only=True)

    assert PostbackAttempt.objects.filter(brand=brand).count() == 2
    reasons = sorted(dead.fields["reason"] for dead in POSTBACK_ATTEMPTS.dead_letters(client))
    assert len(reasons) == 3
    assert reasons[0].startswith("not a postback-attempt record: JSONDecodeError")
    assert reasons[1].startswith("not a postback-attempt record: ValueError")
    assert reasons[2].startswith("refused by the database")
    assert POSTBACK_ATTEMPTS.depth(client) == 0


# --- retention --------------------------------------------------------------------------------


def _aged(brand, days: float, outcome: str = "unknown_click") -> PostbackAttempt:
    return PostbackAttempt.objects.create(
        brand=brand,
        offer_slug="o",
        outcome=outcome,
        http_status=400,
        method="GET",
        created_at=timezone.now() - dt.timedelta(days=days),
    )


@pytest.mark.django_db
def test_the_worker_deletes_attempts_past_retention(settings):
    settings.TRCKER_POSTBACK_LOG_DAYS = 10
    a, b = BrandFactory(), BrandFactory()
    kept = [_aged(a, 9.9), _aged(b, 1)]
    for brand in (a, b, b):
        _aged(brand, 10.1)
    worker = Worker(name="w")
    worker.run_once(block_ms=None)
    assert sorted(PostbackAttempt.objects.values_list("pk", flat=True)) == sorted(
        row.pk for row in kept
    )
    assert worker.totals["postback attempts pruned"] == 3
    # Not every pass: the next prune waits about an hour.
    _aged(a, 11)
    worker.run_once(block_ms=None)  # the pass after a prune that deleted rows checks again
    worker.run_once(block_ms=None)
    stale = _aged(a, 12)
    worker.run_once(block_ms=None)
    assert PostbackAttempt.objects.filter(pk=stale.pk).exists()


@pytest.mark.django_db
def test_a_prune_deletes_a_bounded_number_per_call():
    brand = BrandFactory()
    for _ in range(7):
        _aged(brand, 40)
    cutoff = timezone.now() - dt.timedelta(days=30)
    assert postback_attempts_prune(before=cutoff, batch_size=2, max_rows=4) == 4
    assert postback_attempts_prune(before=cutoff, batch_size=2, max_rows=4) == 3
    assert postback_attempts_prune(before=cutoff, batch_size=2, max_rows=4) == 0


# --- list_postback_attempts -------------------------------------------------------------------


def test_list_postback_attempts_filters_over_rest_and_mcp(client, brand, clicked):
    send(client, "open", f"txn_id=T-a&click_id={clicked}")
    send(client, "open", f"txn_id=T-b&click_id={clicked}&currency=EUR")
    send(client, "no-such-offer", "txn_id=T-c")
    api = client_with_key(issue_key(brand, read_only=True))

    def rest(query: str) -> list[tuple[str, str]]:
        response = api.get(f"/api/v1/postback-attempts/?{query}")
        assert response.status_code == 200, response.content
        return [(row["outcome"], row["txn_id"]) for row in response.json()["results"]]

    assert rest("") == [
        ("unknown_offer", "T-c"),
        ("fx_rate_missing", "T-b"),
        ("accepted", "T-a"),
    ]
    assert rest("outcome=refused") == [("unknown_offer", "T-c"), ("fx_rate_missing", "T-b")]
    assert rest("outcome=accepted") == [("accepted", "T-a")]
    assert rest("offer_id=no-such-offer") == [("unknown_offer", "T-c")]
    assert rest(f"click_id={clicked}&txn_id=T-b") == [("fx_rate_missing", "T-b")]
    assert rest("since=2999-01-01T00:00:00Z") == []
    assert rest("limit=1")[0] == ("unknown_offer", "T-c")

    page = structured(
        Mcp(issue_key(brand)).call("list_postback_attempts", {"outcome": "refused", "limit": 1})
    )
    assert [row["outcome"] for row in page["items"]] == ["unknown_offer"]
    assert page["next_cursor"]
    row = page["items"][0]
    assert set(row) == {
        "attempt_id",
        "offer_id",
        "created_at",
        "ip",
        "method",
        "outcome",
        "http_status",
        "conversion_id",
        "click_id",
        "txn_id",
        "params",
        "request_id",
    }


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("outcome=A%20B", "invalid_input"),
        ("outcome=" + "a" * 65, "invalid_input"),
        ("click_id=clk_%00x", "invalid_characters"),
        ("click_id=nope", "invalid_input"),
        ("txn_id=a%20b", "invalid_input"),
        ("offer_id=Open", "invalid_input"),
        ("offer_id=open%00", "invalid_characters"),
        ("since=yesterday", "invalid_input"),
        ("limit=0", "invalid_input"),
        ("unknown=1", "invalid_input"),
    ],
)
def test_list_postback_attempts_refuses_hostile_filters(brand, query, code):
    response = client_with_key(issue_key(brand)).get(f"/api/v1/postback-attempts/?{query}")
    assert 400 <= response.status_code < 500, response.content
    assert response.json()["error"]["code"] == code


def test_another_brands_attempts_are_never_listed(client, brand, other_brand, clicked):
    send(client, "open", f"txn_id=T-mine&click_id={clicked}")
    theirs = OfferFactory(brand=other_brand, slug="open", min_conversion_seconds=0)
    _aged(other_brand, 0, outcome="bad_signature")
    PostbackAttempt.objects.filter(brand=other_brand).update(
        offer_slug=theirs.slug, click_id="clk_theirs0000000000", txn_id="T-theirs"
    )
    api = client_with_key(issue_key(brand))
    listed = api.get("/api/v1/postback-attempts/").json()["results"]
    assert [row["txn_id"] for row in listed] == ["T-mine"]
    for query in ("click_id=clk_theirs0000000000", "txn_id=T-theirs", "outcome=bad_signature"):
        assert api.get(f"/api/v1/postback-attempts/?{query}").json()["results"] == []
    mine = structured(Mcp(issue_key(other_brand)).call("list_postback_attempts", {}))
    assert [row["txn_id"] for row in mine["items"]] == ["T-theirs"]


# --- the dashboard panel ----------------------------------------------------------------------


def test_the_dashboard_lists_refused_postbacks_with_reason_counts(client, brand, other_brand):
    for outcome in ("bad_signature", "bad_signature", "unknown_click", "accepted"):
        _aged(brand, 0, outcome=outcome)
    hostile = _aged(brand, 0, outcome="invalid_txn_id")
    PostbackAttempt.objects.filter(pk=hostile.pk).update(txn_id="<script>x</script>")
    _aged(brand, 45, outcome="signature_expired")  # before the dashboard's period
    _aged(other_brand, 0, outcome="ip_not_allowed")
    client.force_login(StaffMembershipFactory(brand=brand).user)

    response = client.get(reverse("admin:index"))

    panel = response.context["dashboard"].refused_postbacks
    assert panel.reasons == [("bad_signature", 2), ("invalid_txn_id", 1), ("unknown_click", 1)]
    assert [row.outcome for row in panel.latest] == [
        "invalid_txn_id",
        "unknown_click",
        "bad_signature",
        "bad_signature",
    ]
    page = response.content.decode()
    assert 'id="trk-refused-postbacks"' in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x</script>" not in page
    assert "ip_not_allowed" not in page and "signature_expired" not in page
