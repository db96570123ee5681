"""Hypothesis fuzzing of the public tracking endpoints (the click redirect and the inbound
postback) with hostile text in the path, the query, the headers and the body: whatever
arrives, the answer is never a 5xx, and anything stored is clean text.

Most examples use a real brand/offer/partner and a well-formed txn_id, so the hostile text
gets as far as the database write (where PostgreSQL refuses a NUL); the rest put it into the
path and the identifiers themselves."""

import json
import string
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.models import AuditEvent
from conversions.models import Click, Conversion
from tests.factories import OfferFactory, PartnerFactory

CONTROL = "".join(chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)])
# Mostly hostile: controls, lone surrogates, non-ASCII, the characters that matter to URLs,
# and sometimes a lot of it.
hostile_text = st.one_of(
    st.text(alphabet=st.sampled_from(CONTROL + "a-_%&=/?#+ é東😀"), max_size=40),
    st.text(max_size=40),  # any code point, surrogates included
    st.sampled_from(["", "\x00", "a\x00b", "%00", "\ud800", "x" * 5000, "\x00" * 300 + "y"]),
)


def _encode(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


# What a WSGI server hands Django: bytes read as latin-1. Percent signs not followed by two
# hex digits (invalid percent-encoding) and encoded invalid UTF-8 come along on purpose.
raw_wire = st.one_of(
    st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
    st.sampled_from(["%", "%zz", "%0", "%ff%fe", "%c3%28", "%ed%a0%80", "a=%00&b=%"]),
    hostile_text.map(lambda t: quote(t.encode("utf-8", "surrogatepass"), safe="=&%")),
)
segments = st.one_of(
    hostile_text.map(_encode),
    st.sampled_from(["%", "%zz", "%00", "%ff", "%c0%af", "%2e%2e", "acme%00", "ACME"]),
)
header_values = st.one_of(raw_wire, hostile_text)
SUBS = ["sub1", "sub2", "sub3", "sub4", "sub5"]
txn_ids = st.text(alphabet=string.ascii_letters + string.digits + "-_.:", min_size=1, max_size=20)
# Postback fields: a valid txn_id and amount with hostile sub ids (recorded, so the hostile
# text reaches the database), hostile text in the identifiers too, or hostile everywhere.
postback_fields = st.one_of(
    st.fixed_dictionaries(
        {"txn_id": txn_ids},
        optional={
            **dict.fromkeys(SUBS, hostile_text),
            # Not the largest accepted amount: two of those overflow a day's rollup on
            # PostgreSQL (test_edge_input.py, test_rollup_of_maximum_amounts_in_one_day...).
            "amount": st.sampled_from(["0", "1", "49.90", "1000000"]),
        },
    ),
    st.fixed_dictionaries(
        {"txn_id": st.one_of(txn_ids, hostile_text)},
        optional={
            "amount": st.one_of(hostile_text, st.sampled_from(["1e999", "-1", "NaN", "1" * 5000])),
            "event": hostile_text,
            "coupon": hostile_text,
            "currency": hostile_text,
            "click_id": hostile_text,
        },
    ),
    st.dictionaries(st.sampled_from([*SUBS, "txn_id", "amount"]) | hostile_text, hostile_text),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | hostile_text,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(hostile_text, children, max_size=3)
    ),
    max_leaves=8,
)


def _query(pairs: dict[str, str]) -> str:
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in pairs.items())


def _assert_stored_text_is_clean() -> None:
    rows = [
        *Click.objects.values_list(
            "sub1", "sub2", "sub3", "sub4", "sub5", "user_agent", "referrer"
        ),
        *Conversion.objects.values_list("sub1", "sub2", "sub3", "sub4", "sub5"),
        *AuditEvent.objects.values_list("user_agent"),
    ]
    for row in rows:
        assert not any(ch in CONTROL for value in row for ch in value), row


@pytest.fixture
def shop(brand):
    offer = OfferFactory(brand=brand, slug="spring-sale", min_conversion_seconds=0)
    # Signature checking (header parsing included) runs only for an offer with a secret.
    OfferFactory(brand=brand, slug="signed", postback_secret="whsec_fuzz")
    PartnerFactory(brand=brand, slug="abc-123")
    return offer


FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.mark.django_db
@FUZZ
@given(
    path=st.one_of(
        st.just(("acme", "spring-sale", "abc-123")),
        st.tuples(segments, st.just("spring-sale"), st.just("abc-123")),
        st.tuples(segments, segments, segments),
    ),
    query=st.one_of(
        st.dictionaries(st.sampled_from(SUBS), hostile_text).map(_query),
        st.dictionaries(hostile_text, hostile_text, max_size=4).map(_query),
        raw_wire,
    ),
    user_agent=header_values,
    referrer=header_values,
)
def test_clicks_never_5xx(client, shop, path, query, user_agent, referrer):
    brand, offer, partner = path
    response = client.get(
        f"/c/{brand}/{offer}/{partner}",
        QUERY_STRING=query,
        HTTP_USER_AGENT=user_agent,
        HTTP_REFERER=referrer,
    )
    assert response.status_code < 500, (path, query, user_agent, response.content[:300])
    _assert_stored_text_is_clean()


@pytest.mark.django_db
@FUZZ
@given(
    path=st.one_of(
        st.just(("acme", "spring-sale")),
        st.sampled_from([("acme", "spring-sale"), ("acme", "signed")]),
        st.tuples(segments, segments),
    ),
    fields=postback_fields,
    extra_query=st.one_of(st.just(""), raw_wire),
    body=st.one_of(
        st.sampled_from([None, "fields-as-json", "fields-as-form"]),
        st.sampled_from([None, "fields-as-json", "fields-as-form"]),
        st.dictionaries(
            st.sampled_from([*SUBS, "txn_id", "coupon", "event"]) | hostile_text,
            json_values,
            max_size=4,
        ),
        json_values,
        st.binary(max_size=200),
    ),
    user_agent=header_values,
    signature=header_values,
)
def test_postbacks_never_5xx(client, shop, path, fields, extra_query, body, user_agent, signature):
    # Every postback carries a real click, so that some of them are recorded.
    assert client.get("/c/acme/spring-sale/abc-123", HTTP_USER_AGENT="fuzz").status_code == 302
    fields = {"click_id": Click.objects.latest("created_at").id, **fields}
    headers = {"HTTP_USER_AGENT": user_agent, "HTTP_X_TRCKER_SIGNATURE": signature}
    url = "/api/postback/{}/{}".format(*path)
    if body is None:
        query = "&".join(filter(None, [_query(fields), extra_query]))
        response = client.get(url, QUERY_STRING=query, **headers)
    else:
        if body == "fields-as-json":
            content_type, data = "application/json", json.dumps(fields).encode()
        elif body == "fields-as-form":
            content_type = "application/x-www-form-urlencoded"
            data = _query(fields).encode()
        elif isinstance(body, bytes):
            content_type, data = "application/json", body
        else:
            content_type, data = "application/json", json.dumps(body).encode()
        response = client.generic(
            "POST", url, data, content_type=content_type, QUERY_STRING=extra_query, **headers
        )
    assert response.status_code < 500, (path, fields, body, response.content[:300])
    if response.status_code != 404:  # a "/" decoded from a segment is no route of ours
        assert response["Content-Type"] == "application/json"
    _assert_stored_text_is_clean()
