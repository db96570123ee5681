"""ISO 4217 currency codes: which three-letter codes name a currency.

``CURRENT`` are the codes ISO 4217 lists today, without ``XTS`` (reserved for testing) and
``XXX`` (no currency): no amount is ever in them. ``HISTORIC`` are withdrawn codes that
reference-rate files still carry for their years (the ECB's history has CYP, SIT, HRK…), so a
rate file covering them loads; a postback in one of them finds no current rate and is refused
for that (``fx_rate_missing``), not as a code that does not exist.

Input is checked for shape before it is looked up: ``parse_currency`` takes exactly three
ASCII letters (any case), so no Unicode case mapping (``"uß".upper()`` is ``"USS"``) or
full-width letter can turn into a code."""

from __future__ import annotations

import re

CURRENT = frozenset(
    re.findall(
        r"[A-Z]{3}",
        """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
    BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP
    ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR
    ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA
    MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK
    PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC
    SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND
    VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG
        """,
    )
)
HISTORIC = frozenset(
    re.findall(
        r"[A-Z]{3}",
        """
    ANG CUC CYP DEM EEK ESP FIM FRF GRD HRK IEP ITL LTL LVL MRO MTL NLG PTE ROL SIT SKK SLL
    STD TRL VEF ZWL
        """,
    )
)
KNOWN = CURRENT | HISTORIC
_SHAPE = re.compile(r"[A-Za-z]{3}")


def is_currency(code: str) -> bool:
    """Is ``code`` an ISO 4217 code, written in capitals?"""
    return code in KNOWN


def parse_currency(raw: str) -> str | None:
    """The ISO 4217 code ``raw`` names (surrounding spaces and case ignored), or None."""
    text = raw.strip()
    if not _SHAPE.fullmatch(text):
        return None
    code = text.upper()
    return code if code in KNOWN else None


def validate_currency(value: str) -> None:
    """A model field validator: ``value`` must be an ISO 4217 code in capitals."""
    from django.core.exceptions import ValidationError

    if not is_currency(value):
        raise ValidationError(
            "Use an ISO 4217 currency code in capitals, e.g. EUR.", code="invalid_currency"
        )
