from decimal import Decimal

import pytest

from audit.models import AuditEvent
from core.errors import (
    ConflictError,
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from offers.models import Offer, OfferStatus, PayoutRule
from offers.selectors import offer_get_for_actor, offer_list
from offers.services import (
    offer_archive,
    offer_create,
    offer_delete_payout_rule,
    offer_pause,
    offer_resume,
    offer_rotate_postback_secret,
    offer_set_caps,
    offer_set_payout_rule,
    offer_update,
)
from tests.conftest import issue_key, make_actor
from tests.factories import OfferFactory, PartnerFactory
from tests.mcp_gateway.helpers import Mcp, structured


def only_event(action):
    events = list(AuditEvent.objects.filter(action=action))
    assert len(events) == 1, f"expected exactly one {action} event, got {len(events)}"
    return events[0]


def test_offer_create_defaults_and_audit(actor, brand):
    offer = offer_create(
        actor=actor,
        name="Spring Sale!",
        destination_url="https://shop.example.com/?c={CLICK_ID}",
        payout_amount=Decimal("12.50"),
        geo_allow=["us", "de", "US"],
        device_allow=["Mobile"],
    )
    assert offer.slug == "spring-sale"
    assert offer.currency == brand.currency
    assert offer.status == OfferStatus.ACTIVE
    assert offer.geo_allow == ["DE", "US"]
    assert offer.device_allow == ["mobile"]
    assert AuditEvent.objects.count() == 1
    event = only_event("offer.create")
    assert (event.actor_label, event.channel, event.target_type, event.target_id) == (
        actor.label,
        "rest",
        "offer",
        "spring-sale",
    )
    assert (event.ip, event.user_agent, event.request_id) == (
        "203.0.113.9",
        "pytest",
        "req-test-0001",
    )
    assert event.changes["payout_amount"] == [None, "12.50"]
    assert "postback_secret" not in event.changes


def test_offer_create_derives_a_unique_slug(actor):
    first = offer_create(
        actor=actor, name="Deal", destination_url="https://a.example/", payout_amount=Decimal(1)
    )
    second = offer_create(
        actor=actor, name="Deal", destination_url="https://a.example/", payout_amount=Decimal(1)
    )
    assert (first.slug, second.slug) == ("deal", "deal-2")


def test_offer_create_explicit_duplicate_is_a_conflict_and_writes_nothing(actor, offer):
    with pytest.raises(ConflictError) as err:
        offer_create(
            actor=actor,
            name="x",
            offer_id=offer.slug,
            destination_url="https://a.example/",
            payout_amount=Decimal(1),
        )
    assert err.value.code == "offer_id_taken"
    assert Offer.objects.count() == 1
    assert AuditEvent.objects.count() == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"payout_type": "percent", "payout_amount": Decimal("120")},
        {"payout_amount": Decimal("-1")},
        {"destination_url": "javascript:alert(1)"},
        {"destination_url": "ftp://files.example/"},
        {"geo_allow": ["USA"]},
        {"device_allow": ["toaster"]},
        {"currency": "usd"},
    ],
)
def test_offer_create_rejects_invalid_input(actor, kwargs):
    args = {
        "name": "Bad",
        "destination_url": "https://a.example/",
        "payout_amount": Decimal(1),
        **kwargs,
    }
    with pytest.raises(ValidationError):
        offer_create(actor=actor, **args)
    assert not Offer.objects.exists()
    assert not AuditEvent.objects.exists()


def test_offer_update_records_only_changed_fields(actor, offer):
    offer_update(
        actor=actor,
        offer=offer,
        name="New name",
        payout_amount=offer.payout_amount,
        postback_url_template="https://adv.example/pb?c={CLICK_ID}",
    )
    event = only_event("offer.update")
    assert event.changes == {
        "name": [offer.name, "New name"],
        "postback_url_template": [None, "https://adv.example/pb?c={CLICK_ID}"],
    }
    offer_update(actor=actor, offer=offer, postback_url_template=None)
    assert Offer.objects.get(pk=offer.pk).postback_url_template is None


