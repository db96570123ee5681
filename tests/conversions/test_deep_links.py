"""Deep links: a tracking link's url= lands on a page of a host the offer allows, and anything
else lands on the offer's destination (never an open redirect)."""

from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversions.models import Click
from core.deep_links import DeepLinkHostError, DeepLinkPolicy, normalise_host_entry
from core.errors import ValidationError
from offers.services import offer_update
from tests.conftest import make_actor
from tests.conversions.helpers import click
from tests.factories import OfferFactory, PartnerFactory

ALLOWED = ["shop.example.com", "*.example.org", "xn--mller-kva.example"]
POLICY = DeepLinkPolicy.parse(ALLOWED, destination_url="https://shop.example.com/")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://shop.example.com/shoes?size=9#top", "https://shop.example.com/shoes?size=9#top"),
        ("HTTPS://SHOP.EXAMPLE.COM/A", "https://shop.example.com/A"),
        ("https://shop.example.com", "https://shop.example.com/"),
        ("https://de.example.org/x", "https://de.example.org/x"),
        ("https://a.b.example.org/x", "https://a.b.example.org/x"),
        ("https://xn--mller-kva.example/p", "https://xn--mller-kva.example/p"),
        ("https://shop.example.com/m\u00fctze", "https://shop.example.com/m%C3%BCtze"),
        ("https://shop.example.com/p?c={CLICK_ID}", "https://shop.example.com/p?c={CLICK_ID}"),
        ('https://shop.example.com/a"<b>', "https://shop.example.com/a%22%3Cb%3E"),
    ],
)
def test_allowed_deep_links_are_kept(raw, expected):
    assert POLICY.target(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "https://evil.com/",
        "https://shop.example.com@evil.com/",
        "https://evil.com@shop.example.com/",
        "https://user:pw@shop.example.com/",
        "https://evil.com\\@shop.example.com/",
        "https://shop.example.com\\evil.com",
        "https:\\\\shop.example.com",
        "//shop.example.com/x",
        "//evil.com",
        "/\\evil.com",
        "https:/shop.example.com",
        "https:///shop.example.com",
        "http://shop.example.com/",  # the destination is https: so is every deep link
        "javascript:alert(1)//shop.example.com",
        "JaVaScRiPt:alert(document.domain)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://shop.example.com/",
        "https://shop.example.com:8443/",
        "https://shop.example.com./",
        "https://example.org/",  # *.example.org is subdomains only
        "https://evilexample.org/",
        "https://shop.example.com.evil.com/",
        "https://m\u00fcller.example/",  # internationalised hosts only in their xn-- form
        "https://shop.ex\u0430mple.com/",  # Cyrillic a
        "https://shop\uff0eexample\uff0ecom/",  # fullwidth dots
        "https://%73hop.example.com/",
        "https://[::1]/",
        "https://127.0.0.1/",
        "https://shop.example.com/\x00",
        "https://shop.example.com/a b",
        "https://shop.example.com/\t",
        "https://shop.example.com\n.evil.com/",
        "https://shop.example.com/" + "a" * 2100,
        "",
        "shop.example.com/x",
    ],
)
def test_hostile_deep_links_are_refused(raw):
    assert POLICY.target(raw) is None


def test_http_only_when_the_destination_is_http():
    policy = DeepLinkPolicy.parse(["shop.example.com"], destination_url="http://shop.example.com/")
    assert policy.target("http://shop.example.com/x") == "http://shop.example.com/x"
    assert policy.target("https://shop.example.com/x") == "https://shop.example.com/x"


def test_no_allowlist_no_deep_links():
    policy = DeepLinkPolicy.parse([], destination_url="https://shop.example.com/")
    assert policy.target("https://shop.example.com/x") is None


@pytest.mark.parametrize(
    ("entry", "stored"),
    [
        (" Shop.Example.COM ", "shop.example.com"),
        ("*.Example.org", "*.example.org"),
        ("m\u00fcller.example", "xn--mller-kva.example"),
    ],
)
def test_allowlist_entries_are_normalised(entry, stored):
    assert normalise_host_entry(entry) == stored


