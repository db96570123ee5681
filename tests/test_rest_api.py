import pytest

from audit.models import AuditEvent
from offers.models import Offer
from partners.models import Partner
from tests.factories import OfferFactory, PartnerFactory

WRITE_ENDPOINTS = [
    (
        "post",
        "/api/v1/offers/",
        {"name": "x", "destination_url": "https://a.example/", "payout_amount": "1"},
    ),
    ("patch", "/api/v1/offers/spring-sale/", {"name": "x"}),
    ("post", "/api/v1/offers/spring-sale/pause/", None),
    ("post", "/api/v1/offers/spring-sale/resume/", None),
    ("post", "/api/v1/offers/spring-sale/archive/", None),
    ("post", "/api/v1/offers/spring-sale/caps/", {"daily": 5}),
    (
        "post",
        "/api/v1/offers/spring-sale/payout-rules/",
        {"event_type": "sale", "payout_type": "flat", "payout_amount": "2"},
    ),
    ("post", "/api/v1/offers/spring-sale/rotate-postback-secret/", {}),
    ("post", "/api/v1/partners/", {"name": "x"}),
    ("patch", "/api/v1/partners/abc-123/", {"name": "x"}),
    ("post", "/api/v1/partners/abc-123/approve/", None),
    ("post", "/api/v1/partners/abc-123/reject/", None),
    ("post", "/api/v1/partners/abc-123/pause/", None),
    ("post", "/api/v1/partners/abc-123/resume/", None),
    ("post", "/api/v1/coupons/", {"partner_id": "abc-123", "code": "NEW1"}),
    ("post", "/api/v1/coupons/SPRING10/disable/", None),
    ("post", "/api/v1/conversions/conv_x/approve/", None),
    ("post", "/api/v1/conversions/conv_x/reject/", {"reason": "x"}),
    ("post", "/api/v1/payouts/generate/", {}),
    ("post", "/api/v1/payouts/pay_x/mark-paid/", {"method": "wire"}),
    ("post", "/api/v1/payouts/pay_x/void/", None),
    ("post", "/api/v1/deliveries/1/replay/", None),
    ("patch", "/api/v1/fraud/settings/", {"mode": "off"}),
]


@pytest.fixture
def catalog(brand, offer, partner):
    from django.utils import timezone

    from conversions.models import Conversion, Payout, PostbackDelivery
    from tests.factories import CouponFactory

    CouponFactory(brand=brand, partner=partner, code="SPRING10")
    payout = Payout.objects.create(
        id="pay_x",
        brand=brand,
        partner=partner,
        currency="USD",
        amount=1,
        period_end=timezone.now().date(),
    )
    conversion = Conversion.objects.create(
        id="conv_x",
        brand=brand,
        offer=offer,
        partner=partner,
        txn_id="t",
        currency="USD",
        created_at=timezone.now(),
    )
    PostbackDelivery.objects.create(
        pk=1, brand=brand, conversion=conversion, url="https://a.example/", status="dead"
    )
    assert payout.status == "pending"
    return brand


@pytest.mark.parametrize(("method", "path", "body"), WRITE_ENDPOINTS)
def test_read_only_key_gets_403_on_every_write(catalog, read_api, method, path, body):
    events_before = AuditEvent.objects.count()
    response = getattr(read_api, method)(path, body, format="json")
    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == "read_only_credential"
    assert AuditEvent.objects.count() == events_before


