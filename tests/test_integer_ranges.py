"""Integers beyond their column's range are refused as invalid input (422 on REST, an
``isError`` result on MCP) naming the field, never written: PostgreSQL answers a DataError
(500) for 2**31 in an "integer" column. The bound comes from StrictSerializer for every input
contract (rest_api.base.bound_to_column), so the JSON Schema and OpenAPI document carry it."""

import importlib

import pytest
from rest_framework import serializers

from core.serializers import COLUMN_INT_MAX, COLUMN_INT_MIN, StrictSerializer
from mcp_gateway.tools import TOOLS
from offers.models import Offer
from partners.models import Coupon
from tests.conftest import issue_key
from tests.factories import PartnerFactory
from tests.mcp_gateway.helpers import Mcp

TOO_BIG = [COLUMN_INT_MAX + 1, 2**63, 10**40]


def _all_input_serializers():
    for package in ("offers", "partners", "conversions", "brands", "audit", "mcp_gateway"):
        for module in ("serializers", "tools"):
            try:
                importlib.import_module(f"{package}.{module}")
            except ModuleNotFoundError:
                continue
    seen, stack = set(), [StrictSerializer]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                stack.append(sub)
    return sorted(seen, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def _integer_fields(field):
    if isinstance(field, serializers.ListField | serializers.DictField):
        yield from _integer_fields(field.child)
    elif isinstance(field, serializers.IntegerField):
        yield field


def test_every_integer_input_is_bounded_by_its_column():
    checked = 0
    for cls in _all_input_serializers():
        for name, field in cls().fields.items():
            for integer in _integer_fields(field):
                assert integer.max_value is not None and integer.max_value <= COLUMN_INT_MAX, (
                    cls,
                    name,
                )
                assert integer.min_value is not None and integer.min_value >= COLUMN_INT_MIN
                checked += 1
    assert checked >= 10  # caps, limits, days, grace seconds, max uses …


def test_every_integer_in_mcp_input_schemas_has_a_maximum():
    def walk(schema, where):
        kind = schema.get("type")
        kinds = kind if isinstance(kind, list) else [kind]
        if "integer" in kinds:
            assert schema.get("maximum", COLUMN_INT_MAX + 1) <= COLUMN_INT_MAX, where
            assert schema.get("minimum", COLUMN_INT_MIN - 1) >= COLUMN_INT_MIN, where
        for name, sub in schema.get("properties", {}).items():
            walk(sub, f"{where}.{name}")
        if isinstance(schema.get("items"), dict):
            walk(schema["items"], f"{where}[]")

    for tool in TOOLS:
        walk(tool.input_schema(), tool.name)


def test_openapi_document_bounds_the_caps(client):
    document = client.get("/api/v1/openapi.json").json()
    caps = document["components"]["schemas"]["SetCapArgumentsRequest"]["properties"]
    assert caps["daily"]["maximum"] == COLUMN_INT_MAX


@pytest.mark.django_db
@pytest.mark.parametrize("value", TOO_BIG)
@pytest.mark.parametrize("cap", ["daily", "weekly", "monthly"])
def test_rest_caps_beyond_the_column_are_422(api, offer, cap, value):
    response = api.post(f"/api/v1/offers/{offer.slug}/caps/", {cap: value}, format="json")
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert cap in error["fields"]
    offer.refresh_from_db()
    assert getattr(offer, f"{cap}_cap") is None


@pytest.mark.django_db
def test_rest_cap_at_the_column_maximum_is_stored(api, offer):
    response = api.post(
        f"/api/v1/offers/{offer.slug}/caps/", {"daily": COLUMN_INT_MAX}, format="json"
    )
    assert response.status_code == 200, response.content
    assert Offer.objects.get(pk=offer.pk).daily_cap == COLUMN_INT_MAX


@pytest.mark.django_db
@pytest.mark.parametrize("value", TOO_BIG)
def test_rest_coupon_max_uses_beyond_the_column_is_422(api, brand, value):
    PartnerFactory(brand=brand, slug="abc-123")
    response = api.post(
        "/api/v1/coupons/",
        {"partner_id": "abc-123", "code": "BIG1", "max_uses": value},
        format="json",
    )
    assert response.status_code == 422, response.content
    assert "max_uses" in response.json()["error"]["fields"]
    assert not Coupon.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["1e20", "99999999999999.99", "1" * 40])
def test_rest_amounts_beyond_max_digits_are_422(api, offer, value):
    response = api.patch(f"/api/v1/offers/{offer.slug}/", {"payout_amount": value}, format="json")
    assert response.status_code == 422, response.content
    assert "payout_amount" in response.json()["error"]["fields"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("tool", "arguments", "field"),
    [
        ("set_cap", {"offer_id": "spring-sale", "daily": 2**31}, "daily"),
        ("set_cap", {"offer_id": "spring-sale", "monthly": 10**30}, "monthly"),
        (
            "create_coupon",
            {"partner_id": "abc-123", "code": "BIG1", "max_uses": 2**40},
            "max_uses",
        ),
        ("list_offers", {"limit": 2**70}, "limit"),
    ],
)
def test_mcp_integers_beyond_the_column_are_tool_errors(brand, tool, arguments, field):
    from tests.factories import OfferFactory

    OfferFactory(brand=brand, slug="spring-sale")
    PartnerFactory(brand=brand, slug="abc-123")
    result = Mcp(issue_key(brand)).call(tool, arguments)
    assert result["isError"] is True, result
    assert field in result["content"][0]["text"]
    assert not Coupon.objects.exists()
    assert Offer.objects.get(slug="spring-sale").daily_cap is None
