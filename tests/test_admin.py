"""The Django admin: brand scoping of every changelist and change page, role-based
permissions, and every write going through a service (audited as ``user:<id>`` on channel
admin), with domain errors shown to the user instead of 500s."""

from __future__ import annotations

import hashlib
import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.admin.sites import site as admin_site
from django.contrib.admin.utils import quote
from django.db import connection
from django.db.models import Model
from django.forms import CheckboxInput
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.actor import Actor
from audit.models import AuditEvent
from brands.fx_services import fx_rate_set
from brands.keys import KEY_PATTERN
from brands.models import ApiKey, ApiKeyScope, Brand, FraudMode, FxRate, StaffMembership, StaffRole
from brands.services import api_key_create
from conversions.models import (
    Click,
    ClickOutcome,
    Conversion,
    Payout,
    PostbackAttempt,
    PostbackDelivery,
)
from core.errors import ValidationError as DomainValidationError
from offers.models import CapPeriod, Offer, OfferCapCounter, OfferStatus, PayoutRule
from offers.services import offer_archive, offer_set_payout_rule
from partners.models import Coupon, CouponStatus, Partner, PartnerStatus
from partners.services import partner_create
from tests.factories import (
    BrandFactory,
    CouponFactory,
    OfferFactory,
    PartnerFactory,
    StaffMembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

UA = "pytest-admin/1.0"


# --- helpers ---------------------------------------------------------------------------------


def admin_url(model: type[Model], view: str, *args: Any) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def change_url(obj: Model) -> str:
    return admin_url(type(obj), "change", quote(obj.pk))


def member(brand: Brand, role: str = StaffRole.OWNER) -> Any:
    return StaffMembershipFactory(brand=brand, role=role).user


def logged_in(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def system_actor(brand: Brand) -> Actor:
    return Actor.system(brand_id=brand.pk, brand_slug=brand.slug, name="tests")


def form_data(response: Any) -> dict[str, Any]:
    """What a browser would submit for the admin form rendered in ``response``, unchanged."""
    form = response.context["adminform"].form
    data: dict[str, Any] = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field.widget, CheckboxInput):
            if value:
                data[name] = "on"
        elif value is None:
            data[name] = ""
        elif isinstance(value, list | tuple):
            data[name] = [str(item) for item in value]
        else:
            data[name] = str(value)
    return data


def run_action(client: Client, model: type[Model], action: str, *objs: Model) -> Any:
    return client.post(
        admin_url(model, "changelist"),
        {"action": action, "index": "0", "_selected_action": [str(obj.pk) for obj in objs]},
        follow=True,
        HTTP_USER_AGENT=UA,
    )


def seed(brand: Brand, tag: str) -> dict[type[Model], Model]:
    """One row of every admin-registered model for ``brand``; ``tag`` appears in what each
    changelist row displays (a slug, a label or the brand)."""
    actor = system_actor(brand)
    offer = OfferFactory(brand=brand, slug=f"{tag}-offer")
    partner = PartnerFactory(brand=brand, slug=f"{tag}-partner")
    coupon = CouponFactory(brand=brand, partner=partner, code=f"{tag.upper()}10")
    rule = offer_set_payout_rule(
        actor=actor, offer=offer, partner=partner, payout_type="flat", payout_amount=Decimal("3")
    )
    partner_create(actor=actor, name=f"{tag} audited", partner_id=f"{tag}-audited")
    key, _ = api_key_create(actor=actor, label=f"{tag}-key")
    now = timezone.now()
    click = Click.objects.create(
        brand=brand, offer=offer, partner=partner, created_at=now, outcome=ClickOutcome.ACCEPTED
    )
    conversion = Conversion.objects.create(
        brand=brand,
        offer=offer,
        partner=partner,
        click=click,
        txn_id=f"{tag}-txn",
        currency="USD",
        created_at=now,
    )
    return {
        Brand: brand,
        StaffMembership: StaffMembershipFactory(brand=brand, role=StaffRole.ANALYST),
        ApiKey: key,
        Offer: offer,
        PayoutRule: rule,
        OfferCapCounter: OfferCapCounter.objects.create(
            offer=offer, period=CapPeriod.DAY, period_start=date(2025, 1, 1), count=1
        ),
        Partner: partner,
        Coupon: coupon,
        Click: click,
        Conversion: conversion,
        Payout: Payout.objects.create(
            brand=brand,
            partner=partner,
            currency="USD",
            amount=Decimal("12.50"),
            period_end=date(2025, 1, 31),
        ),
        PostbackDelivery: PostbackDelivery.objects.create(
            brand=brand, conversion=conversion, url="https://partner.example/pb?c=1"
        ),
        PostbackAttempt: PostbackAttempt.objects.create(
            brand=brand,
            offer_slug=f"{tag}-offer",
            outcome="unknown_click",
            http_status=422,
            method="GET",
            txn_id=f"{tag}-refused-txn",
        ),
        FxRate: fx_rate_set(
            actor=actor, base="GBP", quote="USD", day=date(2025, 1, 1), rate=Decimal("1.27")
        ),
        AuditEvent: AuditEvent.objects.filter(brand=brand).latest("id"),
    }


ALL_MODELS = [
    Brand,
    StaffMembership,
    ApiKey,
    Offer,
    PayoutRule,
    OfferCapCounter,
    Partner,
    Coupon,
    Click,
    Conversion,
    Payout,
    PostbackDelivery,
    PostbackAttempt,
    FxRate,
    AuditEvent,
]


@pytest.fixture
def two_brands(brand: Brand, other_brand: Brand) -> tuple[dict, dict]:
    return seed(brand, "acme"), seed(other_brand, "globex")


@pytest.fixture
def owner(brand: Brand) -> Any:
    return member(brand, StaffRole.OWNER)


@pytest.fixture
def analyst(brand: Brand) -> Any:
    return member(brand, StaffRole.ANALYST)


# --- 1. tenant isolation ---------------------------------------------------------------------


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m._meta.model_name)
def test_changelists_show_only_the_staff_members_brand(
    client: Client, two_brands: tuple[dict, dict], owner: Any, model: type[Model]
) -> None:
    # Given an owner of acme, and rows of every model in acme and in globex
    logged_in(client, owner)

    # When they open the model's changelist
    response = client.get(admin_url(model, "changelist"))

    # Then acme's rows are listed and nothing of globex appears anywhere on the page
    assert response.status_code == 200
    html = response.content.decode()
    assert "globex" not in html
    assert "acme" in html
    own_rows = response.context["cl"].queryset
    assert own_rows.exists()
    brand_path = admin_site.get_model_admin(model).brand_path
    assert set(own_rows.values_list(brand_path, flat=True)) == {two_brands[0][Brand].pk}


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m._meta.model_name)
def test_another_brands_row_cannot_be_opened_by_url(
    client: Client, two_brands: tuple[dict, dict], owner: Any, model: type[Model]
) -> None:
    logged_in(client, owner)
    foreign = two_brands[1][model]

    response = client.get(change_url(foreign))

    # Django's answer for a row outside get_queryset(): back to the index, "doesn't exist"
    assert response.status_code in (302, 404)
    followed = client.get(change_url(foreign), follow=True)
    assert followed.redirect_chain[-1][0] == reverse("admin:index")
    assert "globex" not in followed.content.decode()


