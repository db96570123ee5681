"""The rollup side of ``get_report`` (``conversions.reports``): the click and conversion
sums a report needs, read from ``ClickRollup`` and ``DailyRollup`` when the asked dimensions
and filters are ones they are keyed on. Same row keys and sums as the raw side of
``conversions.reports._aggregate``, which ``tests/conversions/test_reports.py`` compares
against a plain aggregate of raw rows."""

from __future__ import annotations

from typing import Any

from django.db.models import Case, CharField, DateField, F, Sum, Value, When
from django.db.models.functions import TruncMonth, TruncWeek

from audit.actor import Actor
from conversions.click_rollups import level_for
from conversions.models import (
    UNCOUNTED_STATUSES,
    ClickRollup,
    ConversionStatus,
    DailyRollup,
)
from conversions.stats import Period
from offers.models import Offer
from partners.models import Partner

# Conversion metrics the daily rollups hold exactly (conversions are never pruned), by the
# dimensions they are keyed on; EPC and CVR need only their conversions and payout (and the
# click side's billable clicks). Fraud scores are not in the rollups: those reports read rows.
ROLLUP_METRICS = frozenset(
    {"conversions", "sale_amount", "revenue", "payout", "profit", "flagged_conversions"}
)
CLICK_SIDE = frozenset({"clicks", "billable_clicks", "refused_clicks", "epc", "cvr"})
ROLLUP_KEYS = frozenset({"day", "week", "month", "offer", "partner", "currency"})


def conversion_rollup_served(metrics: list[str], keys: list[str], filters: dict[str, Any]) -> bool:
    return (
        set(metrics) - CLICK_SIDE <= ROLLUP_METRICS
        and set(keys) <= ROLLUP_KEYS
        and set(filters) <= {"offer", "partner"}
    )


def rollup_conversions(
    *, actor: Actor, period: Period, keys: list[str], filters: dict[str, Any]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The conversion sums of ``reports._aggregate`` from ``DailyRollup`` (summed over
    stripes): a key is present when it has a conversion of any status, as on raw rows."""
    rows = DailyRollup.objects.filter(
        brand_id=actor.brand_id, day__gte=period.date_from, day__lte=period.date_to
    )
    for name, value in filters.items():
        rows = rows.filter(**{f"{name}_id": value})  # offer and partner, as ids

    def total(measure: str, statuses: tuple[str, ...]) -> Any:
        return Sum(
            sum(
                (F(f"{status}_{measure}") for status in statuses[1:]), F(f"{statuses[0]}_{measure}")
            )
        )

    counted = tuple(
        status for status in ConversionStatus.values if status not in UNCOUNTED_STATUSES
    )
    sums = {
        "n_all": total("count", tuple(ConversionStatus.values)),
        "n_conversions": total("count", counted),
        "s_sale": total("sale", counted),
        "s_revenue": total("revenue", counted),
        "s_payout": total("payout", counted),
        "n_flagged": Sum("conversions_flagged"),
    }
    columns: dict[str, Any] = {
        "day": F("day"),
        "week": TruncWeek("day", output_field=DateField()),
        "month": TruncMonth("day", output_field=DateField()),
        "offer": F("offer__slug"),
        "partner": F("partner__slug"),
        "currency": F("currency"),
    }
    if not keys:
        only = rows.aggregate(**sums)
        return {(): only} if only["n_all"] else {}
    annotations = {f"key_{name}": columns[name] for name in keys}
    grouped = rows.annotate(**annotations).values(*annotations).annotate(**sums).order_by()
    return {tuple(row[f"key_{name}"] for name in keys): row for row in grouped if row["n_all"]}


# Click metrics ``ClickRollup`` holds, by the dimensions its levels are keyed on (day buckets
# derive from its day; currency from its offer, frozen once the offer has traffic); each report
# reads the smallest level that keeps the dimensions asked for (``level_for``).
EVERY_LEVEL = frozenset({"day", "week", "month", "currency"})


def _click_level(keys: list[str], filters: dict[str, Any]) -> int | None:
    return level_for({*keys, *filters} - EVERY_LEVEL)


def click_rollup_served(keys: list[str], filters: dict[str, Any]) -> bool:
    return _click_level(keys, filters) is not None


def rollup_clicks(
    *, actor: Actor, period: Period, keys: list[str], filters: dict[str, Any]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The click counts of ``reports._aggregate`` from ``ClickRollup``: grouped in the
    database by the rollup's own columns (ids, days, weeks, months, currencies), then labelled
    (slugs) and merged in Python over the groups that come back. A key is present when it
    has a click."""
    level = _click_level(keys, filters)
    if level is None:
        raise ValueError(f"no click rollup level holds {keys} and {sorted(filters)}")
    rows = ClickRollup.objects.filter(
        brand_id=actor.brand_id,
        level=level,
        day__gte=period.date_from,
        day__lte=period.date_to,
    )
    for name, value in filters.items():
        # offer and partner arrive as ids (``reports.report`` resolved the slugs)
        rows = rows.filter(**{f"{name}_id" if name in ("offer", "partner") else name: value})
    # Currency is the offer's: labelled in the database (one group per currency, not per
    # offer), from the brand's offers read once; a click that named no offer has none.
    offers = {
        pk: (slug, currency)
        for pk, slug, currency in Offer.objects.filter(brand_id=actor.brand_id).values_list(
            "pk", "slug", "currency"
        )
    }
    by_currency: dict[str, list[int]] = {}
    for pk, (_, currency) in offers.items():
        by_currency.setdefault(currency, []).append(pk)
    columns: dict[str, Any] = {
        "day": F("day"),
        "week": TruncWeek("day", output_field=DateField()),
        "month": TruncMonth("day", output_field=DateField()),
        "offer": F("offer_id"),
        "partner": F("partner_id"),
        "currency": Case(
            *(When(offer_id__in=ids, then=Value(code)) for code, ids in by_currency.items()),
            default=Value(None),
            output_field=CharField(),
        ),
        "country": F("country"),
        "device": F("device"),
        "outcome": F("outcome"),
    }
    annotations = {f"key_{name}": columns[name] for name in keys}
    sums = {
        "n_clicks": Sum("clicks"),
        "n_billable": Sum("billable_clicks"),
        "n_refused": Sum("refused_clicks"),
    }
    grouped = (
        list(rows.annotate(**annotations).values(*annotations).annotate(**sums).order_by())
        if keys
        else [rows.aggregate(**sums)]
    )
    partners: dict[int, str] = {}
    if "partner" in keys:
        ids = {row["key_partner"] for row in grouped}
        partners = dict(Partner.objects.filter(pk__in=ids).values_list("pk", "slug"))

    def label(name: str, value: Any) -> Any:
        if name == "offer":
            return offers[value][0] if value in offers else None
        return partners.get(value) if name == "partner" else value

    result: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in grouped:
        if not row["n_clicks"]:
            continue  # a key that rebuilds brought to zero, or no rows at all
        key = tuple(label(name, row[f"key_{name}"]) for name in keys)
        merged = result.setdefault(key, {"n_clicks": 0, "n_billable": 0, "n_refused": 0})
        for measure in merged:
            merged[measure] += row[measure] or 0
    return result
