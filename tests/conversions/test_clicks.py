from urllib.parse import parse_qs, urlsplit

import pytest

from conversions.models import Click, ClickOutcome
from offers.services import offer_pause, offer_set_caps, offer_update
from partners.models import PartnerStatus
from tests.conftest import make_actor
from tests.conversions.helpers import CHROME, IPHONE, click, click_id_from
from tests.factories import OfferFactory, PartnerFactory


@pytest.fixture
def shop(brand):
    offer = OfferFactory(
        brand=brand,
        slug="spring-sale",
        destination_url="https://shop.example.com/land?c={CLICK_ID}&p={PARTNER_ID}&s1={SUB1}&s2={SUB2}",
        fallback_url="",
    )
    partner = PartnerFactory(brand=brand, slug="abc-123")
    return offer, partner


def test_accepted_click_redirects_with_placeholders_filled_and_encoded(client, shop):
    response = click(
        client, "acme", "spring-sale", "abc-123", sub1="news@letter/../x", sub2="a b&c=d"
    )
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert (location.scheme, location.netloc, location.path) == (
        "https",
        "shop.example.com",
        "/land",
    )
    query = parse_qs(location.query)
    stored = Click.objects.get()
    assert query["c"] == [stored.id]
    assert stored.id.startswith("clk_")
    assert query["p"] == ["abc-123"]
    assert query["s1"] == ["news@letter/../x"]
    assert query["s2"] == ["a b&c=d"]  # encoded: it did not become a new parameter
    assert "d" not in query
    assert (stored.outcome, stored.is_billable, stored.sub1) == (
        "accepted",
        True,
        "news@letter/../x",
    )
    assert (stored.country, stored.device_class) == ("GB", "desktop")


def test_click_id_is_appended_when_destination_has_no_placeholder(client, brand):
    OfferFactory(brand=brand, slug="plain", destination_url="https://shop.example.com/p?x=1#top")
    PartnerFactory(brand=brand, slug="abc-123")
    response = click(client, "acme", "plain", "abc-123")
    location = urlsplit(response["Location"])
    assert parse_qs(location.query) == {"x": ["1"], "click_id": [Click.objects.get().id]}
    assert location.fragment == "top"


def test_sub_ids_are_bounded(client, shop):
    click(client, "acme", "spring-sale", "abc-123", sub1="x" * 5000)
    assert len(Click.objects.get().sub1) == 255


@pytest.mark.parametrize(
    ("setup", "outcome", "status"),
    [
        ("unknown_offer", ClickOutcome.UNKNOWN_OFFER, 404),
        ("unknown_partner", ClickOutcome.UNKNOWN_PARTNER, 404),
        ("paused_offer", ClickOutcome.OFFER_PAUSED, 410),
        ("archived_offer", ClickOutcome.OFFER_ARCHIVED, 410),
        ("paused_partner", ClickOutcome.PARTNER_INACTIVE, 410),
        ("pending_partner", ClickOutcome.PARTNER_INACTIVE, 410),
        ("private_offer", ClickOutcome.PARTNER_NOT_ALLOWED, 410),
        ("geo", ClickOutcome.GEO_BLOCKED, 410),
        ("device", ClickOutcome.DEVICE_BLOCKED, 410),
    ],
)
def test_refusals_are_recorded_with_their_reason(client, shop, setup, outcome, status):
    offer, partner = shop
    offer_slug, partner_slug = offer.slug, partner.slug
    if setup == "unknown_offer":
        offer_slug = "nope"
    elif setup == "unknown_partner":
        partner_slug = "nobody"
    elif setup == "paused_offer":
        offer.status = "paused"
    elif setup == "archived_offer":
        offer.status = "archived"
    elif setup == "paused_partner":
        partner.status = PartnerStatus.PAUSED
    elif setup == "pending_partner":
        partner.status = PartnerStatus.PENDING
    elif setup == "private_offer":
        offer.is_private = True
    elif setup == "geo":
        offer.geo_allow = ["US", "CA"]
    elif setup == "device":
        offer.device_allow = ["mobile"]
    offer.save()
    partner.save()
    response = click(client, "acme", offer_slug, partner_slug)
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    assert Click.objects.get().outcome == outcome
    # with a fallback URL, the same refusal is a 302 to the fallback
    if setup not in ("unknown_offer",):
        offer.fallback_url = "https://shop.example.com/other-deals"
        offer.save()
        from conversions import tracking_config

        tracking_config.clear()
        again = click(client, "acme", offer_slug, partner_slug)
        assert again.status_code == 302
        assert again["Location"] == "https://shop.example.com/other-deals"


