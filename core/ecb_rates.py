"""Reading the ECB's euro foreign exchange reference rates (eurofxref-daily.xml,
eurofxref-hist.xml, eurofxref-hist-90d.xml): one ``Cube time="YYYY-MM-DD"`` per day holding
``Cube currency="USD" rate="1.0872"`` elements, each rate the units of that currency one
euro buys.

Strict and safe: the file is parsed by defusedxml with DTDs forbidden (no entity expansion,
no external entity, no network), after a size check; then every element must be where the
format puts it, every day a real date, every currency an ISO 4217 code other than EUR,
every rate a positive decimal that fits the column, and no (day, currency) twice. The first
thing wrong stops the whole file with ``RateFileError`` naming it: a caller gets either every
rate of the file or none."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from core.currencies import is_currency

GESMES = "{http://www.gesmes.org/xml/2002-08-01}"
EUROFXREF = "{http://www.ecb.int/vocabulary/2002-08-01/eurofxref}"
# eurofxref-hist.xml (every day since 1999, ~40 currencies) is under 8 MB.
MAX_BYTES = 32 * 1024 * 1024
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# A rate as the ECB writes it: digits, an optional fraction; at most 10 integer and 10
# decimal digits (the column's size, brands.models.RATE_DIGITS and RATE_PLACES).
RATE = re.compile(r"[0-9]{1,10}(?:\.[0-9]{1,10})?")
FIRST_DAY = dt.date(1999, 1, 1)  # the euro's first day: no reference rate is older


class RateFileError(ValueError):
    """The file is not a well-formed ECB reference-rate file; nothing of it may be used."""


@dataclass(frozen=True)
class ReferenceRate:
    day: dt.date
    currency: str
    rate: Decimal  # units of ``currency`` per 1 EUR


def _day(text: str | None) -> dt.date:
    if text is None or not DAY.fullmatch(text):
        raise RateFileError(f"a day's Cube has time={text!r:.40}; expected YYYY-MM-DD")
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise RateFileError(f"time={text!r} is not a date") from None
    if day < FIRST_DAY or day.year > 2999:
        raise RateFileError(f"time={text!r} is outside 1999-01-01 … 2999-12-31")
    return day


def _rate(day: dt.date, element: Element) -> ReferenceRate:
    if set(element.attrib) != {"currency", "rate"} or len(element):
        raise RateFileError(
            f"{day}: a rate's Cube must have exactly the attributes currency and rate"
        )
    currency, text = element.attrib["currency"], element.attrib["rate"]
    if not is_currency(currency) or currency == "EUR":
        raise RateFileError(f"{day}: currency={currency!r:.40} is not an ISO 4217 code")
    if not RATE.fullmatch(text):
        raise RateFileError(f"{day} {currency}: rate={text!r:.40} is not a decimal number")
    try:
        rate = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise RateFileError(f"{day} {currency}: rate={text!r:.40} is not a number") from None
    if rate <= 0:
        raise RateFileError(f"{day} {currency}: a rate must be above zero")
    return ReferenceRate(day=day, currency=currency, rate=rate)


def parse_reference_rates(data: bytes) -> list[ReferenceRate]:
    """Every rate of an ECB reference-rate file, in file order; ``RateFileError`` otherwise."""
    if len(data) > MAX_BYTES:
        raise RateFileError(f"the file is over {MAX_BYTES // (1024 * 1024)} MB")
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise RateFileError(f"refused unsafe XML ({type(exc).__name__})") from None
    except ParseError as exc:
        raise RateFileError(f"not well-formed XML ({exc})") from None
    if root.tag != f"{GESMES}Envelope":
        raise RateFileError("the root element is not the ECB's gesmes:Envelope")
    outer = [child for child in root if child.tag == f"{EUROFXREF}Cube"]
    if len(outer) != 1:
        raise RateFileError("expected exactly one eurofxref Cube holding the days")
    rates: list[ReferenceRate] = []
    seen: set[tuple[dt.date, str]] = set()
    for day_cube in outer[0]:
        if day_cube.tag != f"{EUROFXREF}Cube" or set(day_cube.attrib) != {"time"}:
            raise RateFileError("each element under the outer Cube must be a Cube time=…")
        day = _day(day_cube.attrib.get("time"))
        for element in day_cube:
            if element.tag != f"{EUROFXREF}Cube":
                raise RateFileError(f"{day}: unexpected element {element.tag[:60]!r}")
            rate = _rate(day, element)
            if (day, rate.currency) in seen:
                raise RateFileError(f"{day} {rate.currency}: listed twice")
            seen.add((day, rate.currency))
            rates.append(rate)
    if not rates:
        raise RateFileError("the file holds no rates")
    return rates