def test_another_brands_offer_cannot_be_posted_to(
    client: Client, brand: Brand, other_brand: Brand, owner: Any
) -> None:
    foreign = OfferFactory(brand=other_brand, slug="globex-offer", name="Globex secret offer")
    logged_in(client, owner)

    response = client.post(change_url(foreign), {"name": "hijacked"}, follow=True)

    assert "Globex secret offer" not in response.content.decode()
    foreign.refresh_from_db()
    assert foreign.name == "Globex secret offer"
    assert not AuditEvent.objects.filter(brand=other_brand).exists()


def test_staff_without_membership_sees_nothing(
    client: Client, two_brands: tuple[dict, dict]
) -> None:
    logged_in(client, UserFactory())

    index = client.get(reverse("admin:index"))

    assert index.status_code == 200
    assert index.context["app_list"] == []
    for model in (Offer, Partner, AuditEvent):
        assert client.get(admin_url(model, "changelist")).status_code == 403


def test_superuser_sees_every_brand(client: Client, two_brands: tuple[dict, dict]) -> None:
    logged_in(client, UserFactory(is_superuser=True))

    html = client.get(admin_url(Offer, "changelist")).content.decode()

    assert "acme-offer" in html
    assert "globex-offer" in html


def test_form_choices_are_limited_to_writable_brands(
    client: Client, brand: Brand, other_brand: Brand, owner: Any
) -> None:
    # Given an owner of acme who is only an analyst of initech, and partners in all three
    initech = BrandFactory(slug="initech")
    StaffMembershipFactory(user=owner, brand=initech, role=StaffRole.ANALYST)
    for tagged_brand, tag in ((brand, "acme"), (other_brand, "globex"), (initech, "initech")):
        OfferFactory(brand=tagged_brand, slug=f"{tag}-offer")
        PartnerFactory(brand=tagged_brand, slug=f"{tag}-partner")
    logged_in(client, owner)

    coupon_form = client.get(admin_url(Coupon, "add"))
    offer_form = client.get(admin_url(Offer, "add"))

    coupon_html = coupon_form.content.decode()
    assert "acme-partner" in coupon_html
    assert "acme-offer" in coupon_html
    for absent in ("globex", "initech"):
        assert absent not in coupon_html
    brand_choices = offer_form.context["adminform"].form.fields["brand"].queryset
    assert list(brand_choices) == [brand]
    # The one writable brand is preselected.
    assert offer_form.context["adminform"].form.initial["brand"] == brand.pk