@pytest.mark.parametrize(
    "entry",
    [
        "https://shop.example.com",
        "shop.example.com/path",
        "*",
        "*.com.",
        "example",
        "a..b",
        "-a.com",
        "1.2.3.4",
        "shop.example.com:443",
        "*.*.example.com",
        "ex ample.com",
        "\x00.com",
        "a" * 300 + ".com",
        "",
    ],
)
def test_bad_allowlist_entries_are_refused(entry):
    with pytest.raises(DeepLinkHostError):
        normalise_host_entry(entry)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_fuzz_a_deep_link_never_leaves_the_allowlist(raw):
    target = POLICY.target(raw)
    if target is not None:
        parts = urlsplit(target)
        assert parts.scheme == "https"
        assert parts.username is None and parts.port is None
        assert POLICY.allows_host(parts.netloc)
        assert target.isascii() and "\\" not in target
        assert not any(ord(char) <= 0x20 or ord(char) == 0x7F for char in target)


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from(["https://", "http://", "//", "https:", "https:///", "\\\\", ""]),
    userinfo=st.sampled_from(["", "shop.example.com@", "a:b@", "evil.com\\@"]),
    host=st.sampled_from(["shop.example.com", "evil.com", "x.example.org", "example.org"]),
    tail=st.text(alphabet=st.sampled_from(list("/\\@?#:.%\x00 \t\nab")), max_size=12),
)
def test_fuzz_composed_tricks(prefix, userinfo, host, tail):
    target = POLICY.target(prefix + userinfo + host + tail)
    if target is not None:
        # What a browser would visit: the authority up to the first / ? # (or backslash).
        authority = target.split("://", 1)[1]
        for stop in "/?#\\":
            authority = authority.split(stop, 1)[0]
        assert authority in {"shop.example.com", "x.example.org"}


# --- through the click endpoint --------------------------------------------------------------


@pytest.fixture
def deep_offer(brand):
    offer = OfferFactory(
        brand=brand,
        slug="shoes",
        destination_url="https://shop.example.com/land?c={CLICK_ID}",
        fallback_url="https://shop.example.com/sorry",
        deep_link_hosts=["shop.example.com", "*.example.org"],
    )
    PartnerFactory(brand=brand, slug="abc-123")
    return offer


def test_click_with_an_allowed_deep_link_lands_there_with_the_click_id(client, deep_offer):
    response = click(
        client, "acme", "shoes", "abc-123", url="https://de.example.org/boots?ref={PARTNER_ID}"
    )
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert (location.netloc, location.path) == ("de.example.org", "/boots")
    stored = Click.objects.get()
    assert parse_qs(location.query) == {"ref": ["abc-123"], "click_id": [stored.id]}
    assert stored.outcome == "accepted"


def test_click_id_placeholder_in_a_deep_link_is_filled(client, deep_offer):
    response = click(
        client, "acme", "shoes", "abc-123", url="https://shop.example.com/p?cid={CLICK_ID}"
    )
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query == {"cid": [Click.objects.get().id]}


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.com/",
        "https://shop.example.com@evil.com/",
        "//evil.com",
        "javascript:alert(1)",
        "https://shop.example.com\\@evil.com",
        "https://evil.com\x00.shop.example.com/",
    ],
)
def test_click_with_a_foreign_deep_link_lands_on_the_destination(client, deep_offer, url):
    response = click(client, "acme", "shoes", "abc-123", url=url)
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert (location.netloc, location.path) == ("shop.example.com", "/land")
    assert Click.objects.get().outcome == "accepted"


def test_a_refused_click_ignores_the_deep_link(client, deep_offer, brand):
    offer_update(actor=make_actor(brand), offer=deep_offer, geo_allow=["US"])
    response = click(client, "acme", "shoes", "abc-123", url="https://shop.example.com/x")
    assert response["Location"] == "https://shop.example.com/sorry"


def test_allowlist_change_reaches_the_click_handler(
    client, deep_offer, brand, django_capture_on_commit_callbacks
):
    url = "https://other.example.net/x"
    first = click(client, "acme", "shoes", "abc-123", url=url)
    assert urlsplit(first["Location"]).netloc == "shop.example.com"
    with django_capture_on_commit_callbacks(execute=True):
        offer_update(
            actor=make_actor(brand), offer=deep_offer, deep_link_hosts=["other.example.net"]
        )
    second = click(client, "acme", "shoes", "abc-123", url=url)
    assert urlsplit(second["Location"]).netloc == "other.example.net"


def test_offer_update_normalises_and_refuses_hosts(deep_offer, brand):
    actor = make_actor(brand)
    updated = offer_update(
        actor=actor, offer=deep_offer, deep_link_hosts=["B.example.com", "b.example.com", "*.X.io"]
    )
    assert updated.deep_link_hosts == ["*.x.io", "b.example.com"]
    with pytest.raises(ValidationError) as refused:
        offer_update(actor=actor, offer=deep_offer, deep_link_hosts=["https://evil.com/"])
    assert "deep_link_hosts" in refused.value.fields


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(url=st.text(max_size=200))
def test_fuzz_click_endpoint_never_redirects_off_the_allowlist(client, deep_offer, url):
    response = click(client, "acme", "shoes", "abc-123", url=url)
    assert response.status_code == 302
    host = urlsplit(response["Location"]).netloc
    assert host == "shop.example.com" or host.endswith(".example.org")