def test_offer_update_with_no_change_writes_no_event(actor, offer):
    offer_update(actor=actor, offer=offer, name=offer.name)
    assert not AuditEvent.objects.exists()


def test_offer_update_refuses_secret_and_status(actor, offer):
    with pytest.raises(ValidationError):
        offer_update(actor=actor, offer=offer, postback_secret="x")
    with pytest.raises(ValidationError):
        offer_update(actor=actor, offer=offer, status="paused")


def test_offer_lifecycle_transitions(actor, offer):
    offer_pause(actor=actor, offer=offer)
    offer_pause(actor=actor, offer=offer)  # idempotent, no second event
    assert only_event("offer.pause").changes == {"status": ["active", "paused"]}
    offer_resume(actor=actor, offer=offer)
    assert only_event("offer.resume").changes == {"status": ["paused", "active"]}
    offer_archive(actor=actor, offer=offer)
    with pytest.raises(InvalidTransitionError):
        offer_resume(actor=actor, offer=offer)
    with pytest.raises(InvalidTransitionError):
        offer_update(actor=actor, offer=offer, name="zombie")
    assert Offer.objects.get(pk=offer.pk).status == OfferStatus.ARCHIVED


def test_offer_set_caps(actor, offer):
    offer_set_caps(actor=actor, offer=offer, daily=10, weekly=None, monthly=100, mode="hard")
    event = only_event("offer.set_caps")
    assert event.changes == {
        "daily_cap": [None, 10],
        "monthly_cap": [None, 100],
        "cap_mode": ["soft", "hard"],
    }
    with pytest.raises(ValidationError):
        offer_set_caps(actor=actor, offer=offer, daily=-1, weekly=None, monthly=None)
    with pytest.raises(ValidationError):
        offer_set_caps(actor=actor, offer=offer, daily=1, weekly=None, monthly=None, mode="squishy")


def test_set_caps_changes_only_the_caps_given(actor, offer):
    offer_set_caps(actor=actor, offer=offer, daily=10, weekly=50, monthly=100)
    offer_set_caps(actor=actor, offer=offer, daily=250)  # weekly and monthly left out: kept
    offer.refresh_from_db()
    assert (offer.daily_cap, offer.weekly_cap, offer.monthly_cap) == (250, 50, 100)
    offer_set_caps(actor=actor, offer=offer, weekly=None)  # an explicit None clears one
    offer.refresh_from_db()
    assert (offer.daily_cap, offer.weekly_cap, offer.monthly_cap) == (250, None, 100)


def test_set_cap_tool_keeps_the_caps_it_is_not_given(offer):
    mcp = Mcp(issue_key(offer.brand))
    structured(
        mcp.call("set_cap", {"offer_id": offer.slug, "daily": 10, "weekly": 50, "monthly": 100})
    )
    answer = structured(mcp.call("set_cap", {"offer_id": offer.slug, "daily": 250}))
    assert (answer["caps"]["daily"], answer["caps"]["weekly"], answer["caps"]["monthly"]) == (
        250,
        50,
        100,
    )
    assert answer["changes"][0]["changes"] == {"daily_cap": [10, 250]}
    cleared = structured(mcp.call("set_cap", {"offer_id": offer.slug, "monthly": None}))
    assert cleared["caps"]["monthly"] is None
    assert cleared["caps"]["weekly"] == 50