def test_a_coupon_cannot_be_issued_for_another_brands_partner(
    client: Client, brand: Brand, other_brand: Brand, owner: Any
) -> None:
    foreign_partner = PartnerFactory(brand=other_brand, slug="globex-partner")
    logged_in(client, owner)

    response = client.post(
        admin_url(Coupon, "add"), {"partner": foreign_partner.pk, "code": "STEAL10"}
    )

    assert response.status_code == 200
    assert "partner" in response.context["adminform"].form.errors
    assert not Coupon.objects.exists()
    assert not AuditEvent.objects.exists()


# --- 2. analysts are read-only ---------------------------------------------------------------


def test_analyst_can_view_but_not_change_an_offer(
    client: Client, brand: Brand, analyst: Any
) -> None:
    offer = OfferFactory(brand=brand, slug="spring-sale", name="Spring sale")
    logged_in(client, analyst)

    page = client.get(change_url(offer))
    refused = client.post(change_url(offer), {"name": "Renamed by analyst"})

    assert page.status_code == 200
    assert "Spring sale" in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
    assert refused.status_code == 403
    offer.refresh_from_db()
    assert offer.name == "Spring sale"
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    "model",
    [Offer, Partner, Coupon, ApiKey, PayoutRule, StaffMembership],
    ids=lambda m: m._meta.model_name,
)
def test_analyst_cannot_open_add_pages(client: Client, analyst: Any, model: type[Model]) -> None:
    logged_in(client, analyst)

    assert client.get(admin_url(model, "add")).status_code == 403
    assert client.post(admin_url(model, "add"), {}).status_code == 403


def test_analyst_gets_no_actions_and_cannot_post_one(
    client: Client, brand: Brand, analyst: Any
) -> None:
    offer = OfferFactory(brand=brand)
    logged_in(client, analyst)

    changelist = client.get(admin_url(Offer, "changelist"))
    run_action(client, Offer, "pause_offers", offer)

    assert 'name="action"' not in changelist.content.decode()
    offer.refresh_from_db()
    assert offer.status == OfferStatus.ACTIVE
    assert not AuditEvent.objects.exists()


def test_analyst_of_one_brand_may_still_write_in_a_brand_they_own(
    client: Client, brand: Brand, other_brand: Brand, analyst: Any
) -> None:
    StaffMembershipFactory(user=analyst, brand=other_brand, role=StaffRole.ADMIN)
    read_only_offer = OfferFactory(brand=brand)
    own_offer = OfferFactory(brand=other_brand)
    logged_in(client, analyst)

    run_action(client, Offer, "pause_offers", read_only_offer, own_offer)
    refused = client.post(change_url(read_only_offer), {"name": "nope"})

    read_only_offer.refresh_from_db()
    own_offer.refresh_from_db()
    assert read_only_offer.status == OfferStatus.ACTIVE
    assert own_offer.status == OfferStatus.PAUSED
    assert refused.status_code == 403


