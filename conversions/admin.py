"""Clicks, conversions, payouts and postback deliveries in the admin. Rows are written by the
click handler, the postback endpoint and the workers; staff act on them only through admin
actions that call the domain services (approve/reject, payouts, delivery replay), so every
change is audited as ``user:<id>``."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import quote, unquote
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from backoffice.admin_base import (
    BrandScopedAdmin,
    ReadOnlyBrandAdmin,
    ServiceModelForm,
    admin_actor,
    brand_access,
    brand_list_filter,
    related_filter,
    service_action,
)
from backoffice.admin_columns import joined, money, related_slug, when
from conversions.forms import (
    GeneratePayoutsForm,
    LedgerAdjustmentForm,
    MarkPaidForm,
    ReverseForm,
)
from conversions.ledger import ledger_adjustment_create
from conversions.models import (
    Click,
    Conversion,
    ConversionReviewQueue,
    ConversionStatus,
    LedgerEntry,
    Payout,
    PostbackAttempt,
    PostbackDelivery,
)
from conversions.payouts import payout_mark_paid, payout_void, payouts_generate
from conversions.reversals import conversion_reverse
from conversions.services import conversion_approve, conversion_reject, delivery_replay
from conversions.statements import payout_statement, statement_content_disposition
from core.errors import DomainError

SUB_IDS = ("sub1", "sub2", "sub3", "sub4", "sub5")


@admin.register(Click)
class ClickAdmin(ReadOnlyBrandAdmin):
    list_display = (
        "id",
        when("created_at", description="recorded"),
        related_slug("brand"),
        related_slug("offer"),
        related_slug("partner"),
        "outcome",
        "country",
        "device_class",
        "fraud_score",
        "is_billable",
    )
    list_select_related = ("brand", "offer", "partner")
    list_filter = ("outcome", "is_billable", "device_class", brand_list_filter())
    search_fields = ("=id", "offer__slug", "partner__slug", "sub1")
    ordering = ("-created_at", "-id")
    date_hierarchy = "created_at"
    fieldsets = (
        (
            None,
            {"fields": ("id", "brand", "offer", "partner", "created_at", "outcome", "is_billable")},
        ),
        ("Visitor", {"fields": ("ip", "country", "device_class", "user_agent", "referrer")}),
        ("Sub ids", {"fields": SUB_IDS}),
        ("Fraud", {"fields": ("fraud_score", "fraud_signals")}),
    )


class ActionOnlyAdmin(BrandScopedAdmin):
    """View-only pages; the only writes are admin actions that call services."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [field.name for field in self.model._meta.fields]


class ReviewActionsMixin:
    approve = service_action(
        conversion_approve,
        target="conversion",
        description="Approve selected conversions",
        done="Approved {count} conversion(s).",
        select_related=("offer", "partner"),
    )
    reject = service_action(
        conversion_reject,
        target="conversion",
        description="Reject selected conversions",
        done="Rejected {count} conversion(s).",
        reason="rejected in admin",
    )


