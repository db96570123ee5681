"""The brand dashboard on the admin index, and its one-click review and replay buttons.

Every number comes from the domain read layer, scoped by an admin actor: the per-day series
(``conversions.stats.daily_series``), top partners and
offers, the fraud summary, the review queue, failed deliveries and the audit log from their
selectors. The buttons POST to small views that call the same services as the admin actions,
with ``admin_actor(...)``, so they are audited as ``user:<id>``; a read-only role gets no
buttons and a 403.

Mounted by ``trcker_site/urls.py`` at ``admin/`` before the admin site itself: the empty path
renders Django's index with the dashboard as extra context (the app list stays below it), and
the POST endpoints live under ``admin/dashboard/``.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.views.decorators.http import require_POST
from redis.exceptions import RedisError

from audit.actor import Actor
from audit.models import AuditEvent
from audit.selectors import audit_event_list
from backoffice.admin_base import admin_actor, brand_access
from backoffice.charts import Chart, chart
from brands.models import Brand
from conversions.models import (
    Conversion,
    ConversionStatus,
    DeliveryStatus,
    PostbackDelivery,
)
from conversions.postback_log import RefusalSummary, refusal_summary
from conversions.selectors import (
    conversion_get_for_actor,
    conversion_pending_list,
    delivery_get_for_actor,
    delivery_list,
)
from conversions.services import conversion_approve, conversion_reject, delivery_replay
from conversions.stats import (
    MONEY_METRICS,
    ZERO,
    DailySeries,
    Period,
    daily_series,
    fraud_summary,
    performance,
    resolve_period,
    top_publishers,
)
from core.errors import DomainError, ValidationError
from integrations.selectors import IntegrationStatus, integration_status_list
from workers.loop import queue_status

DAYS = 30
DAY_CHOICES = (7, 14, 30, 90)
TOP_LIMIT = 5
LIST_LIMIT = 10


def count_text(value: int) -> str:
    return f"{value:,}"


def money_text(value: Decimal | int) -> str:
    return f"{Decimal(value):,.2f}"


# --- the period -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodChoice:
    """The period the request asked for, its previous period of equal length (for the
    comparison), and the message to show when the request's values were refused."""

    current: Period
    previous: Period
    days: int | None  # one of DAY_CHOICES, or None for a custom range
    error: str = ""


def _previous(actor: Actor, period: Period) -> Period:
    length = (period.date_to - period.date_from).days + 1
    before = period.date_from - dt.timedelta(days=1)
    return resolve_period(
        actor=actor, date_from=before - dt.timedelta(days=length - 1), date_to=before
    )


def _requested(actor: Actor, request: HttpRequest) -> tuple[Period, int | None]:
    """``?date_from=&date_to=`` (either may be left out) or ``?days=7|14|30|90``; raises
    ValidationError with a message for the page on anything else."""
    raw_from = request.GET.get("date_from", "").strip()
    raw_to = request.GET.get("date_to", "").strip()
    if raw_from or raw_to:
        try:
            date_from = dt.date.fromisoformat(raw_from) if raw_from else None
            date_to = dt.date.fromisoformat(raw_to) if raw_to else None
        except ValueError:
            raise ValidationError("Dates must be written YYYY-MM-DD.") from None
        return resolve_period(actor=actor, date_from=date_from, date_to=date_to), None
    raw_days = request.GET.get("days", "").strip()
    if not raw_days:
        return resolve_period(actor=actor, days=DAYS), DAYS
    if raw_days not in {str(choice) for choice in DAY_CHOICES}:
        choices = ", ".join(str(choice) for choice in DAY_CHOICES)
        raise ValidationError(f"The period must be {choices} days or a custom range.")
    return resolve_period(actor=actor, days=int(raw_days)), int(raw_days)


def period_choice(actor: Actor, request: HttpRequest) -> PeriodChoice:
    """Never an error page: a refused value shows its message over the default 30 days."""
    error = ""
    try:
        period, days = _requested(actor, request)
        previous = _previous(actor, period)
    except ValidationError as exc:
        error = f"{exc.message} Showing the last {DAYS} days instead."
        period, days = resolve_period(actor=actor, days=DAYS), DAYS
        previous = _previous(actor, period)
    return PeriodChoice(current=period, previous=previous, days=days, error=error)