# --- 3./4. writes go through services and are audited ----------------------------------------


def test_owner_editing_an_offer_name_writes_one_audit_event(
    client: Client, brand: Brand, owner: Any
) -> None:
    offer = OfferFactory(brand=brand, slug="spring-sale", name="Spring sale")
    logged_in(client, owner)
    data = form_data(client.get(change_url(offer)))
    data["name"] = "Summer sale"

    response = client.post(change_url(offer), data, HTTP_USER_AGENT=UA)

    assert response.status_code == 302, response.context["adminform"].form.errors
    offer.refresh_from_db()
    assert offer.name == "Summer sale"
    event = AuditEvent.objects.get()
    assert event.action == "offer.update"
    assert event.actor_kind == "user"
    assert event.actor_label == f"user:{owner.pk}"
    assert event.channel == "admin"
    assert event.changes == {"name": ["Spring sale", "Summer sale"]}
    assert event.target_id == "spring-sale"
    assert event.ip == "127.0.0.1"
    assert event.user_agent == UA
    assert event.request_id


def test_offer_caps_are_set_through_offer_set_caps(
    client: Client, brand: Brand, owner: Any
) -> None:
    offer = OfferFactory(brand=brand)
    logged_in(client, owner)
    data = form_data(client.get(change_url(offer)))
    data.update({"daily_cap": "100", "cap_mode": "hard"})

    client.post(change_url(offer), data)

    offer.refresh_from_db()
    assert (offer.daily_cap, offer.cap_mode) == (100, "hard")
    event = AuditEvent.objects.get()
    assert event.action == "offer.set_caps"
    assert event.changes == {"daily_cap": [None, 100], "cap_mode": ["soft", "hard"]}


def test_offer_window_and_hold_are_set_through_offer_update(
    client: Client, brand: Brand, owner: Any
) -> None:
    offer = OfferFactory(brand=brand)
    logged_in(client, owner)
    data = form_data(client.get(change_url(offer)))
    data.update({"attribution_window_days": "45", "hold_days": "14"})

    client.post(change_url(offer), data)

    offer.refresh_from_db()
    assert (offer.attribution_window_days, offer.hold_days) == (45, 14)
    event = AuditEvent.objects.get()
    assert event.action == "offer.update"
    assert event.changes == {"attribution_window_days": [30, 45], "hold_days": [None, 14]}
    # Out of range: the form says so and nothing is saved.
    data.update({"attribution_window_days": "0", "hold_days": "366"})
    response = client.post(change_url(offer), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"attribution_window_days", "hold_days"} <= set(errors)
    assert AuditEvent.objects.count() == 1


def test_brand_default_hold_is_set_through_the_program_settings_write(
    client: Client, brand: Brand, owner: Any
) -> None:
    logged_in(client, owner)
    data = form_data(client.get(change_url(brand)))
    data.update({"default_hold_days": "30"})

    client.post(change_url(brand), data)

    brand.refresh_from_db()
    assert brand.default_hold_days == 30
    event = AuditEvent.objects.get()
    assert (event.action, event.changes) == (
        "brand.program_settings",
        {"default_hold_days": [None, 30]},
    )


