"""Seed a demo brand once (idempotent): offers, partners, coupons, payout rules, 30 days of
clicks and conversions, payouts, a staff login and an API key. Safe on every `make run`."""

from __future__ import annotations

import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from audit.actor import Actor, Channel
from brands.models import ApiKeyScope, Brand, StaffRole
from brands.services import api_key_authenticate, api_key_create, brand_create, staff_membership_set
from core.errors import DomainError
from demo.fx import seed_demo_rates
from demo.traffic import seed_demo_traffic, seed_volume
from offers.models import AmountType
from offers.services import offer_create, offer_pause, offer_set_caps, offer_set_payout_rule
from partners.models import PartnerStatus
from partners.services import coupon_create, partner_create

DEMO_SLUG = "demo"

OFFERS: list[dict[str, Any]] = [  # offer_create keyword arguments
    {
        "offer_id": "spring-sale",
        "name": "Spring Sale",
        "destination_url": "https://shop.example.com/spring?click={CLICK_ID}&aff={PARTNER_ID}&s1={SUB1}",
        "payout_type": AmountType.FLAT,
        "payout_amount": Decimal("12.50"),
        "revenue_type": AmountType.FLAT,
        "revenue_amount": Decimal("40.00"),
        "fallback_url": "https://shop.example.com/",
    },
    {
        "offer_id": "pro-plan",
        "name": "Pro Plan Subscription",
        "destination_url": "https://app.example.com/signup?ref={PARTNER_ID}",
        "payout_type": AmountType.PERCENT,
        "payout_amount": Decimal("20"),
        "revenue_type": AmountType.PERCENT,
        "revenue_amount": Decimal("100"),
        "geo_allow": ["US", "CA", "GB", "DE"],
    },
    {
        "offer_id": "newsletter",
        "name": "Newsletter Signup",
        "destination_url": "https://news.example.com/join",
        "payout_type": AmountType.FLAT,
        "payout_amount": Decimal("1.50"),
        "revenue_amount": Decimal("3.00"),
        "device_allow": ["mobile", "tablet"],
    },
    {
        # The product page's "lower their payout on offer xyz to 15%" needs an offer xyz.
        "offer_id": "xyz",
        "name": "XYZ Annual Plan",
        "destination_url": "https://xyz.example.com/annual?click_id={CLICK_ID}&aff={PARTNER_ID}",
        "payout_type": AmountType.PERCENT,
        "payout_amount": Decimal("25"),
        "revenue_type": AmountType.PERCENT,
        "revenue_amount": Decimal("60"),
    },
    {
        "offer_id": "winter-clearance",
        "name": "Winter Clearance",
        "destination_url": "https://shop.example.com/winter",
        "payout_type": AmountType.FLAT,
        "payout_amount": Decimal("5.00"),
        "revenue_amount": Decimal("15.00"),
    },
]
PARTNERS = [
    {
        "partner_id": "abc-123",
        "name": "ABC Media",
        "email": "team@abc-media.example",
        "website": "https://abc-media.example",
    },
    {"partner_id": "deal-hunters", "name": "Deal Hunters", "email": "ops@dealhunters.example"},
    {"partner_id": "coupon-kings", "name": "Coupon Kings", "email": "hello@couponkings.example"},
    {
        "partner_id": "tech-reviews",
        "name": "Tech Reviews Weekly",
        "website": "https://techreviews.example",
    },
    {
        "partner_id": "new-applicant",
        "name": "New Applicant Blog",
        "email": "me@newblog.example",
        "status": PartnerStatus.PENDING,
    },
]