@admin.register(Conversion)
class ConversionAdmin(ReviewActionsMixin, ActionOnlyAdmin):
    actions = ("approve", "reject", "reverse")

    @admin.action(
        description="Reverse selected conversions (refund, chargeback…)…", permissions=["write"]
    )
    def reverse(self, request: HttpRequest, queryset: QuerySet[Conversion]) -> HttpResponse | None:
        form = ReverseForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            self.run_action(
                request,
                queryset,
                lambda actor, row: conversion_reverse(
                    actor=actor, conversion=row, **form.cleaned_data
                ),
                done="Reversed {count} conversion(s); the reversals come off the next payouts.",
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "conversions": queryset.select_related("partner"),
            "title": "Reverse conversions",
            "opts": self.model._meta,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/conversions/conversion/reverse.html", context)

    # What a reviewer scans for; the event type, txn id and the rest are on the row's page,
    # the event type in the filters, the txn id in the search.
    list_display = (
        "id",
        when("created_at", description="recorded"),
        related_slug("brand"),
        related_slug("offer"),
        related_slug("partner"),
        money("sale_amount", description="sale"),
        money("payout", description="payout"),
        "status",
        "fraud_score",
    )
    list_select_related = ("brand", "offer", "partner")
    list_filter = ("status", "event_type", brand_list_filter(), related_filter("offer"))
    search_fields = ("=id", "txn_id", "offer__slug", "partner__slug", "=click__id")
    ordering = ("-created_at", "-id")
    date_hierarchy = "created_at"
    fieldsets = (
        (
            None,
            {"fields": ("id", "brand", "offer", "partner", "event_type", "txn_id", "created_at")},
        ),
        (
            "Money",
            {
                "fields": (
                    "sale_amount",
                    "currency",
                    "original_amount",
                    "original_currency",
                    "fx_rate",
                    "payout",
                    "revenue",
                    "payout_batch",
                )
            },
        ),
        (
            "Status",
            {
                "fields": (
                    "status",
                    "status_reason",
                    "pending_review_at",
                    "approved_at",
                    "rejected_at",
                    "paid_at",
                    "reversed_at",
                )
            },
        ),
        ("Attribution", {"fields": ("click", "coupon", "attribution")}),
        ("Fraud", {"fields": ("fraud_score", "fraud_reasons", "fraud_cleared_by")}),
        ("Sub ids", {"fields": SUB_IDS}),
    )


@admin.register(ConversionReviewQueue)
class ConversionReviewQueueAdmin(ReviewActionsMixin, ActionOnlyAdmin):
    actions = ("approve", "reject")
    # No brand column: the dashboard opens the queue filtered to its brand, and the brand
    # filter is beside the list; the width goes to the fraud signals a reviewer decides by.
    list_display = (
        "id",
        when("created_at", description="recorded"),
        related_slug("offer"),
        related_slug("partner"),
        money("sale_amount", description="sale"),
        money("payout", description="payout"),
        "state",
        "fraud_score",
        "fraud_signals",
    )
    list_select_related = ("brand", "offer", "partner")
    list_filter = ("status", "status_reason", brand_list_filter())
    ordering = ("created_at", "id")

    def get_queryset(self, request: HttpRequest) -> QuerySet[ConversionReviewQueue]:
        return (
            super()
            .get_queryset(request)
            .filter(status__in=[ConversionStatus.PENDING, ConversionStatus.PENDING_REVIEW])
        )

    @admin.display(description="status", ordering="status")
    def state(self, obj: Conversion) -> str:
        """The status with its reason in one column: "Pending review (fraud_review)"."""
        status = obj.get_status_display()
        return f"{status} ({obj.status_reason})" if obj.status_reason else status

    @admin.display(description="fraud signals")
    def fraud_signals(self, obj: Conversion) -> str:
        return ", ".join(str(signal.get("signal")) for signal in obj.fraud_reasons) or "—"


@admin.register(Payout)
class PayoutAdmin(ActionOnlyAdmin):
    actions = ("mark_paid", "void")
    change_list_template = "admin/conversions/payout/change_list.html"

    def get_urls(self) -> list[Any]:
        return [
            path(
                "generate/",
                self.admin_site.admin_view(self.generate_view),
                name="conversions_payout_generate",
            ),
            path(
                "<path:object_id>/statement.csv",
                self.admin_site.admin_view(self.statement_view),
                name="conversions_payout_statement",
            ),
            *super().get_urls(),
        ]

    def statement_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The partner statement CSV, for any member of the payout's brand (a read)."""
        payout = (
            self.get_queryset(request).select_related("brand").filter(pk=unquote(object_id)).first()
        )
        if payout is None or not self.has_view_permission(request, payout):
            raise Http404("No such payout.")
        statement = payout_statement(actor=admin_actor(request, payout.brand), payout_id=payout.pk)
        response = HttpResponse(statement.content, content_type=statement.content_type)
        response["Content-Disposition"] = statement_content_disposition(statement)
        return response

    @admin.display(description="statement")
    def statement_link(self, obj: Payout) -> str:
        url = reverse("admin:conversions_payout_statement", args=[quote(obj.pk)])
        return format_html('<a href="{}" download>Download statement (CSV)</a>', url)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [*super().get_readonly_fields(request, obj), "statement_link"]

    def generate_view(self, request: HttpRequest) -> HttpResponse:
        brands = brand_access(request).writable_brands()
        if not self.has_write_permission(request):
            return HttpResponseRedirect(reverse("admin:conversions_payout_changelist"))
        form = GeneratePayoutsForm(request.POST or None, brands=brands)
        if request.method == "POST" and form.is_valid():
            brand = form.cleaned_data["brand"]
            try:
                payouts = payouts_generate(
                    actor=admin_actor(request, brand), up_to=form.cleaned_data["up_to"]
                )
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"Generated {len(payouts)} payout(s).", messages.SUCCESS)
                for skip in getattr(payouts, "skipped", []):
                    self.message_user(request, skip["message"], messages.WARNING)
                return HttpResponseRedirect(reverse("admin:conversions_payout_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": "Generate payouts",
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/conversions/payout/generate.html", context)

    @admin.action(description="Mark selected payouts paid…", permissions=["write"])
    def mark_paid(self, request: HttpRequest, queryset: QuerySet[Payout]) -> HttpResponse | None:
        form = MarkPaidForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            self.run_action(
                request,
                queryset,
                lambda actor, payout: payout_mark_paid(
                    actor=actor, payout=payout, **form.cleaned_data
                ),
                done="Marked {count} payout(s) paid; their conversions are paid too.",
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "payouts": queryset,
            "title": "Mark payouts paid",
            "opts": self.model._meta,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/conversions/payout/mark_paid.html", context)

    void = service_action(
        payout_void,
        target="payout",
        description="Void selected payouts (release their conversions)",
        done="Voided {count} payout(s).",
    )

    list_display = (
        "id",
        related_slug("brand"),
        related_slug("partner"),
        money("amount", description="amount"),
        "period_start",
        "period_end",
        "status",
        when("paid_at", description="paid"),
        "statement_link",
    )
    list_select_related = ("brand", "partner")
    list_filter = ("status", brand_list_filter(), related_filter("partner"))
    search_fields = ("=id", "partner__slug", "reference")
    ordering = ("-created_at", "-id")
    fields = (
        "id",
        "brand",
        "partner",
        "amount",
        "currency",
        "period_start",
        "period_end",
        "status",
        "method",
        "reference",
        "notes",
        "paid_at",
        "created_at",
        "updated_at",
        "statement_link",
    )


@admin.register(LedgerEntry)
class LedgerEntryAdmin(BrandScopedAdmin):
    """The partner ledger, read-only (entries never change); "Add" writes a manual adjustment
    through ``ledger_adjustment_create`` (docs/ledger.md)."""

    admin_add = True
    add_form = LedgerAdjustmentForm
    list_display = (
        "id",
        when("created_at", description="written"),
        related_slug("brand"),
        related_slug("partner"),
        "kind",
        money("amount", description="amount"),
        # what the entry is about: two columns of ids made the list scroll at 1366 px
        joined("conversion_id", "payout_id", description="conversion / payout", first_only=True),
        "reason_code",
    )
    list_select_related = ("brand", "partner")
    list_filter = ("kind", brand_list_filter(), related_filter("partner"))
    search_fields = ("=id", "partner__slug", "=conversion__id", "=payout__id", "note")
    ordering = ("-created_at", "-id")
    add_fieldsets = ((None, {"fields": ("partner", "currency", "amount", "note")}),)

    fields = (
        "id",
        "brand",
        "partner",
        "kind",
        "currency",
        "amount",
        "conversion",
        "payout",
        "reason_code",
        "note",
        "created_by",
        "created_at",
    )
    readonly_fields = fields

    def perform_write(
        self, request: HttpRequest, form: ServiceModelForm, obj: LedgerEntry | None
    ) -> LedgerEntry:
        data = form.cleaned_data
        partner = data["partner"]
        return ledger_adjustment_create(
            actor=admin_actor(request, partner.brand),
            partner=partner,
            currency=data["currency"],
            amount=data["amount"],
            reason=data["note"],
        )


@admin.register(PostbackDelivery)
class PostbackDeliveryAdmin(ActionOnlyAdmin):
    actions = ("replay",)

    replay = service_action(
        delivery_replay,
        target="delivery",
        description="Replay selected failed/dead deliveries",
        done="Queued {count} delivery(ies) for another attempt.",
    )

    list_display = (
        "id",
        when("created_at", description="created"),
        related_slug("brand"),
        joined("kind", "event", description="kind: event"),  # one column fits 1366 px
        "conversion_id",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        when("next_attempt_at", description="next attempt"),
    )
    list_select_related = ("brand",)
    list_filter = ("status", "kind", brand_list_filter())
    search_fields = ("=conversion__id",)
    ordering = ("-created_at", "-id")
    fields = (
        "brand",
        "kind",
        "event",
        "conversion",
        "endpoint",
        "url",
        "body",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "delivered_at",
        "created_at",
        "updated_at",
    )


@admin.register(PostbackAttempt)
class PostbackAttemptAdmin(ReadOnlyBrandAdmin):
    """The inbound postback log (conversions.postback_log): every answered postback, accepted
    or refused, for "why was my postback not counted?". Written by the postback endpoint's
    worker and pruned after TRCKER_POSTBACK_LOG_DAYS; parameters are stored redacted."""

    list_display = (
        when("created_at", description="received"),
        related_slug("brand"),
        "offer_slug",
        "outcome",
        "http_status",
        "click_id",
        "txn_id",
    )
    list_select_related = ("brand",)
    list_filter = ("outcome", "http_status", brand_list_filter())
    search_fields = ("=click_id", "txn_id", "=conversion_id", "offer_slug", "=request_id")
    ordering = ("-created_at", "-id")
    date_hierarchy = "created_at"
    fields = (
        "brand",
        "created_at",
        "method",
        "offer_slug",
        "outcome",
        "http_status",
        "conversion_id",
        "click_id",
        "txn_id",
        "params",
        "ip",
        "request_id",
    )