def test_offer_add_goes_through_offer_create(client: Client, brand: Brand, owner: Any) -> None:
    logged_in(client, owner)

    response = client.post(
        admin_url(Offer, "add"),
        {
            "brand": brand.pk,
            "slug": "",
            "name": "Black Friday",
            "destination_url": "https://shop.example.com/bf",
            "payout_type": "flat",
            "payout_amount": "7.50",
            "revenue_type": "flat",
            "revenue_amount": "0",
            "geo_allow": "us, de",
            "device_allow": ["mobile"],
            "cap_mode": "soft",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    offer = Offer.objects.get()
    assert offer.slug == "black-friday"
    assert offer.currency == brand.currency
    assert offer.geo_allow == ["DE", "US"]
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_label) == ("offer.create", f"user:{owner.pk}")


def test_pause_action_changes_status_and_writes_one_audit_event(
    client: Client, brand: Brand, owner: Any
) -> None:
    offer = OfferFactory(brand=brand, slug="spring-sale")
    logged_in(client, owner)

    response = run_action(client, Offer, "pause_offers", offer)

    assert response.status_code == 200
    offer.refresh_from_db()
    assert offer.status == OfferStatus.PAUSED
    event = AuditEvent.objects.get()
    assert event.action == "offer.pause"
    assert event.actor_label == f"user:{owner.pk}"
    assert event.channel == "admin"
    assert event.changes == {"status": ["active", "paused"]}
    assert "Paused 1 offer(s)." in response.content.decode()


def test_an_invalid_transition_in_an_action_is_a_message_not_a_500(
    client: Client, brand: Brand, owner: Any
) -> None:
    offer = OfferFactory(brand=brand, slug="spring-sale")
    offer_archive(actor=system_actor(brand), offer=offer)
    logged_in(client, owner)

    response = run_action(client, Offer, "resume_offers", offer)

    assert response.status_code == 200
    assert "Cannot resume offer" in response.content.decode()
    offer.refresh_from_db()
    assert offer.status == OfferStatus.ARCHIVED
    assert AuditEvent.objects.filter(action="offer.resume").count() == 0


def test_archived_offers_are_view_only(client: Client, brand: Brand, owner: Any) -> None:
    offer = OfferFactory(brand=brand, name="Old offer")
    offer_archive(actor=system_actor(brand), offer=offer)
    logged_in(client, owner)

    page = client.get(change_url(offer))
    refused = client.post(change_url(offer), {"name": "Revived"})

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert refused.status_code == 403


def test_rotate_postback_secret_shows_the_secret_once_and_never_again(
    client: Client, brand: Brand, owner: Any
) -> None:
    offer = OfferFactory(brand=brand, slug="spring-sale")
    logged_in(client, owner)

    response = run_action(client, Offer, "rotate_postback_secrets", offer)

    offer.refresh_from_db()
    assert offer.postback_secret.startswith("whsec_")
    assert offer.postback_secret in response.content.decode()
    for page in (client.get(change_url(offer)), client.get(admin_url(Offer, "changelist"))):
        assert offer.postback_secret not in page.content.decode()
    event = AuditEvent.objects.get()
    assert event.action == "offer.rotate_postback_secret"
    assert offer.postback_secret not in str(event.changes)


def test_offer_form_never_carries_the_postback_secret(
    client: Client, brand: Brand, owner: Any
) -> None:
    offer = OfferFactory(brand=brand, postback_secret="whsec_do-not-show-me")
    logged_in(client, owner)

    page = client.get(change_url(offer))

    assert "whsec_do-not-show-me" not in page.content.decode()
    form_fields = set(page.context["adminform"].form.fields)
    assert not form_fields & {"postback_secret", "previous_postback_secret", "status"}


def test_partner_add_and_approve_go_through_services(
    client: Client, brand: Brand, owner: Any
) -> None:
    logged_in(client, owner)

    response = client.post(
        admin_url(Partner, "add"),
        {
            "brand": brand.pk,
            "slug": "",
            "name": "Deal Hunters",
            "email": "",
            "website": "",
            "initial_status": "pending",
        },
    )
    partner = Partner.objects.get()
    approved = run_action(client, Partner, "approve_partners", partner)

    assert response.status_code == 302
    partner.refresh_from_db()
    assert partner.status == PartnerStatus.ACTIVE
    assert approved.status_code == 200
    assert list(AuditEvent.objects.order_by("id").values_list("action", "actor_label")) == [
        ("partner.create", f"user:{owner.pk}"),
        ("partner.approve", f"user:{owner.pk}"),
    ]


def test_coupon_add_and_disable_go_through_services(
    client: Client, brand: Brand, owner: Any
) -> None:
    partner = PartnerFactory(brand=brand)
    logged_in(client, owner)

    client.post(admin_url(Coupon, "add"), {"partner": partner.pk, "code": "SPRING10", "offer": ""})
    coupon = Coupon.objects.get()
    run_action(client, Coupon, "disable_coupons", coupon)

    coupon.refresh_from_db()
    assert coupon.status == CouponStatus.DISABLED
    assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == [
        "coupon.create",
        "coupon.disable",
    ]


def test_payout_rules_are_set_and_deleted_through_services(
    client: Client, brand: Brand, owner: Any
) -> None:
    offer = OfferFactory(brand=brand)
    logged_in(client, owner)

    client.post(
        admin_url(PayoutRule, "add"),
        {
            "offer": offer.pk,
            "partner": "",
            "event_type": "signup",
            "payout_type": "flat",
            "payout_amount": "2.00",
            "revenue_type": "",
            "revenue_amount": "",
        },
    )
    rule = PayoutRule.objects.get()
    client.post(admin_url(PayoutRule, "delete", rule.pk), {"post": "yes"})

    assert not PayoutRule.objects.exists()
    assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == [
        "offer.set_payout_rule",
        "offer.delete_payout_rule",
    ]


def test_domain_models_cannot_be_deleted(client: Client, brand: Brand, owner: Any) -> None:
    offer = OfferFactory(brand=brand)
    partner = PartnerFactory(brand=brand)
    logged_in(client, owner)

    for obj in (offer, partner, brand):
        assert (
            client.post(admin_url(type(obj), "delete", obj.pk), {"post": "yes"}).status_code == 403
        )
    assert Offer.objects.filter(pk=offer.pk).exists()
    assert Partner.objects.filter(pk=partner.pk).exists()


# --- brands, staff and keys ------------------------------------------------------------------


def test_only_superusers_add_brands_via_brand_create(client: Client, owner: Any) -> None:
    logged_in(client, owner)
    assert client.get(admin_url(Brand, "add")).status_code == 403

    superuser = UserFactory(is_superuser=True)
    logged_in(client, superuser)
    response = client.post(
        admin_url(Brand, "add"),
        {"slug": "initech", "name": "Initech", "timezone": "Europe/Berlin", "currency": "EUR"},
    )

    assert response.status_code == 302
    created = Brand.objects.get(slug="initech")
    event = AuditEvent.objects.get(brand=created)
    assert (event.action, event.actor_label, event.channel) == (
        "brand.create",
        f"user:{superuser.pk}",
        "admin",
    )


def test_owner_changes_brand_settings_and_fraud_settings(
    client: Client, brand: Brand, owner: Any
) -> None:
    logged_in(client, owner)
    data = form_data(client.get(change_url(brand)))
    data.update({"name": "Acme Corp", "fraud_mode": FraudMode.BLOCK, "fraud_threshold": "80"})

    response = client.post(change_url(brand), data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    brand.refresh_from_db()
    assert (brand.name, brand.fraud_mode, brand.fraud_threshold) == ("Acme Corp", "block", 80)
    events = {e.action: e.changes for e in AuditEvent.objects.all()}
    assert events == {
        "brand.update": {"name": [f"Brand {brand.slug}", "Acme Corp"]},
        "brand.fraud_settings": {"fraud_mode": ["monitor", "block"], "fraud_threshold": [70, 80]},
    }


def test_an_invalid_brand_setting_writes_nothing(client: Client, brand: Brand, owner: Any) -> None:
    # brand_update succeeds but the time zone is refused: neither half may be saved.
    logged_in(client, owner)
    data = form_data(client.get(change_url(brand)))
    data.update({"name": "Acme Corp", "timezone": "Mars/Olympus_Mons"})

    response = client.post(change_url(brand), data)

    assert response.status_code == 200
    assert "timezone" in response.context["adminform"].form.errors
    brand.refresh_from_db()
    assert brand.name == f"Brand {brand.slug}"
    assert not AuditEvent.objects.exists()
    assert not LogEntry.objects.exists()


def test_owner_manages_memberships_through_services(
    client: Client, brand: Brand, owner: Any
) -> None:
    newcomer = UserFactory(username="newcomer")
    logged_in(client, owner)

    client.post(
        admin_url(StaffMembership, "add"),
        {"brand": brand.pk, "username": "newcomer", "role": StaffRole.ANALYST},
    )
    membership = StaffMembership.objects.get(user=newcomer)
    client.post(admin_url(StaffMembership, "delete", membership.pk), {"post": "yes"})

    assert not StaffMembership.objects.filter(user=newcomer).exists()
    assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == [
        "staff.set_role",
        "staff.remove",
    ]


def test_creating_an_api_key_shows_the_plaintext_once_and_stores_only_the_hash(
    client: Client, brand: Brand, owner: Any
) -> None:
    logged_in(client, owner)

    response = client.post(
        admin_url(ApiKey, "add"),
        {"brand": brand.pk, "label": "Shop backend", "scope": ApiKeyScope.READ},
        follow=True,
    )

    # The plaintext is in the messages of the page after the redirect...
    messages = [str(message) for message in response.context["messages"]]
    shown = [m for m in messages if "Copy it now; it won't be shown again" in m]
    assert len(shown) == 1
    plaintext = re.search(r"trk_[A-Za-z0-9_]+", shown[0]).group(0)
    match = KEY_PATTERN.match(plaintext)
    assert match
    prefix, secret = match.group(1), match.group(2)
    # ...the database holds only its hash...
    key = ApiKey.objects.get()
    assert (key.prefix, key.label, key.scope, key.created_by) == (
        prefix,
        "Shop backend",
        "read",
        owner,
    )
    assert key.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    for field in ApiKey._meta.concrete_fields:
        stored = str(field.value_from_object(key))
        assert plaintext not in stored
        assert secret not in stored
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_label) == ("api_key.create", f"user:{owner.pk}")
    assert secret not in str(event.changes)
    # ...and neither the plaintext nor the hash is shown again.
    for page in (client.get(admin_url(ApiKey, "changelist")), client.get(change_url(key))):
        html = page.content.decode()
        assert secret not in html
        assert key.secret_sha256 not in html


def test_api_keys_are_revoked_by_action_and_never_edited(
    client: Client, brand: Brand, owner: Any
) -> None:
    key, _ = api_key_create(actor=system_actor(brand), label="old")
    logged_in(client, owner)

    refused = client.post(change_url(key), {"label": "renamed"})
    run_action(client, ApiKey, "revoke_keys", key)

    key.refresh_from_db()
    assert refused.status_code == 403
    assert key.label == "old"
    assert key.revoked_at is not None
    assert AuditEvent.objects.order_by("-id").first().action == "api_key.revoke"


# --- 6. the audit log is read-only for everyone ----------------------------------------------


def test_audit_events_have_no_add_change_or_delete_even_for_superusers(
    client: Client, brand: Brand
) -> None:
    partner_create(actor=system_actor(brand), name="Audited")
    event = AuditEvent.objects.get()
    superuser = UserFactory(is_superuser=True)
    request = RequestFactory().get("/admin/")
    request.user = superuser
    model_admin = admin_site.get_model_admin(AuditEvent)
    logged_in(client, superuser)

    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, event)
    assert not model_admin.has_delete_permission(request, event)
    assert model_admin.has_view_permission(request, event)
    assert client.get(admin_url(AuditEvent, "add")).status_code == 403
    assert client.post(change_url(event), {"action": "forged"}).status_code == 403
    assert (
        client.post(admin_url(AuditEvent, "delete", event.pk), {"post": "yes"}).status_code == 403
    )
    page = client.get(change_url(event))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert 'name="action"' not in client.get(admin_url(AuditEvent, "changelist")).content.decode()
    assert AuditEvent.objects.get().action == "partner.create"