def test_create_offer_with_the_mcp_argument_names(api, brand):
    body = {
        "name": "Spring Sale",
        "destination_url": "https://shop.example.com/?c={CLICK_ID}",
        "payout_type": "percent",
        "payout_amount": "15",
        "offer_id": "spring",
        "currency": "EUR",
        "revenue_type": "flat",
        "revenue_amount": "30.00",
        "fallback_url": "https://shop.example.com/",
        "postback_url_template": "https://adv.example/pb?c={CLICK_ID}&amt={AMOUNT}",
        "geo_allow": ["de", "AT"],
        "device_allow": ["mobile"],
    }
    response = api.post("/api/v1/offers/", body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["offer_id"] == "spring"
    assert (data["payout_type"], data["payout_amount"], data["currency"]) == (
        "percent",
        "15.00",
        "EUR",
    )
    assert data["geo_allow"] == ["AT", "DE"]
    # Secure by default: the secret is made at creation and this answer is its only showing.
    assert data["has_postback_secret"] is True
    assert data["postback_secret"].startswith("whsec_")
    assert data["postback_secret"] not in api.get("/api/v1/offers/spring/").content.decode()
    assert data["inbound_postback_url"].startswith(
        "http://127.0.0.1:8000/api/postback/acme/spring?click_id="
    )
    assert data["tracking_link_template"] == "http://127.0.0.1:8000/c/acme/spring/{PARTNER_ID}"
    assert data["caps"] == {"daily": None, "weekly": None, "monthly": None, "mode": "soft"}
    event = AuditEvent.objects.get(action="offer.create")
    assert event.actor_label.startswith("api_key:")
    assert event.channel == "rest"


@pytest.mark.parametrize(
    "forbidden",
    [
        {"brand": 2},
        {"brand_id": 2},
        {"id": 9},
        {"status": "paused"},
        {"postback_secret": "x"},
        {"created_at": "2020-01-01T00:00:00Z"},
        {"has_postback_secret": True},
        {"payout_rules": []},
    ],
)
def test_unknown_fields_are_rejected_with_no_mass_assignment(api, offer, forbidden):
    before = Offer.objects.filter(pk=offer.pk).values().get()
    response = api.patch(
        f"/api/v1/offers/{offer.slug}/", {"name": "ok", **forbidden}, format="json"
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert next(iter(forbidden)) in error["fields"]
    assert Offer.objects.filter(pk=offer.pk).values().get() == before
    create = api.post("/api/v1/partners/", {"name": "p", **forbidden}, format="json")
    assert create.status_code == 422
    assert not Partner.objects.filter(name="p").exists()


def test_validation_errors_name_the_field(api):
    response = api.post(
        "/api/v1/offers/",
        {"name": "x", "destination_url": "not a url", "payout_amount": "-3"},
        format="json",
    )
    assert response.status_code == 422
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"destination_url", "payout_amount"}


def test_malformed_json_is_a_clear_400(api):
    response = api.generic("POST", "/api/v1/offers/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_update_offer_postback_template_null_clears(api, offer):
    api.patch(
        f"/api/v1/offers/{offer.slug}/",
        {"postback_url_template": "https://adv.example/p?c={CLICK_ID}"},
        format="json",
    )
    response = api.patch(
        f"/api/v1/offers/{offer.slug}/", {"postback_url_template": None}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["postback_url_template"] is None


def test_offer_actions_and_conflicts(api, offer, partner):
    assert api.post(f"/api/v1/offers/{offer.slug}/pause/").json()["status"] == "paused"
    assert api.post(f"/api/v1/offers/{offer.slug}/archive/").json()["status"] == "archived"
    conflict = api.post(f"/api/v1/offers/{offer.slug}/resume/")
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "invalid_transition"
    dup = api.post(
        "/api/v1/offers/",
        {
            "name": "x",
            "offer_id": offer.slug,
            "destination_url": "https://a.example/",
            "payout_amount": "1",
        },
        format="json",
    )
    assert (dup.status_code, dup.json()["error"]["code"]) == (409, "offer_id_taken")


def test_caps_and_payout_rules_show_in_the_offer(api, offer, partner):
    api.post(
        f"/api/v1/offers/{offer.slug}/caps/",
        {"daily": 50, "monthly": 1000, "mode": "hard"},
        format="json",
    )
    response = api.post(
        f"/api/v1/offers/{offer.slug}/payout-rules/",
        {"partner_id": partner.slug, "payout_type": "percent", "payout_amount": "15"},
        format="json",
    )
    data = response.json()
    assert data["caps"] == {"daily": 50, "weekly": None, "monthly": 1000, "mode": "hard"}
    assert data["payout_rules"] == [
        {
            "partner_id": partner.slug,
            "event_type": "",
            "payout_type": "percent",
            "payout_amount": "15.00",
            "revenue_type": "",
            "revenue_amount": None,
        }
    ]
    too_much = api.post(
        f"/api/v1/offers/{offer.slug}/payout-rules/",
        {"partner_id": partner.slug, "payout_type": "percent", "payout_amount": "150"},
        format="json",
    )
    assert too_much.status_code == 422


def test_rotate_secret_is_shown_once_and_never_readable(api, offer):
    response = api.post(f"/api/v1/offers/{offer.slug}/rotate-postback-secret/", {}, format="json")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    secret = response.json()["postback_secret"]
    detail = api.get(f"/api/v1/offers/{offer.slug}/")
    assert detail.json()["has_postback_secret"] is True
    assert secret not in detail.content.decode()
    assert secret not in api.get("/api/v1/offers/").content.decode()
    assert secret not in api.get("/api/v1/audit-events/").content.decode()


def test_partner_endpoints(api, brand):
    created = api.post(
        "/api/v1/partners/",
        {"name": "New Blog", "status": "pending", "email": "b@blog.example"},
        format="json",
    )
    assert created.status_code == 201
    assert created.json()["status"] == "pending"
    slug = created.json()["partner_id"]
    assert api.post(f"/api/v1/partners/{slug}/approve/").json()["status"] == "active"
    assert api.post(f"/api/v1/partners/{slug}/pause/").json()["status"] == "paused"
    assert api.get("/api/v1/partners/?status=paused").json()["results"][0]["partner_id"] == slug
    assert (
        api.patch(
            f"/api/v1/partners/{slug}/", {"website": "https://blog.example"}, format="json"
        ).json()["website"]
        == "https://blog.example"
    )


def test_coupon_endpoints(api, partner, offer):
    created = api.post(
        "/api/v1/coupons/",
        {"partner_id": partner.slug, "code": "Spring10", "offer_id": offer.slug, "max_uses": 3},
        format="json",
    )
    assert created.status_code == 201
    answer = created.json()
    (change,) = answer.pop("changes")
    assert answer | {"created_at": None} == {
        "code": "Spring10",
        "partner_id": partner.slug,
        "offer_id": offer.slug,
        "status": "active",
        "max_uses": 3,
        "used_count": 0,
        "created_at": None,
        "dry_run": False,
    }
    assert (change["action"], change["target_type"], change["target_id"]) == (
        "coupon.create",
        "coupon",
        "Spring10",
    )
    assert change["changes"]["max_uses"] == [None, 3]
    assert api.get("/api/v1/coupons/spring10/").status_code == 200
    assert api.post("/api/v1/coupons/SPRING10/disable/").json()["status"] == "disabled"
    assert api.get("/api/v1/coupons/?status=disabled").json()["results"][0]["code"] == "Spring10"


def test_cursor_pagination_walks_every_row_once_with_a_bounded_page(api, brand):
    for i in range(7):
        OfferFactory(brand=brand, slug=f"o-{i}")
    seen, url = [], "/api/v1/offers/?limit=3"
    while url:
        page = api.get(url).json()
        assert len(page["results"]) <= 3
        seen += [row["offer_id"] for row in page["results"]]
        url = page["next"]
    assert sorted(seen) == sorted(f"o-{i}" for i in range(7))
    assert api.get("/api/v1/offers/?limit=1000").status_code == 422
    assert api.get("/api/v1/offers/?status=bogus").status_code == 422


def test_list_query_count_does_not_grow_with_rows(
    api, brand, partner, django_assert_max_num_queries
):
    from offers.models import PayoutRule

    for i in range(20):
        offer = OfferFactory(brand=brand, slug=f"q-{i}")
        PayoutRule.objects.create(
            brand=brand, offer=offer, partner=partner, payout_type="flat", payout_amount=1
        )
    with django_assert_max_num_queries(8):
        response = api.get("/api/v1/offers/?limit=50")
    assert len(response.json()["results"]) == 20


def test_audit_events_endpoint_filters(api, offer):
    api.post(f"/api/v1/offers/{offer.slug}/pause/")
    api.post(f"/api/v1/offers/{offer.slug}/resume/")
    events = api.get("/api/v1/audit-events/?action=offer.pause").json()["results"]
    assert [e["action"] for e in events] == ["offer.pause"]
    assert events[0]["changes"] == {"status": ["active", "paused"]}
    assert events[0]["target_id"] == offer.slug
    every_offer_event = api.get(
        f"/api/v1/audit-events/?action=offer&target_id={offer.slug}"
    ).json()["results"]
    assert [e["action"] for e in every_offer_event] == ["offer.resume", "offer.pause"]
    one = api.get(f"/api/v1/audit-events/{events[0]['id']}/").json()
    assert one["hash"] == events[0]["hash"]


def test_rate_limit_per_key_answers_429_with_retry_after(api, read_api, settings, offer):
    settings.TRCKER_API_RATE = "3/m"
    codes = [api.get("/api/v1/offers/").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    limited = api.get("/api/v1/offers/")
    assert int(limited["Retry-After"]) >= 1
    assert limited.json()["error"]["code"] == "rate_limited"
    assert read_api.get("/api/v1/offers/").status_code == 200  # another key is unaffected


def test_openapi_document_and_docs_page_are_public_and_valid(db, client):
    schema = client.get("/api/v1/openapi.json")
    assert schema.status_code == 200
    doc = schema.json()
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/offers/{offer_id}/pause/" in doc["paths"]
    assert doc["components"]["securitySchemes"]["ApiKeyBearer"]["scheme"] == "bearer"
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
    assert b"cdn." not in docs.content  # served from our static files (sidecar), works offline


def test_health_reports_database_and_version(db, client):
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["version"]
    assert response["X-Request-ID"]


def test_health_is_503_when_redis_is_configured_but_unreachable(db, client, settings):
    # A real client against a closed port: no mock of our own code.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    response = client.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


def test_api_stays_up_when_the_rate_limit_store_is_down(api, offer, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    response = api.get("/api/v1/offers/")
    assert response.status_code == 200
    assert response.json()["results"][0]["offer_id"] == offer.slug


def test_allowed_partners_endpoint_and_click_admission(api, brand, offer, partner, client):
    from tests.conversions.helpers import click

    response = api.post(
        f"/api/v1/offers/{offer.slug}/allowed-partners/",
        {"partner_ids": [partner.slug]},
        format="json",
    )
    assert response.status_code == 200
    assert (response.json()["is_private"], response.json()["allowed_partner_ids"]) == (
        True,
        [partner.slug],
    )
    outsider = PartnerFactory(brand=brand, slug="outsider")
    assert click(client, brand.slug, offer.slug, partner.slug).status_code == 302
    assert click(client, brand.slug, offer.slug, outsider.slug).status_code == 410
    unknown = api.post(
        f"/api/v1/offers/{offer.slug}/allowed-partners/", {"partner_ids": ["nobody"]}, format="json"
    )
    assert unknown.status_code == 404


def test_changing_the_currency_of_an_offer_with_traffic_is_refused(api, brand, offer, partner):
    from tests.conversions.factories_flow import accepted_click

    accepted_click(brand, offer, partner)
    response = api.patch(f"/api/v1/offers/{offer.slug}/", {"currency": "EUR"}, format="json")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "currency_locked"
    assert error["message"] == (
        "This offer already has clicks or conversions in USD; "
        "create a new offer for another currency."
    )
    assert error["fields"] == {"currency": [error["message"]]}
    assert Offer.objects.get(pk=offer.pk).currency == "USD"