def change_text(current: Decimal | int, previous: Decimal | int, fmt: Callable) -> str:
    """ "+12 (+25.0%)" against the previous period; "no data before" when it had nothing."""
    delta = current - previous
    sign = "+" if delta > 0 else ""
    absolute = sign + fmt(delta)
    if not previous:
        return f"{absolute} (none in the previous period)" if current else "no change"
    percent = Decimal(delta) * 100 / abs(Decimal(previous))
    return f"{absolute} ({sign}{percent:.1f}%)"


# --- the page ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    total: str
    chart: Chart
    currency: str = ""
    previous: str = ""  # the previous period's total, and the change against it
    change: str = ""


@dataclass
class Dashboard:
    brand: Brand
    brands: list[Brand]
    period: Period
    previous_period: Period
    period_days: int | None  # the picked choice of DAY_CHOICES; None for a custom range
    period_error: str
    can_write: bool
    series: DailySeries
    previous_series: DailySeries
    currencies: list[tuple[str, str]]  # the switch: (code, link), the brand's first
    currency: str  # the one the amounts are shown in
    currency_error: str
    metrics: list[Metric]
    top_partners: list[dict[str, Any]]
    top_offers: list[dict[str, Any]]
    fraud: dict[str, Any]
    # The review queue in two: held by fraud scoring, and everything else waiting (pending,
    # or held for another reason such as a soft cap), each oldest first or by score.
    fraud_holds: list[Conversion]
    fraud_holds_total: int
    pending: list[Conversion]
    pending_total: int
    queue_sort: str  # "" (oldest first) or "score" (highest fraud score first)
    deliveries: list[PostbackDelivery]
    deliveries_total: int
    audit_events: list[AuditEvent]
    links: dict[str, str] = field(default_factory=dict)
    queue: dict[str, Any] | None = None  # operators (superusers) only: it spans every brand
    # Inbound postbacks refused in the period: the latest and the count per reason code.
    refused_postbacks: RefusalSummary | None = None
    # Stripe and Shopify: connected or not, last event, the last 7 days by outcome.
    integrations: list[IntegrationStatus] = field(default_factory=list)

    @property
    def show_switcher(self) -> bool:
        return len(self.brands) > 1

    @property
    def day_choices(self) -> tuple[int, ...]:
        return DAY_CHOICES

    @property
    def days(self) -> int:
        return (self.period.date_to - self.period.date_from).days + 1


def dashboard_url(brand: Brand) -> str:
    return f"{reverse('admin:index')}?{urlencode({'brand': brand.slug})}"


def dashboard_brands(request: HttpRequest) -> list[Brand]:
    """The brands the user may open: their memberships; every brand for superusers."""
    access = brand_access(request)
    brands = Brand.objects.all()
    if not access.is_superuser:
        brands = brands.filter(pk__in=access.readable_ids)
    return list(brands.order_by("slug"))


def dashboard_currencies(series: DailySeries, previous: DailySeries, brand: Brand) -> list[str]:
    """The currencies the switch offers: the brand's first (even before its first sale), then
    those with data in the period or the previous one, by code."""
    codes = {brand.currency, *series.money, *previous.money}
    return sorted(codes, key=lambda code: (code != brand.currency, code))


def _currency(request: HttpRequest, currencies: list[str]) -> tuple[str, str]:
    """``?currency=`` among ``currencies`` (default the brand's, listed first), and the
    message when the request named another one."""
    wanted = request.GET.get("currency", "").strip().upper()
    if not wanted or wanted in currencies:
        return wanted or currencies[0], ""
    return currencies[0], f"No amounts in that currency; showing {currencies[0]}."


def _metrics(
    series: DailySeries, previous: DailySeries, period: Period, currency: str
) -> list[Metric]:
    # Amounts in one currency at a time (the switch): sums across currencies mean nothing.
    flat = {metric: [ZERO] * len(series.days) for metric in MONEY_METRICS}

    def make(key: str, label: str, kind: str, fmt: Callable, currency: str = "") -> Metric:
        def of(source: DailySeries) -> list:
            return source.money.get(currency, flat)[key] if currency else getattr(source, key)

        title = f"{label} ({currency})" if currency else label
        zero = ZERO if currency else 0
        values, earlier = of(series), of(previous)
        total, before = sum(values, zero), sum(earlier, zero)
        return Metric(
            key=key,
            label=label,
            total=fmt(total),
            previous=fmt(before),
            change=change_text(total, before, fmt),
            currency=currency,
            chart=chart(
                chart_id=f"chart-{key}{'-' + currency.lower() if currency else ''}",
                kind=kind,
                title=title,
                days=series.days,
                values=values,
                fmt=fmt,
                timezone=period.timezone,
                # The comparison is always on (the totals above compare too): day i of the
                # previous period under day i of this one.
                previous_days=previous.days,
                previous_values=earlier,
            ),
        )

    metrics = [
        make("clicks", "Clicks", "bar", count_text),
        make("conversions", "Conversions", "bar", count_text),
    ]
    for metric in MONEY_METRICS:
        metrics.append(make(metric, metric.capitalize(), "line", money_text, currency))
    return metrics