def test_the_postback_log_is_read_only_and_shows_the_stored_parameters(
    client: Client, brand: Brand, owner: Any
) -> None:
    attempt = PostbackAttempt.objects.create(
        brand=brand,
        offer_slug="acme-offer",
        outcome="bad_signature",
        http_status=403,
        method="GET",
        click_id="clk_refused",
        params={"click_id": "clk_refused", "sig": "[redacted]"},
    )
    logged_in(client, owner)

    listed = client.get(admin_url(PostbackAttempt, "changelist"), {"q": "clk_refused"})
    assert listed.status_code == 200
    assert list(listed.context["cl"].queryset) == [attempt]  # found by its click id
    assert 'name="action"' not in listed.content.decode()
    page = client.get(change_url(attempt)).content.decode()
    assert "bad_signature" in page and "[redacted]" in page and 'name="_save"' not in page
    assert client.get(admin_url(PostbackAttempt, "add")).status_code == 403
    assert client.post(change_url(attempt), {"outcome": "accepted"}).status_code == 403
    deleted = client.post(admin_url(PostbackAttempt, "delete", attempt.pk), {"post": "yes"})
    assert deleted.status_code == 403
    assert PostbackAttempt.objects.get().outcome == "bad_signature"


# --- 7. domain errors are form errors, not 500s ----------------------------------------------


