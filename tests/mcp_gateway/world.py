"""A brand with something of everything, and a valid call for every MCP tool against it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from brands.fx_services import fx_rate_set
from brands.models import Brand
from brands.webhook_models import WebhookEndpoint
from conversions.models import Conversion, DeliveryStatus, Payout, PostbackDelivery
from conversions.payouts import payouts_generate
from conversions.services import conversion_approve
from offers.models import Offer
from partners.invitations import partner_invite
from partners.models import Coupon, Partner, PartnerInvitation, PartnerSignInProvider
from tests.conftest import make_actor
from tests.conversions.factories_flow import accepted_click, record
from tests.factories import CouponFactory, OfferFactory, PartnerFactory


@dataclass
class World:
    brand: Brand
    offer: Offer
    partner: Partner
    applicant: Partner
    pending: Conversion
    to_reject: Conversion
    payout: Payout
    coupon: Coupon
    dead_delivery: PostbackDelivery
    declined: Partner  # a second applicant, for reject_partner_application
    voidable: Payout  # a second pending payout, for void_payout (the first gets paid)
    paid_later: Conversion  # in ``payout``: paid by mark_payout_paid, then reversed
    webhook: WebhookEndpoint
    invitation: PartnerInvitation  # pending: resent by resend_partner_invitation
    unwanted: PartnerInvitation  # pending: withdrawn by revoke_partner_invitation


def build_world(brand: Brand) -> World:
    offer = OfferFactory(brand=brand, slug="spring-sale", payout_amount=Decimal("10.00"))
    partner = PartnerFactory(brand=brand, slug="abc-123")
    applicant = PartnerFactory(brand=brand, slug="new-blog", status="pending", approved_at=None)
    coupon = CouponFactory(brand=brand, partner=partner, offer=offer, code="SPRING10")
    pending = record(brand, offer, click=accepted_click(brand, offer, partner), txn_id="W-1")
    to_reject = record(brand, offer, click=accepted_click(brand, offer, partner), txn_id="W-2")
    paid_later = record(brand, offer, click=accepted_click(brand, offer, partner), txn_id="W-3")
    actor = make_actor(brand)
    conversion_approve(actor=actor, conversion=paid_later)
    (payout,) = payouts_generate(actor=actor)
    other = PartnerFactory(brand=brand, slug="deal-site")
    other_sale = record(brand, offer, click=accepted_click(brand, offer, other), txn_id="W-4")
    conversion_approve(actor=actor, conversion=other_sale)
    (voidable,) = payouts_generate(actor=actor)
    dead_delivery = PostbackDelivery.objects.create(
        brand=brand,
        conversion=paid_later,
        url="https://advertiser.example.com/pb?c=1",
        status=DeliveryStatus.DEAD,
        attempts=8,
        last_status_code=500,
    )
    declined = PartnerFactory(brand=brand, slug="spam-blog", status="pending", approved_at=None)
    fx_rate_set(actor=actor, base="GBP", quote="USD", day=dt.date(2026, 1, 1), rate=Decimal("1.27"))
    webhook = WebhookEndpoint.objects.create(
        brand=brand, url="https://hooks.example.com/trcker", events=["conversion.approved"]
    )
    invitation = partner_invite(actor=actor, email="maya@creators.example", name="Maya")
    unwanted = partner_invite(actor=actor, email="old-contact@agency.example")
    PartnerSignInProvider.objects.create(
        brand=brand,
        display_name="Acme Login",
        issuer="https://login.acme.example",
        client_id="trcker-partners",
        client_secret="partner-portal-client-secret",
        secret_set_at=dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC),
    )
    return World(
        brand,
        offer,
        partner,
        applicant,
        pending,
        to_reject,
        payout,
        coupon,
        dead_delivery,
        declined,
        voidable,
        paid_later,
        webhook,
        invitation,
        unwanted,
    )


def every_tool_call(world: World) -> list[tuple[str, dict[str, Any]]]:
    offer, partner = world.offer.slug, world.partner.slug
    return [
        ("get_partner_stats", {"days": 7}),
        ("get_offer_stats", {"offer_id": offer}),
        ("get_offer_config", {"offer_id": offer}),
        (
            "get_conversions",
            {"status": "pending", "min_fraud_score": 0, "max_fraud_score": 100, "limit": 5},
        ),
        ("get_fraud_summary", {}),
        ("get_fraud_settings", {}),
        ("get_partner_balance", {"partner_id": partner}),
        ("list_ledger_entries", {"partner_id": partner, "kind": "commission", "limit": 5}),
        ("get_program_settings", {}),
        ("list_partner_invitations", {"status": "pending", "limit": 5}),
        ("list_pending_conversions", {"limit": 10}),
        ("list_coupons", {"partner_id": partner}),
        ("get_top_publishers", {"metric": "revenue", "limit": 5}),
        (
            "get_report",
            {"metrics": ["clicks", "conversions", "revenue"], "group_by": ["partner"], "days": 7},
        ),
        ("list_offers", {}),
        ("list_partners", {"status": "active"}),
        ("list_payouts", {"status": "pending"}),
        ("get_audit_log", {"action": "payout"}),
        ("list_tool_calls", {"tool": "list_offers"}),
        ("diagnose_offer", {"offer_id": offer, "days": 30}),
        ("list_deliveries", {"status": "dead"}),
        ("list_postback_attempts", {"outcome": "refused"}),
        ("list_integrations", {}),
        ("list_integration_events", {"provider": "stripe", "outcome": "refused"}),
        ("get_partner_sign_in_provider", {}),
        ("list_webhooks", {}),
        ("get_webhook", {"webhook_id": world.webhook.pk}),
        ("list_webhook_deliveries", {"webhook_id": world.webhook.pk, "status": "pending"}),
        ("get_signing_secret", {}),
        (
            "create_webhook",
            {
                "url": "https://hooks.example.com/payouts",
                "events": ["payout.paid", "conversion.reversed"],
                "description": "finance",
            },
        ),
        (
            "update_webhook",
            {"webhook_id": world.webhook.pk, "events": ["conversion.approved", "cap.reached"]},
        ),
        ("rotate_signing_secret", {"overlap_hours": 24}),
        ("trace_click", {"click_id": world.pending.click_id}),
        ("list_fx_rates", {"currency": "USD"}),
        ("get_fx_rate", {"base": "GBP", "quote": "USD", "day": "2026-11-02", "amount": "10.00"}),
        ("set_fx_rate", {"base": "EUR", "quote": "USD", "day": "2026-11-02", "rate": "1.16"}),
        (
            "create_offer",
            {
                "name": "Summer Sale",
                "destination_url": "https://shop.example.com/summer",
                "payout_type": "percent",
                "payout_amount": "12.5",
            },
        ),
        (
            "update_offer",
            {"offer_id": offer, "name": "Spring Sale 2026", "postback_url_template": None},
        ),
        ("pause_offer", {"offer_id": offer}),
        ("resume_offer", {"offer_id": offer}),
        ("rotate_offer_postback_secret", {"offer_id": offer, "grace_seconds": 60}),
        ("pause_partner", {"partner_id": partner}),
        ("resume_partner", {"partner_id": partner}),
        ("approve_partner_application", {"partner_id": world.applicant.slug}),
        (
            "adjust_payout",
            {
                "offer_id": offer,
                "partner_id": partner,
                "payout_type": "percent",
                "payout_amount": "15",
            },
        ),
        (
            "set_event_payout",
            {
                "offer_id": offer,
                "event_type": "signup",
                "payout_type": "flat",
                "payout_amount": "2",
            },
        ),
        ("set_fraud_settings", {"mode": "review", "threshold": 60}),
        ("approve_conversion", {"conversion_id": world.pending.id}),
        # One row, so one audit event; reject_conversion then rejects it from approved.
        ("bulk_update_conversions", {"action": "approve", "conversion_ids": [world.to_reject.id]}),
        ("reject_conversion", {"conversion_id": world.to_reject.id, "reason": "test order"}),
        (
            "set_cap",
            {"offer_id": offer, "daily": 100, "weekly": None, "monthly": 2000, "mode": "hard"},
        ),
        ("create_coupon", {"partner_id": partner, "code": "SUMMER20", "max_uses": 10}),
        ("generate_payouts", {}),
        (
            "mark_payout_paid",
            {"payout_id": world.payout.id, "method": "paypal", "reference": "PP-1"},
        ),
        # After the payout: the refund comes off the partner's next one.
        (
            "reverse_conversion",
            {
                "conversion_id": world.paid_later.id,
                "reason": "refund",
                "note": "Customer returned the order",
            },
        ),
        (
            "create_ledger_adjustment",
            {
                "partner_id": partner,
                "currency": "USD",
                "amount": "-2.50",
                "reason": "Shipping fee charged back by the carrier",
            },
        ),
        (
            "update_program_settings",
            {
                "default_hold_days": 14,
                "payout_methods": ["paypal", "wire"],
                "partner_reasons_visible": False,
                "min_payout_amount": "25.00",
            },
        ),
        ("set_allowed_partners", {"offer_id": offer, "partner_ids": [partner]}),
        (
            "create_partner",
            {"name": "Deal Hunters", "email": "team@dealhunters.example", "status": "pending"},
        ),
        ("update_partner", {"partner_id": partner, "website": "https://abc.example.com"}),
        ("invite_partner", {"email": "hello@newcreator.example", "name": "New Creator"}),
        ("resend_partner_invitation", {"invitation_id": world.invitation.invitation_id}),
        ("revoke_partner_invitation", {"invitation_id": world.unwanted.invitation_id}),
        ("reject_partner_application", {"partner_id": world.declined.slug}),
        ("disable_coupon", {"code": world.coupon.code}),
        ("void_payout", {"payout_id": world.voidable.id}),
        ("replay_postback", {"delivery_id": world.dead_delivery.pk}),
        # Late: the offer has a postback secret by now (rotate_offer_postback_secret), so the
        # SDK's run of every tool sends a signed test postback.
        (
            "send_test_postback",
            {"offer_id": offer, "partner_id": partner, "sale_amount": "49.90", "sub1": "nl"},
        ),
        ("delete_webhook", {"webhook_id": world.webhook.pk}),
        ("archive_offer", {"offer_id": offer}),  # last: an archived offer takes no more writes
    ]
