"""Admin actions declared with backoffice.admin_base.service_action: every one is gated on
write permission, runs each selected row in its own service call as the staff member, and
reports a refused row by name while the others go through."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from backoffice.admin_base import BrandScopedAdminMixin
from brands.models import StaffRole
from conversions.models import Conversion
from offers.models import Offer, OfferStatus
from offers.services import offer_archive, offer_pause
from tests.conftest import make_actor
from tests.conversions.factories_flow import accepted_click, record
from tests.factories import OfferFactory, PartnerFactory, StaffMembershipFactory

pytestmark = pytest.mark.django_db


def trcker_admins() -> list[BrandScopedAdminMixin]:
    return [
        admin.site.get_model_admin(model)
        for model in apps.get_models()
        if admin.site.is_registered(model)
        and isinstance(admin.site.get_model_admin(model), BrandScopedAdminMixin)
    ]


def post_action(client: Client, model: type, action: str, objs: list[Any]) -> list[str]:
    opts = model._meta
    response = client.post(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
        {"action": action, "index": "0", "_selected_action": [str(o.pk) for o in objs]},
    )
    assert response.status_code == 302
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_every_admin_action_asks_for_write_permission():
    offered = {
        f"{type(model_admin).__name__}.{name}": getattr(type(model_admin), name)
        for model_admin in trcker_admins()
        for name in model_admin.actions or ()
    }
    # offers 4, partners 4, coupons 2, conversions and the review queue 2 each, payouts 2,
    # deliveries 1, API keys 1, partner API keys 1, brands 1 (rotate the signing secret),
    # conversions' reverse 1 (the ledger), integrations' disconnect 1, partner invitations 2
    # (resend, revoke)
    assert len(offered) == 24
    permissions = {
        name: list(getattr(func, "allowed_permissions", ())) for name, func in offered.items()
    }
    assert permissions == {name: ["write"] for name in offered}


def test_a_refused_row_is_named_and_the_others_go_through(client, brand):
    owner = StaffMembershipFactory(brand=brand, role=StaffRole.OWNER).user
    paused = OfferFactory(brand=brand, slug="paused", name="Paused one")
    archived = OfferFactory(brand=brand, slug="old", name="Old one")
    actor = make_actor(brand)
    offer_pause(actor=actor, offer=paused)
    offer_archive(actor=actor, offer=archived)
    client.force_login(owner)

    shown = post_action(client, Offer, "resume_offers", [paused, archived])

    assert shown == [
        "Old one (old): Cannot resume offer 'old': it is archived.",
        "Resumed 1 offer(s).",
    ]
    assert Offer.objects.get(pk=paused.pk).status == OfferStatus.ACTIVE
    assert Offer.objects.get(pk=archived.pk).status == OfferStatus.ARCHIVED
    event = AuditEvent.objects.get(action="offer.resume")
    assert (event.actor_label, event.channel) == (f"user:{owner.pk}", "admin")


def test_fixed_service_arguments_are_passed_on(client, brand):
    owner = StaffMembershipFactory(brand=brand, role=StaffRole.OWNER).user
    offer, partner = OfferFactory(brand=brand), PartnerFactory(brand=brand)
    conversion = record(brand, offer, click=accepted_click(brand, offer, partner), txn_id="R1")
    client.force_login(owner)

    assert post_action(client, Conversion, "reject", [conversion]) == ["Rejected 1 conversion(s)."]

    assert Conversion.objects.get(pk=conversion.pk).status_reason == "rejected in admin"
    event = AuditEvent.objects.get(action="conversion.reject")
    assert event.changes["reason"] == [None, "rejected in admin"]