def test_payout_rules_upsert_per_partner_event_and_pair(actor, offer, partner):
    offer_set_payout_rule(
        actor=actor,
        offer=offer,
        partner=partner,
        payout_type="percent",
        payout_amount=Decimal("15"),
    )
    offer_set_payout_rule(
        actor=actor,
        offer=offer,
        event_type="signup",
        payout_type="flat",
        payout_amount=Decimal("2"),
    )
    offer_set_payout_rule(
        actor=actor,
        offer=offer,
        partner=partner,
        event_type="signup",
        payout_type="flat",
        payout_amount=Decimal("3"),
    )
    # same target again replaces, not duplicates
    offer_set_payout_rule(
        actor=actor,
        offer=offer,
        partner=partner,
        payout_type="percent",
        payout_amount=Decimal("12"),
    )
    assert PayoutRule.objects.filter(offer=offer).count() == 3
    assert PayoutRule.objects.get(
        offer=offer, partner=partner, event_type=""
    ).payout_amount == Decimal("12")
    assert AuditEvent.objects.filter(action="offer.set_payout_rule").count() == 4
    rule = PayoutRule.objects.get(offer=offer, partner=None)
    offer_delete_payout_rule(actor=actor, rule=rule)
    assert only_event("offer.delete_payout_rule").changes["rule"][0]["event_type"] == "signup"


def test_payout_rule_needs_a_target_and_a_same_brand_partner(actor, offer, other_brand):
    with pytest.raises(ValidationError):
        offer_set_payout_rule(
            actor=actor, offer=offer, payout_type="flat", payout_amount=Decimal(1)
        )
    foreign = PartnerFactory(brand=other_brand)
    with pytest.raises(NotFoundError):
        offer_set_payout_rule(
            actor=actor, offer=offer, partner=foreign, payout_type="flat", payout_amount=Decimal(1)
        )
    assert not PayoutRule.objects.exists()


def test_rotate_postback_secret_returns_it_once_and_never_audits_it(actor, offer, settings):
    settings.TRCKER_POSTBACK_SECRET_GRACE_SECONDS = 0
    offer, first = offer_rotate_postback_secret(actor=actor, offer=offer)
    offer, second = offer_rotate_postback_secret(actor=actor, offer=offer, grace_seconds=3600)
    assert first != second
    assert second.startswith("whsec_")
    assert len(second) >= 40
    stored = Offer.objects.get(pk=offer.pk)
    assert stored.postback_secret == second
    assert stored.previous_postback_secret == first
    assert stored.previous_secret_valid_until is not None
    dump = str(list(AuditEvent.objects.values()))
    assert first not in dump
    assert second not in dump
    assert AuditEvent.objects.filter(action="offer.rotate_postback_secret").count() == 2


def test_every_offer_write_needs_write_scope(read_actor, offer, partner):
    calls = [
        lambda: offer_create(
            actor=read_actor,
            name="x",
            destination_url="https://a.example/",
            payout_amount=Decimal(1),
        ),
        lambda: offer_update(actor=read_actor, offer=offer, name="x"),
        lambda: offer_pause(actor=read_actor, offer=offer),
        lambda: offer_archive(actor=read_actor, offer=offer),
        lambda: offer_set_caps(actor=read_actor, offer=offer, daily=1, weekly=None, monthly=None),
        lambda: offer_set_payout_rule(
            actor=read_actor,
            offer=offer,
            partner=partner,
            payout_type="flat",
            payout_amount=Decimal(1),
        ),
        lambda: offer_rotate_postback_secret(actor=read_actor, offer=offer),
    ]
    for call in calls:
        with pytest.raises(PermissionDeniedError):
            call()
    assert not AuditEvent.objects.exists()


def test_writes_on_another_brands_offer_are_not_found(actor, other_brand):
    foreign = OfferFactory(brand=other_brand)
    with pytest.raises(NotFoundError):
        offer_pause(actor=actor, offer=foreign)
    with pytest.raises(NotFoundError):
        offer_update(actor=actor, offer=foreign, name="hijack")
    assert Offer.objects.get(pk=foreign.pk).status == OfferStatus.ACTIVE


