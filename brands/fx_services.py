"""Writes of exchange rates: a brand's own rate (audited, per brand) and the reference rates
loaded from an ECB file (shared by every brand, so in no brand's audit log). Each moves the
generation the rate lookups are cached under (``brands.fx``), after its commit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from audit.actor import Actor
from audit.services import audit_record
from brands.models import RATE_DIGITS, RATE_PLACES, FxRate, FxReferenceRate
from core.config_cache import reference_data_changed, tracking_config_changed
from core.currencies import is_currency
from core.ecb_rates import FIRST_DAY, ReferenceRate
from core.errors import ValidationError

MAX_RATE = Decimal(10) ** (RATE_DIGITS - RATE_PLACES)
RATE_QUANTUM = Decimal(1).scaleb(-RATE_PLACES)
LOAD_BATCH = 2000


def _invalid(name: str, message: str, code: str = "invalid_input") -> ValidationError:
    return ValidationError(message, code=code, fields={name: [message]})


def _check_rate(base: str, quote: str, day: dt.date, rate: Decimal) -> Decimal:
    for name, code in (("base", base), ("quote", quote)):
        if not is_currency(code):
            raise _invalid(
                name, f"{code!r:.20} is not an ISO 4217 currency code.", "invalid_currency"
            )
    if base == quote:
        raise _invalid("quote", "A rate converts between two different currencies.")
    if not FIRST_DAY <= day <= dt.date(2999, 12, 31):
        raise _invalid("day", "day must be between 1999-01-01 and 2999-12-31.")
    if not rate.is_finite() or rate <= 0 or rate >= MAX_RATE:
        raise _invalid("rate", f"rate must be above 0 and below {MAX_RATE}.")
    exact = rate.quantize(RATE_QUANTUM)
    if exact != rate or exact == 0:
        raise _invalid("rate", f"rate takes at most {RATE_PLACES} decimal places.")
    return exact


@transaction.atomic
def fx_rate_set(*, actor: Actor, base: str, quote: str, day: dt.date, rate: Decimal) -> FxRate:
    """The brand's own rate from ``day`` on: 1 ``base`` = ``rate`` ``quote``. Replaces the
    brand's rate for that pair and day if there is one. Conversions already recorded keep the
    rate they were converted at; later ones use the lookup rule (``brands.fx``)."""
    actor.require_write()
    rate = _check_rate(base, quote, day, rate)
    row, created = FxRate.objects.select_for_update().get_or_create(
        brand_id=actor.brand_id, base=base, quote=quote, day=day, defaults={"rate": rate}
    )
    before = None if created else row.rate
    if before == rate:
        return row
    if not created:
        row.rate = rate
        row.save(update_fields=["rate", "updated_at"])
    audit_record(
        actor=actor,
        action="fx_rate.set",
        target=row,
        target_type="fx_rate",
        target_id=f"{base}/{quote}@{day}",
        changes={"rate": [before, rate]},
    )
    tracking_config_changed(actor.brand_id)
    return row


@dataclass(frozen=True)
class LoadSummary:
    added: int
    changed: int
    unchanged: int
    first_day: dt.date
    last_day: dt.date
    currencies: tuple[str, ...]


@transaction.atomic
def fx_reference_load(rates: Sequence[ReferenceRate]) -> LoadSummary:
    """Add or correct reference rates (1 EUR = rate currency on day), all in one transaction:
    a failure leaves every rate as it was. ``rates`` come from
    ``core.ecb_rates.parse_reference_rates``, which has checked them."""
    if not rates:
        raise ValueError("no rates to load")
    days = [rate.day for rate in rates]
    first, last = min(days), max(days)
    have = {
        (day, currency): value
        for day, currency, value in FxReferenceRate.objects.filter(
            day__gte=first, day__lte=last
        ).values_list("day", "currency", "rate")
    }
    added = changed = 0
    rows = []
    for item in rates:
        old = have.get((item.day, item.currency))
        value = item.rate.quantize(RATE_QUANTUM)
        if old == value:
            continue
        if old is None:
            added += 1
        else:
            changed += 1
        rows.append(FxReferenceRate(day=item.day, currency=item.currency, rate=value))
    for start in range(0, len(rows), LOAD_BATCH):
        FxReferenceRate.objects.bulk_create(
            rows[start : start + LOAD_BATCH],
            update_conflicts=True,
            unique_fields=["currency", "day"],
            update_fields=["rate", "updated_at"],
        )
    if rows:
        reference_data_changed()
    return LoadSummary(
        added=added,
        changed=changed,
        unchanged=len(rates) - added - changed,
        first_day=first,
        last_day=last,
        currencies=tuple(sorted({rate.currency for rate in rates})),
    )