def _in_currency(rows: list[dict[str, Any]], currency: str) -> list[dict[str, Any]]:
    """The first TOP_LIMIT ranked rows in ``currency``, ranked again among themselves, with
    the CVR as a percentage for the table (the selectors give a fraction, 0.0123)."""
    kept = [row for row in rows if row["currency"] == currency][:TOP_LIMIT]
    return [
        {**row, "rank": index + 1, "cvr_percent": row["cvr"] * 100}
        for index, row in enumerate(kept)
    ]


def _top_offers(actor: Actor, period: Period) -> list[dict[str, Any]]:
    rows = performance(actor=actor, by="offer", period=period)
    # The order top_publishers uses for partners: revenue, then conversions, then id.
    rows.sort(
        key=lambda row: (row["revenue"], row["conversions"], row["offer_id"] or ""), reverse=True
    )
    return [{"rank": index + 1, **row} for index, row in enumerate(rows)]


def _fraud(actor: Actor, period: Period) -> dict[str, Any]:
    summary = fraud_summary(actor=actor, period=period, limit=TOP_LIMIT)
    for row in summary["top_risk_partners"]:
        row["flagged_percent"] = row["flagged_share"] * 100
    return summary


# A fraud hold is what conversions.services.conversion_record holds on a score over the
# brand's threshold in review mode: pending_review with the reason "fraud_review".
FRAUD_HOLD = {"status": ConversionStatus.PENDING_REVIEW, "status_reason": "fraud_review"}
SORTS = {"": ("created_at", "pk"), "score": ("-fraud_score", "created_at", "pk")}


def _review_queue(actor: Actor, sort: str) -> dict[str, Any]:
    queue = conversion_pending_list(actor=actor).order_by(*SORTS[sort])
    holds, ordinary = queue.filter(**FRAUD_HOLD), queue.exclude(**FRAUD_HOLD)
    return {
        "fraud_holds": list(holds[:LIST_LIMIT]),
        "fraud_holds_total": holds.count(),
        "pending": list(ordinary[:LIST_LIMIT]),
        "pending_total": ordinary.count(),
        "queue_sort": sort,
    }


def _with(request: HttpRequest, **changes: str) -> str:
    """This page's query string with ``changes`` (an empty value drops the parameter)."""
    query = request.GET.copy()
    for key, value in changes.items():
        query.pop(key, None)
        if value:
            query[key] = value
    return f"?{query.urlencode()}" if query else "?"


def _queue(request: HttpRequest) -> dict[str, Any] | None:
    if not request.user.is_superuser:
        return None
    try:
        status = queue_status()
    except RedisError as exc:
        return {"error": type(exc).__name__}
    return status if status.get("enabled") else None


