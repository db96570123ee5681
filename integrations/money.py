"""Amounts as payment providers send them, made Trcker's Decimals.

Stripe sends integers in the currency's minor unit (cents; yen have none; the three-decimal
currencies send thousandths). Shopify sends decimal strings. Conversions keep two decimals,
so a three-decimal amount is rounded half up to the cent."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# Stripe's lists ("Zero-decimal currencies", "Three-decimal currencies").
ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])
MAX_AMOUNT = Decimal("999999999999.99")
CURRENCY = re.compile(r"[A-Za-z]{3}")
CENT = Decimal("0.01")


class BadAmount(ValueError):  # noqa: N818 - reads as what it says
    pass


def currency_code(value: object) -> str:
    if not isinstance(value, str) or not CURRENCY.fullmatch(value):
        raise BadAmount("currency must be a three-letter ISO 4217 code")
    return value.upper()


def exponent(currency: str) -> int:
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


def from_minor_units(value: object, currency: str) -> Decimal:
    """An integer amount in ``currency``'s minor unit as a Decimal of its major unit."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadAmount("amount must be an integer number of minor units")
    return _bounded(Decimal(value).scaleb(-exponent(currency)))


def from_decimal_text(value: object) -> Decimal:
    """A decimal amount as text ("199.00") or a number."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadAmount("amount must be a decimal number")
    try:
        amount = Decimal(str(value).strip()[:32])
    except InvalidOperation:
        raise BadAmount("amount must be a decimal number") from None
    return _bounded(amount)


def _bounded(amount: Decimal) -> Decimal:
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
        raise BadAmount("amount must be between 0 and 999999999999.99")
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)
