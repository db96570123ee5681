"""The id arguments operations share, and the lookups that turn them into rows."""

from __future__ import annotations

from conversions import selectors as conversion_selectors
from offers import selectors as offer_selectors
from offers.serializers import SLUG_FIELD, SlugArguments
from operations.declaration import Lookup
from partners import selectors as partner_selectors


class IdArguments(SlugArguments):
    help_text: str


OFFER_ID: IdArguments = {**SLUG_FIELD, "help_text": "The offer's id (slug), e.g. spring-sale."}
PARTNER_ID: IdArguments = {**SLUG_FIELD, "help_text": "The partner's id (slug), e.g. abc-123."}
CONVERSION_ID = r"^conv_[A-Za-z0-9]{1,28}$"
PAYOUT_ID = r"^pay_[A-Za-z0-9]{1,28}$"

OFFER = Lookup("offer_id", "offer", offer_selectors.offer_get_for_actor)
OPTIONAL_OFFER = Lookup("offer_id", "offer", offer_selectors.offer_get_for_actor, required=False)
PARTNER = Lookup("partner_id", "partner", partner_selectors.partner_get_for_actor)
OPTIONAL_PARTNER = Lookup(
    "partner_id", "partner", partner_selectors.partner_get_for_actor, required=False
)
PARTNERS = Lookup(
    "partner_ids",
    "partners",
    partner_selectors.partner_get_for_actor,
    many=True,
    keyword="partner_id",
)
COUPON = Lookup("code", "coupon", partner_selectors.coupon_get_for_actor)
CONVERSION = Lookup("conversion_id", "conversion", conversion_selectors.conversion_get_for_actor)
PAYOUT = Lookup("payout_id", "payout", conversion_selectors.payout_get_for_actor)
