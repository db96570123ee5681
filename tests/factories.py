"""factory_boy factories. They build rows directly (fast fixtures); behaviour under test
always goes through services."""

from __future__ import annotations

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from brands.models import Brand, StaffMembership, StaffRole
from offers.models import Offer
from partners.models import Coupon, Partner


class BrandFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Brand

    slug = factory.Sequence(lambda n: f"brand-{n}")
    name = factory.LazyAttribute(lambda o: f"Brand {o.slug}")
    timezone = "UTC"
    currency = "USD"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests-only")

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):
        if create:
            instance.save()


class StaffMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StaffMembership

    user = factory.SubFactory(UserFactory)
    brand = factory.SubFactory(BrandFactory)
    role = StaffRole.OWNER


class OfferFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Offer

    brand = factory.SubFactory(BrandFactory)
    slug = factory.Sequence(lambda n: f"offer-{n}")
    name = factory.LazyAttribute(lambda o: f"Offer {o.slug}")
    destination_url = "https://shop.example.com/landing?c={CLICK_ID}"
    currency = "USD"
    payout_amount = Decimal("10.00")
    revenue_amount = Decimal("25.00")
    postback_secret = ""
    postback_allowed_ips = factory.LazyFunction(list)
    # Fixtures mirror migration 0003, not the secure default: an offer with neither a secret
    # nor an IP allowlist accepts unsigned postbacks, so the many tests that send them need no
    # signing. The secure default (offer_create) is tested in test_postback_origin.py.
    allow_unsigned_postbacks = factory.LazyAttribute(
        lambda o: not o.postback_secret and not o.postback_allowed_ips
    )


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner

    brand = factory.SubFactory(BrandFactory)
    slug = factory.Sequence(lambda n: f"partner-{n}")
    name = factory.LazyAttribute(lambda o: f"Partner {o.slug}")
    email = factory.LazyAttribute(lambda o: f"{o.slug}@partners.example")
    approved_at = factory.LazyFunction(timezone.now)


class CouponFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Coupon

    brand = factory.SubFactory(BrandFactory)
    partner = factory.SubFactory(PartnerFactory, brand=factory.SelfAttribute("..brand"))
    code = factory.Sequence(lambda n: f"CODE{n}")