def test_unknown_brand_is_404_and_stores_nothing(client, shop):
    assert click(client, "nobody", "spring-sale", "abc-123").status_code == 404
    assert not Click.objects.exists()


def test_private_offer_accepts_listed_partners(client, shop):
    offer, partner = shop
    offer.is_private = True
    offer.save()
    offer.allowed_partners.add(partner)
    assert click(client, "acme", offer.slug, partner.slug).status_code == 302
    assert Click.objects.get().outcome == "accepted"


def test_device_allowlist_accepts_matching_devices(client, shop):
    offer, _ = shop
    offer.device_allow = ["mobile"]
    offer.save()
    assert click(client, "acme", "spring-sale", "abc-123", ua=IPHONE).status_code == 302
    assert Click.objects.get().device_class == "mobile"


def test_country_comes_from_the_cdn_header_only_via_trusted_proxies(client, shop, settings):
    import ipaddress

    offer, _ = shop
    offer.geo_allow = ["DE"]
    offer.save()
    # untrusted peer: the header is ignored, the peer's own country (GB) is used
    response = client.get(
        "/c/acme/spring-sale/abc-123",
        HTTP_USER_AGENT=CHROME,
        REMOTE_ADDR="81.2.69.142",
        HTTP_CF_IPCOUNTRY="DE",
    )
    assert response.status_code == 410
    settings.TRCKER_TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    response = client.get(
        "/c/acme/spring-sale/abc-123",
        HTTP_USER_AGENT=CHROME,
        REMOTE_ADDR="10.1.2.3",
        HTTP_X_FORWARDED_FOR="81.2.69.142",
        HTTP_CF_IPCOUNTRY="DE",
    )
    assert response.status_code == 302
    latest = Click.objects.latest("created_at")
    assert (latest.country, str(latest.ip)) == ("DE", "81.2.69.142")


@pytest.mark.parametrize("param", ["url", "dest", "redirect", "next", "destination", "u"])
@pytest.mark.parametrize(
    "payload",
    [
        "https://evil.example/",
        "//evil.example",
        "https://shop.example.com.evil.example",
        "https://shop.example.com@evil.example",
        "https:/\\evil.example",
        "%2F%2Fevil.example",
        "\x08javascript:alert(1)",
        "data:text/html,hi",
        "javascript:alert(1)",
        "/\\evil.example",
    ],
)
def test_no_open_redirect_through_query_parameters(client, shop, param, payload):
    offer, _ = shop
    offer.fallback_url = "https://shop.example.com/fallback"
    offer.save()
    accepted = click(client, "acme", "spring-sale", "abc-123", **{param: payload})
    refused = click(client, "acme", "nope", "abc-123", **{param: payload})
    paused = click(client, "acme", "spring-sale", "nobody", **{param: payload})
    for response in (accepted, refused, paused):
        if response.status_code == 302:
            assert urlsplit(response["Location"]).netloc == "shop.example.com"
        assert "evil" not in response.get("Location", "")


@pytest.mark.parametrize(
    ("ua", "headers"),
    [
        ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", {}),
        ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", {}),
        ("Twitterbot/1.0", {}),
        (CHROME, {"HTTP_SEC_PURPOSE": "prefetch"}),
        (CHROME, {"HTTP_PURPOSE": "prefetch"}),
    ],
)
def test_previews_and_prefetches_are_redirected_but_not_billable(client, shop, ua, headers):
    offer, _ = shop
    offer.geo_allow = ["US"]  # would refuse a person from GB; a preview is not judged
    offer.save()
    response = client.get(
        "/c/acme/spring-sale/abc-123", HTTP_USER_AGENT=ua, REMOTE_ADDR="81.2.69.142", **headers
    )
    assert response.status_code == 302
    assert urlsplit(response["Location"]).netloc == "shop.example.com"
    stored = Click.objects.get()
    assert (stored.outcome, stored.is_billable) == ("accepted", False)


def test_a_head_request_is_answered_but_counted_as_a_preview(client, shop):
    response = client.head(
        "/c/acme/spring-sale/abc-123", HTTP_USER_AGENT=CHROME, REMOTE_ADDR="81.2.69.142"
    )
    assert response.status_code == 302
    assert urlsplit(response["Location"]).netloc == "shop.example.com"
    stored = Click.objects.get()
    assert (stored.outcome, stored.is_billable) == ("accepted", False)


