"""The partner portal's pages (docs/partners.md): thin views over ``conversions.portal``'s
partner-confined reads, each behind ``portal_page`` (this brand's sign-in, the partner actor,
not-found for anything that is not the partner's own).

Query parameters are untrusted: an unknown period or status falls back to the default with a
note instead of an error page, and over-long or malformed sub ids are refused by the builder's
form; nothing a visitor types can make a page fail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from backoffice.charts import Chart, chart
from conversions import statements
from conversions.models import SUB_ID_MAX, ConversionStatus
from conversions.partner_selectors import partner_balance
from conversions.portal import (
    DEFAULT_DAYS,
    PERIOD_DAYS,
    Performance,
    portal_conversion_get,
    portal_conversion_list,
    portal_coupon_list,
    portal_offer_links,
    portal_payout_list,
    portal_performance,
    portal_statement,
)
from core.errors import ValidationError
from partner_portal.access import Portal, portal_page
from partners.self_service import partner_build_link

SUB_FIELDS = ("sub1", "sub2", "sub3", "sub4", "sub5")
GET = require_http_methods(["GET", "HEAD"])


def _days(request: HttpRequest) -> tuple[int, str]:
    """The period picked in ``?days=`` (7, 30 or 90), else the default and why."""
    raw = request.GET.get("days", "")
    if not raw:
        return DEFAULT_DAYS, ""
    if raw.isdigit() and len(raw) < 4 and int(raw) in PERIOD_DAYS:
        return int(raw), ""
    return DEFAULT_DAYS, f"Showing {DEFAULT_DAYS} days: pick 7, 30 or 90."


def _count(value: Decimal | int) -> str:
    return f"{value:,}"


def _money(value: Decimal | int) -> str:
    return f"{Decimal(value):,.2f}"


def _ratio_text(value: Decimal | int) -> str:
    return f"{Decimal(value):.4f}"


def _percent(value: Decimal | int) -> str:
    return f"{Decimal(value) * 100:.2f}%"


@dataclass(frozen=True)
class Card:
    """One metric of the home page: its total over the period and its daily chart."""

    key: str
    label: str
    total: str
    currency: str
    chart: Chart


def _ratio_series(numerators: list[Any], denominators: list[int]) -> list[Decimal]:
    return [
        (Decimal(top) / Decimal(bottom)).quantize(Decimal("0.0001")) if bottom else Decimal(0)
        for top, bottom in zip(numerators, denominators, strict=True)
    ]


def _cards(perf: Performance) -> list[Card]:
    """Clicks and conversions, then earnings and EPC per currency, then CVR."""

    def card(
        key: str,
        label: str,
        total: str,
        values: list[Any],
        fmt: Callable[[Any], str],
        *,
        kind: str = "line",
        currency: str = "",
    ) -> Card:
        suffix = f"-{currency}" if currency else ""
        drawn = chart(
            chart_id=f"portal-{key}{suffix}",
            kind=kind,
            title=f"{label} ({currency})" if currency else label,
            days=perf.days,
            values=values,
            fmt=fmt,
            timezone=perf.period.timezone,
        )
        return Card(key=key, label=label, total=total, currency=currency, chart=drawn)

    totals = perf.totals
    cards = [
        card("clicks", "Clicks", _count(totals["clicks"]), perf.clicks, _count, kind="bar"),
        card(
            "conversions",
            "Conversions",
            _count(totals["conversions"]),
            perf.conversions,
            _count,
            kind="bar",
        ),
    ]
    for currency, series in perf.earnings.items():
        money = totals["earnings"][currency]
        cards += [
            card(
                "earnings", "Earnings", _money(money["payout"]), series, _money, currency=currency
            ),
            card(
                "epc",
                "EPC",
                _ratio_text(money["epc"]),
                _ratio_series(series, perf.clicks),
                _ratio_text,
                currency=currency,
            ),
        ]
    cvr = _ratio_series(perf.conversions, perf.clicks)
    cards.append(card("cvr", "CVR", _percent(totals["cvr"]), cvr, _percent))
    return cards


@portal_page
@GET
def home(request: HttpRequest, portal: Portal) -> HttpResponse:
    days, note = _days(request)
    perf = portal_performance(actor=portal.actor, days=days)
    for row in [*perf.by_offer, *perf.by_sub]:
        row["cvr_percent"] = row["cvr"] * 100
    return render(
        request,
        "partner_portal/home.html",
        portal.context(
            perf=perf,
            cards=_cards(perf),
            days=days,
            day_choices=PERIOD_DAYS,
            period_note=note,
            page="home",
        ),
    )


class LinkBuilderForm(forms.Form):
    def __init__(self, *args: Any, offers: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["offer"] = forms.ChoiceField(label="Offer", choices=offers)
        self.fields["url"] = forms.CharField(
            label="Landing page (deep link)",
            max_length=2048,
            required=False,
            strip=True,
            help_text="A page on a host the offer allows (listed beside each link above); "
            "empty: the offer's own page.",
        )
        for name in SUB_FIELDS:
            self.fields[name] = forms.CharField(
                label=name, max_length=SUB_ID_MAX, required=False, strip=True
            )


@portal_page
@GET
def links(request: HttpRequest, portal: Portal) -> HttpResponse:
    offers = portal_offer_links(actor=portal.actor)
    choices = [(offer.offer_id, f"{offer.name} ({offer.offer_id})") for offer in offers]
    built = ""
    form = LinkBuilderForm(offers=choices, initial={"offer": choices[0][0] if choices else ""})
    if "offer" in request.GET and choices:
        form = LinkBuilderForm(request.GET, offers=choices)
        if form.is_valid():
            data = form.cleaned_data
            try:
                built = partner_build_link(
                    actor=portal.actor,
                    offer_id=data["offer"],
                    url=data["url"],
                    **{name: data[name] for name in SUB_FIELDS},
                )["tracking_link"]
            except ValidationError as refused:
                form.add_error("url", refused.message)
    return render(
        request,
        "partner_portal/links.html",
        portal.context(offers=offers, form=form, built=built, page="links"),
    )


@portal_page
@GET
def conversions(request: HttpRequest, portal: Portal) -> HttpResponse:
    days, note = _days(request)
    status = request.GET.get("status", "")
    if status not in ConversionStatus.values:
        note = note or ("Showing every status." if status else "")
        status = ""
    rows = portal_conversion_list(actor=portal.actor, days=days, status=status or None)
    return render(
        request,
        "partner_portal/conversions.html",
        portal.context(
            rows=rows,
            days=days,
            day_choices=PERIOD_DAYS,
            status=status,
            statuses=ConversionStatus.choices,
            period_note=note,
            page="conversions",
        ),
    )


@portal_page
@GET
def conversion_detail(request: HttpRequest, portal: Portal, conversion_id: str) -> HttpResponse:
    row = portal_conversion_get(actor=portal.actor, conversion_id=conversion_id[:64])
    subs = [(name, getattr(row, name)) for name in SUB_FIELDS if getattr(row, name)]
    return render(
        request,
        "partner_portal/conversion.html",
        portal.context(row=row, subs=subs, page="conversions"),
    )


@portal_page
@GET
def payouts(request: HttpRequest, portal: Portal) -> HttpResponse:
    rows = list(portal_payout_list(actor=portal.actor)[:200])
    balance = partner_balance(actor=portal.actor)
    return render(
        request,
        "partner_portal/payouts.html",
        portal.context(rows=rows, balance=balance, page="payouts"),
    )


@portal_page
@GET
def statement(request: HttpRequest, portal: Portal, payout_id: str) -> HttpResponse:
    result = portal_statement(actor=portal.actor, payout_id=payout_id[:64])
    response = HttpResponse(result.content, content_type=result.content_type)
    response["Content-Disposition"] = statements.statement_content_disposition(result)
    return response


@portal_page
@GET
def coupons(request: HttpRequest, portal: Portal) -> HttpResponse:
    rows = list(portal_coupon_list(actor=portal.actor)[:500])
    return render(request, "partner_portal/coupons.html", portal.context(rows=rows, page="coupons"))
