"""Payout and revenue resolution (one place, used by ingestion and by tests).

Order: partner+event rule, partner rule, event rule, offer default. A percent amount applies
to the sale amount; results are rounded half-up to cents."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from conversions.tracking_config import OfferConfig, RuleConfig
from core.errors import ValidationError
from offers.models import AmountType

CENT = Decimal("0.01")


# What a money column holds (offers.models.MONEY: 14 digits, 2 decimals).
MAX_MONEY = Decimal("999999999999.99")


def _apply(kind: str, amount: Decimal, sale_amount: Decimal) -> Decimal:
    value = sale_amount * amount / Decimal(100) if kind == AmountType.PERCENT else amount
    value = value.quantize(CENT, rounding=ROUND_HALF_UP)
    if value > MAX_MONEY:
        # A percentage over 100 of a large sale: refused for good (a 422 the advertiser does
        # not retry), not a database error that would answer 503 for ever.
        raise ValidationError(
            f"The payout or revenue for this sale ({value}) exceeds the largest amount Trcker "
            f"stores ({MAX_MONEY}); check the sale amount or the offer's percentage.",
            code="amount_out_of_range",
            fields={"amount": ["The resulting payout or revenue is too large."]},
        )
    return value


def _matching_rules(offer: OfferConfig, partner_id: int, event_type: str) -> list[RuleConfig]:
    rank = {
        (True, True): 0,  # partner + event
        (True, False): 1,  # partner
        (False, True): 2,  # event
    }
    matches = []
    for rule in offer.rules:
        partner_match = rule.partner_id == partner_id
        event_match = rule.event_type == event_type
        if (rule.partner_id is None or partner_match) and (rule.event_type == "" or event_match):
            matches.append((rank[(rule.partner_id is not None, rule.event_type != "")], rule))
    return [rule for _, rule in sorted(matches, key=lambda item: item[0])]


def payout_type_for(offer: OfferConfig, *, partner_id: int, event_type: str) -> str:
    """How a conversion's payout is computed (``AmountType``: flat or percent), by the rule
    ``resolve_amounts`` applies."""
    rules = _matching_rules(offer, partner_id, event_type)
    return rules[0].payout_type if rules else offer.payout_type


def resolve_amounts(
    offer: OfferConfig, *, partner_id: int, event_type: str, sale_amount: Decimal
) -> tuple[Decimal, Decimal]:
    """(payout, revenue) for one conversion."""
    rules = _matching_rules(offer, partner_id, event_type)
    payout_rule = rules[0] if rules else None
    payout = (
        _apply(payout_rule.payout_type, payout_rule.payout_amount, sale_amount)
        if payout_rule
        else _apply(offer.payout_type, offer.payout_amount, sale_amount)
    )
    revenue_rule = next(
        (rule for rule in rules if rule.revenue_type and rule.revenue_amount is not None), None
    )
    revenue = (
        _apply(revenue_rule.revenue_type, revenue_rule.revenue_amount, sale_amount)
        if revenue_rule is not None and revenue_rule.revenue_amount is not None
        else _apply(offer.revenue_type, offer.revenue_amount, sale_amount)
    )
    return payout, revenue