def test_previews_do_not_count_against_a_full_cap(client, shop, brand):
    offer, _ = shop
    actor = make_actor(brand)
    offer_set_caps(actor=actor, offer=offer, daily=0, weekly=None, monthly=None)
    assert click(client, "acme", "spring-sale", "abc-123").status_code == 410
    assert Click.objects.latest("created_at").outcome == ClickOutcome.CAP_REACHED
    preview = click(client, "acme", "spring-sale", "abc-123", ua="Twitterbot/1.0")
    assert preview.status_code == 302


def test_config_change_is_seen_by_the_next_click(
    client, shop, brand, django_capture_on_commit_callbacks
):
    offer, _ = shop
    assert click(client, "acme", "spring-sale", "abc-123").status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        offer_pause(actor=make_actor(brand), offer=offer)
    assert click(client, "acme", "spring-sale", "abc-123").status_code == 410
    with django_capture_on_commit_callbacks(execute=True):
        offer_update(
            actor=make_actor(brand), offer=offer, fallback_url="https://shop.example.com/fb"
        )
    assert (
        click(client, "acme", "spring-sale", "abc-123")["Location"] == "https://shop.example.com/fb"
    )


@pytest.mark.django_db(transaction=True)
def test_without_a_queue_the_click_and_its_rollup_are_written_in_the_request(
    client, shop, settings
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.TRCKER_CLICK_QUEUE = False  # as without a queue Redis
    click(client, "acme", "spring-sale", "abc-123")  # warms the per-process config cache
    with CaptureQueriesContext(connection) as captured:
        response = click(client, "acme", "spring-sale", "abc-123", sub1="x")
    assert response.status_code == 302
    sql = [q["sql"] for q in captured.captured_queries]
    # No SELECT: the click INSERT and the two rollup upserts (daily, click) in one transaction,
    # whose commit does not wait for the WAL flush on PostgreSQL.
    statements = [query.split()[0].upper() for query in sql]
    assert [s for s in statements if s not in ("BEGIN", "COMMIT", "SET", "SAVEPOINT")] == [
        "INSERT",
        "INSERT",
        "INSERT",
    ]
    assert all("ON CONFLICT" in query for query in sql if query.upper().startswith("INSERT"))
    if connection.vendor == "postgresql":
        assert any(query.startswith("SET LOCAL synchronous_commit TO OFF") for query in sql)
    assert Click.objects.get(pk=click_id_from(response)).sub1 == "x"


def test_disk_wait_is_skipped_only_for_a_transaction_of_its_own(db):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core.db import atomic_without_disk_wait

    # Inside a larger transaction (here the test's own) the outer guarantee wins.
    with CaptureQueriesContext(connection) as captured, atomic_without_disk_wait():
        pass
    assert not any("synchronous_commit" in q["sql"] for q in captured.captured_queries)


def test_fraud_block_mode_refuses_bot_clicks_at_the_threshold(client, shop, brand):
    brand.fraud_mode, brand.fraud_threshold = "block", 60
    brand.save()
    blocked = click(client, "acme", "spring-sale", "abc-123", ua="curl/8.4.0")  # bot UA: 60 points
    assert blocked.status_code == 410
    stored = Click.objects.get()
    assert stored.outcome == ClickOutcome.FRAUD_BLOCKED
    assert stored.fraud_score == 60
    assert {s["signal"] for s in stored.fraud_signals} == {"bot_user_agent"}
    assert click(client, "acme", "spring-sale", "abc-123").status_code == 302  # a browser passes


def test_monitor_mode_scores_but_does_not_refuse(client, shop, brand):
    brand.fraud_mode = "monitor"
    brand.save()
    response = click(client, "acme", "spring-sale", "abc-123", ua="")
    assert response.status_code == 302
    assert Click.objects.get().fraud_score == 30


def test_off_mode_scores_nothing(client, shop, brand):
    brand.fraud_mode = "off"
    brand.save()
    click(client, "acme", "spring-sale", "abc-123", ua="curl/8")
    assert Click.objects.get().fraud_score == 0


def test_head_requests_are_answered_and_other_methods_refused(client, shop):
    assert client.head("/c/acme/spring-sale/abc-123", HTTP_USER_AGENT=CHROME).status_code == 302
    assert client.post("/c/acme/spring-sale/abc-123").status_code == 405


def test_redirects_and_refusals_are_never_cached(client, shop):
    # A cached redirect would send later visitors on without a click being recorded.
    accepted = click(client, "acme", "spring-sale", "abc-123")
    refused = click(client, "acme", "no-such-offer", "abc-123")
    assert (accepted.status_code, refused.status_code) == (302, 404)
    for response in (accepted, refused):
        assert (
            response["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"
        )
        assert response["Expires"].endswith(" GMT")