def dashboard_build(request: HttpRequest) -> Dashboard | None:
    """The dashboard of the brand picked by ``?brand=<slug>`` (default: the first of the
    user's brands by slug), or None when the user belongs to no brand. A slug outside the
    user's brands is "not found", exactly like one that does not exist."""
    brands = dashboard_brands(request)
    if not brands:
        return None
    wanted = request.GET.get("brand")
    if wanted:
        brand = next((candidate for candidate in brands if candidate.slug == wanted), None)
        if brand is None:
            raise Http404("No such brand.")
    else:
        brand = brands[0]
    actor = admin_actor(request, brand)
    choice = period_choice(actor, request)
    period = choice.current
    sort = request.GET.get("sort", "")
    deliveries = delivery_list(actor=actor).filter(
        status__in=[DeliveryStatus.FAILED, DeliveryStatus.DEAD]
    )
    brand_filter = urlencode({"brand__id__exact": brand.pk})
    series = daily_series(actor=actor, period=period)
    previous_series = daily_series(actor=actor, period=choice.previous)
    currencies = dashboard_currencies(series, previous_series, brand)
    currency, currency_error = _currency(request, currencies)
    return Dashboard(
        brand=brand,
        brands=brands,
        period=period,
        previous_period=choice.previous,
        period_days=choice.days,
        period_error=choice.error,
        can_write=brand_access(request).can_write(brand.pk),
        series=series,
        previous_series=previous_series,
        currencies=[(code, _with(request, currency=code)) for code in currencies],
        currency=currency,
        currency_error=currency_error,
        metrics=_metrics(series, previous_series, period, currency),
        # Every ranked row (one per partner and currency), then the top ones in the currency.
        top_partners=_in_currency(
            top_publishers(actor=actor, period=period, limit=sys.maxsize), currency
        ),
        top_offers=_in_currency(_top_offers(actor, period), currency),
        fraud=_fraud(actor, period),
        **_review_queue(actor, sort if sort in SORTS else ""),
        deliveries=list(deliveries[:LIST_LIMIT]),
        deliveries_total=deliveries.count(),
        audit_events=list(audit_event_list(actor=actor)[:LIST_LIMIT]),
        queue=_queue(request),
        refused_postbacks=refusal_summary(actor=actor, since=period.start, limit=LIST_LIMIT),
        integrations=integration_status_list(actor=actor),
        links={
            "review_queue": reverse("admin:conversions_conversionreviewqueue_changelist")
            + f"?{brand_filter}",
            "deliveries": reverse("admin:conversions_postbackdelivery_changelist")
            + f"?{brand_filter}",
            "audit": reverse("admin:audit_auditevent_changelist") + f"?{brand_filter}",
            "postback_attempts": reverse("admin:conversions_postbackattempt_changelist")
            + f"?{brand_filter}",
            "integration_events": reverse("admin:integrations_integrationevent_changelist")
            + f"?{brand_filter}",
            "sort_score": _with(request, sort="score"),
            "sort_oldest": _with(request, sort=""),
        },
    )


def index(request: HttpRequest) -> HttpResponse:
    """Django's admin index (app list and all) with the dashboard above it."""
    return admin.site.index(request, extra_context={"dashboard": dashboard_build(request)})


# --- one-click actions ------------------------------------------------------------------------


def _writable_brand(request: HttpRequest, slug: str) -> Brand:
    access = brand_access(request)
    brand = Brand.objects.filter(slug=slug).first()
    if brand is None or not access.can_read(brand.pk):
        raise Http404("No such brand.")
    if not access.can_write(brand.pk):
        raise PermissionDenied("Your role in this brand is read-only.")
    return brand


def _act(request: HttpRequest, slug: str, call: Callable[[Actor], str]) -> HttpResponseRedirect:
    brand = _writable_brand(request, slug)
    try:
        done = call(admin_actor(request, brand))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return HttpResponseRedirect(dashboard_url(brand))


@require_POST
def conversion_approve_view(request: HttpRequest, brand: str, conversion_id: str) -> HttpResponse:
    def call(actor: Actor) -> str:
        conversion = conversion_get_for_actor(actor=actor, conversion_id=conversion_id)
        conversion_approve(actor=actor, conversion=conversion)
        return f"Approved conversion {conversion.pk}."

    return _act(request, brand, call)


@require_POST
def conversion_reject_view(request: HttpRequest, brand: str, conversion_id: str) -> HttpResponse:
    def call(actor: Actor) -> str:
        conversion = conversion_get_for_actor(actor=actor, conversion_id=conversion_id)
        conversion_reject(actor=actor, conversion=conversion, reason="rejected on the dashboard")
        return f"Rejected conversion {conversion.pk}."

    return _act(request, brand, call)


@require_POST
def delivery_replay_view(request: HttpRequest, brand: str, delivery_id: int) -> HttpResponse:
    def call(actor: Actor) -> str:
        delivery = delivery_get_for_actor(actor=actor, delivery_id=delivery_id)
        delivery_replay(actor=actor, delivery=delivery)
        return f"Queued delivery {delivery.pk} for another attempt."

    return _act(request, brand, call)


app_name = "dashboard"
urlpatterns = [
    path("", admin.site.admin_view(index), name="index"),
    path(
        "dashboard/<slug:brand>/conversions/<str:conversion_id>/approve",
        admin.site.admin_view(conversion_approve_view),
        name="conversion-approve",
    ),
    path(
        "dashboard/<slug:brand>/conversions/<str:conversion_id>/reject",
        admin.site.admin_view(conversion_reject_view),
        name="conversion-reject",
    ),
    path(
        "dashboard/<slug:brand>/deliveries/<int:delivery_id>/replay",
        admin.site.admin_view(delivery_replay_view),
        name="delivery-replay",
    ),
]