class Command(BaseCommand):
    help = "Create the demo brand with offers, partners and coupons (once), and a usable API key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--key-file", help="keep the demo API key in this local file and reuse it"
        )
        parser.add_argument(
            "--admin-password-file", help="keep the demo staff password in this file"
        )
        parser.add_argument(
            "--clicks",
            type=int,
            default=0,
            help="also bulk-generate this many clicks (about 10%% converted) for benchmarks",
        )

    def handle(self, *args: object, **options: Any) -> None:
        brand = Brand.objects.filter(slug=DEMO_SLUG).first()
        if brand is None:
            brand = self._seed()
            self.stdout.write(self.style.SUCCESS(f"Seeded demo brand {brand.slug!r}."))
        else:
            self.stdout.write(f"Demo brand {brand.slug!r} already seeded.")
        actor = Actor.system(
            brand_id=brand.pk, brand_slug=brand.slug, name="seed_demo", channel=Channel.CLI
        )
        seed_demo_rates(actor=actor, currency=brand.currency)
        clicks, conversions = seed_demo_traffic(brand=brand, actor=actor)
        if clicks:
            self.stdout.write(
                f"Generated {clicks} clicks and {conversions} conversions over 30 days."
            )
        if options.get("clicks"):

            def progress(done: int, total: int) -> None:
                filled = 30 * done // total
                bar = "#" * filled + "." * (30 - filled)
                self.stdout.write(f"\r[{bar}] {done}/{total} clicks", ending="")
                self.stdout.flush()

            made, converted = seed_volume(
                brand=brand, clicks=int(options["clicks"]), progress=progress
            )
            self.stdout.write(
                f"\rBulk-generated {made} clicks and {converted} conversions (rolled up)."
            )
        key = self._api_key(actor, options.get("key_file"))
        password = self._staff_login(actor, options.get("admin_password_file"))
        self.stdout.write(f"API key: {key}")
        if password:
            self.stdout.write(f"Admin login: demo / {password}")

    @transaction.atomic
    def _seed(self) -> Brand:
        brand = brand_create(
            creator_label="system:seed_demo",
            channel=Channel.CLI,
            slug=DEMO_SLUG,
            name="Demo Outfitters",
            timezone_name="America/New_York",
            currency="USD",
        )
        actor = Actor.system(
            brand_id=brand.pk, brand_slug=brand.slug, name="seed_demo", channel=Channel.CLI
        )
        offers = {spec["offer_id"]: offer_create(actor=actor, **spec) for spec in OFFERS}
        partners = {spec["partner_id"]: partner_create(actor=actor, **spec) for spec in PARTNERS}
        offer_set_caps(
            actor=actor, offer=offers["spring-sale"], daily=200, weekly=None, monthly=3000
        )
        offer_set_payout_rule(
            actor=actor,
            offer=offers["spring-sale"],
            partner=partners["abc-123"],
            payout_type=AmountType.FLAT,
            payout_amount=Decimal("15.00"),
        )
        offer_set_payout_rule(
            actor=actor,
            offer=offers["pro-plan"],
            event_type="trial",
            payout_type=AmountType.FLAT,
            payout_amount=Decimal("2.00"),
        )
        offer_pause(actor=actor, offer=offers["winter-clearance"])
        coupon_create(
            actor=actor,
            partner=partners["coupon-kings"],
            code="SPRING10",
            offer=offers["spring-sale"],
            max_uses=500,
        )
        coupon_create(actor=actor, partner=partners["deal-hunters"], code="DEALS15")
        return brand

    def _api_key(self, actor: Actor, key_file: str | None) -> str:
        path = Path(key_file) if key_file else None
        if path and path.exists():
            existing = path.read_text().strip()
            try:
                if api_key_authenticate(existing).brand_id == actor.brand_id:
                    return existing
            except DomainError:
                pass  # revoked or from another database: issue a fresh one
        _, plaintext = api_key_create(
            actor=actor, label="Quick start (make run)", scope=ApiKeyScope.READ_WRITE
        )
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(plaintext + "\n")
            path.chmod(0o600)
        return plaintext

    def _staff_login(self, actor: Actor, password_file: str | None) -> str | None:
        user_model = get_user_model()
        user = user_model.objects.filter(username="demo").first()
        path = Path(password_file) if password_file else None
        if user is not None and path and path.exists():
            return path.read_text().strip()
        password = secrets.token_urlsafe(12)
        if user is None:
            user = user_model.objects.create_user(username="demo", password=password, is_staff=True)
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
        staff_membership_set(actor=actor, user=user, role=StaffRole.OWNER)
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(password + "\n")
            path.chmod(0o600)
        return password