def test_a_duplicate_offer_slug_is_a_form_error_and_nothing_is_written(
    client: Client, brand: Brand, owner: Any
) -> None:
    OfferFactory(brand=brand, slug="spring-sale")
    logged_in(client, owner)

    response = client.post(
        admin_url(Offer, "add"),
        {
            "brand": brand.pk,
            "slug": "spring-sale",
            "name": "Another spring sale",
            "destination_url": "https://shop.example.com/",
            "payout_type": "flat",
            "payout_amount": "5",
            "revenue_type": "flat",
            "revenue_amount": "0",
            "cap_mode": "soft",
            "daily_cap": "10",
        },
    )

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "already exists in this brand" in " ".join(form.errors["slug"])
    assert "already exists in this brand" in response.content.decode()
    assert Offer.objects.count() == 1
    assert not AuditEvent.objects.exists()
    assert not LogEntry.objects.exists()


def test_a_service_validation_error_lands_on_its_field(
    client: Client, brand: Brand, owner: Any
) -> None:
    offer = OfferFactory(brand=brand)
    logged_in(client, owner)
    data = form_data(client.get(change_url(offer)))
    data.update({"payout_type": "percent", "payout_amount": "150", "daily_cap": "5"})

    response = client.post(change_url(offer), data)

    assert response.status_code == 200
    assert "payout_amount" in response.context["adminform"].form.errors
    offer.refresh_from_db()
    assert (offer.payout_type, offer.daily_cap) == ("flat", None)
    assert not AuditEvent.objects.exists()