def test_selectors_are_scoped_to_the_actors_brand(actor, offer, other_brand):
    foreign = OfferFactory(brand=other_brand, slug="foreign")
    OfferFactory(brand=other_brand, slug=offer.slug)  # same slug, other brand
    assert list(offer_list(actor=actor)) == [offer]
    assert offer_get_for_actor(actor=actor, offer_id=offer.slug) == offer
    with pytest.raises(NotFoundError) as missing:
        offer_get_for_actor(actor=actor, offer_id="does-not-exist")
    with pytest.raises(NotFoundError) as foreign_err:
        offer_get_for_actor(actor=actor, offer_id=foreign.slug)
    # identical wording for "missing" and "someone else's", apart from the id itself
    assert missing.value.message.replace(
        "does-not-exist", "X"
    ) == foreign_err.value.message.replace("foreign", "X")
    assert (
        list(
            offer_list(actor=make_actor(other_brand), status="active").values_list(
                "slug", flat=True
            )
        )
        != []
    )
    assert list(offer_list(actor=actor, status="paused")) == []


def test_allowed_partners_make_an_offer_private(actor, offer, partner, brand):
    from offers.services import offer_set_allowed_partners

    second = PartnerFactory(brand=brand, slug="second")
    offer_set_allowed_partners(actor=actor, offer=offer, partners=[partner, second])
    stored = Offer.objects.get(pk=offer.pk)
    assert stored.is_private is True
    assert set(stored.allowed_partners.values_list("slug", flat=True)) == {partner.slug, "second"}
    assert only_event("offer.set_allowed_partners").changes == {
        "allowed_partner_ids": [[], sorted([partner.slug, "second"])],
        "is_private": [False, True],
    }
    offer_set_allowed_partners(
        actor=actor, offer=offer, partners=[partner, second]
    )  # no change, no event
    assert AuditEvent.objects.filter(action="offer.set_allowed_partners").count() == 1


def test_archived_offers_refuse_caps_and_rules(actor, offer, partner):
    offer_archive(actor=actor, offer=offer)
    with pytest.raises(InvalidTransitionError):
        offer_set_caps(actor=actor, offer=offer, daily=1, weekly=None, monthly=None)
    with pytest.raises(InvalidTransitionError):
        offer_set_payout_rule(
            actor=actor, offer=offer, partner=partner, payout_type="flat", payout_amount=Decimal(1)
        )


def test_payout_rule_revenue_is_validated(actor, offer, partner):
    with pytest.raises(ValidationError):
        offer_set_payout_rule(
            actor=actor,
            offer=offer,
            partner=partner,
            payout_type="flat",
            payout_amount=Decimal(1),
            revenue_type="percent",
            revenue_amount=Decimal(150),
        )
    with pytest.raises(ValidationError):
        offer_set_payout_rule(
            actor=actor,
            offer=offer,
            partner=partner,
            payout_type="flat",
            payout_amount=Decimal(1),
            revenue_type="bogus",
            revenue_amount=Decimal(1),
        )


def test_offer_currency_is_frozen_once_the_offer_has_traffic(actor, brand, offer, partner):
    from conversions.models import DailyRollup
    from tests.conversions.factories_flow import accepted_click

    offer_update(actor=actor, offer=offer, currency="EUR")  # no traffic yet: allowed
    assert Offer.objects.get(pk=offer.pk).currency == "EUR"
    accepted_click(brand, offer, partner)
    with pytest.raises(ValidationError) as refused:
        offer_update(actor=actor, offer=offer, currency="GBP", name="Renamed")
    assert refused.value.code == "currency_locked"
    assert refused.value.message == (
        "This offer already has clicks or conversions in EUR; "
        "create a new offer for another currency."
    )
    assert refused.value.fields == {"currency": [refused.value.message]}
    assert Offer.objects.filter(pk=offer.pk).values_list("currency", "name").get() == (
        "EUR",
        offer.name,
    )
    assert AuditEvent.objects.filter(action="offer.update").count() == 1
    # Giving the same currency with another change is not a change of currency.
    offer_update(actor=actor, offer=offer, currency="EUR", name="Renamed")
    # Clicks pruned, rollups kept: still traffic.
    pruned = OfferFactory(brand=brand, slug="pruned")
    DailyRollup.objects.create(
        brand=brand, day="2026-01-05", offer=pruned, partner=partner, currency="USD", clicks=4
    )
    with pytest.raises(ValidationError, match="in USD"):
        offer_update(actor=actor, offer=pruned, currency="EUR")