def test_a_refusal_by_the_second_service_undoes_the_first(
    client: Client, brand: Brand, owner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a form change that needs offer_update and then offer_set_caps
    offer = OfferFactory(brand=brand, name="Spring sale")

    def refuse_caps(**kwargs: Any) -> None:
        raise DomainValidationError("Caps refused.", fields={"daily": ["Refused."]})

    monkeypatch.setattr("offers.admin.offer_set_caps", refuse_caps)
    logged_in(client, owner)
    data = form_data(client.get(change_url(offer)))
    data.update({"name": "Summer sale", "daily_cap": "5"})

    # When the second service refuses
    response = client.post(change_url(offer), data)

    # Then the error is on the caps field and the rename did not stick either
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["daily_cap"] == ["Refused."]
    offer.refresh_from_db()
    assert offer.name == "Spring sale"
    assert not AuditEvent.objects.exists()
    assert not LogEntry.objects.exists()


def test_a_refused_delete_is_a_message_and_leaves_no_trace(
    client: Client, brand: Brand, owner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    membership = StaffMembershipFactory(brand=brand, role=StaffRole.ANALYST)

    def refuse(**kwargs: Any) -> None:
        raise DomainValidationError("The last owner cannot be removed.")

    monkeypatch.setattr("brands.admin.staff_membership_remove", refuse)
    logged_in(client, owner)

    response = client.post(
        admin_url(StaffMembership, "delete", membership.pk), {"post": "yes"}, follow=True
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "The last owner cannot be removed." in html
    assert "was deleted successfully" not in html
    assert StaffMembership.objects.filter(pk=membership.pk).exists()
    assert not LogEntry.objects.exists()


# --- changelists do not query per row --------------------------------------------------------


@pytest.mark.parametrize(
    "model",
    [
        Offer,
        PayoutRule,
        OfferCapCounter,
        Coupon,
        Conversion,
        Click,
        Payout,
        PostbackDelivery,
        PostbackAttempt,
        StaffMembership,
        ApiKey,
        AuditEvent,
    ],
    ids=lambda m: m._meta.model_name,
)
def test_changelist_query_count_does_not_grow_with_rows(
    client: Client, brand: Brand, owner: Any, model: type[Model]
) -> None:
    logged_in(client, owner)
    seed(brand, "first")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(admin_url(model, "changelist")).status_code == 200
        return len(captured.captured_queries)

    before = queries()
    for n in range(3):
        seed(brand, f"more{n}")
    assert queries() == before
