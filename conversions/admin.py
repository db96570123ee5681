"""Clicks, conversions, payouts and postback deliveries: read-only reports for the brand's
staff. Their writes belong to the click handler, the postback endpoint and the workers (and,
later, to conversion/payout actions that will call services like everything else)."""

from __future__ import annotations

from django.contrib import admin

from conversions.models import Click, Conversion, Payout, PostbackDelivery
from trcker_site.admin_base import ReadOnlyBrandAdmin, brand_list_filter, related_filter

SUB_IDS = ("sub1", "sub2", "sub3", "sub4", "sub5")


@admin.register(Click)
class ClickAdmin(ReadOnlyBrandAdmin):
    list_display = (
        "id",
        "created_at",
        "brand",
        "offer",
        "partner",
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


@admin.register(Conversion)
class ConversionAdmin(ReadOnlyBrandAdmin):
    list_display = (
        "id",
        "created_at",
        "brand",
        "offer",
        "partner",
        "event_type",
        "txn_id",
        "sale_amount",
        "payout",
        "currency",
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
        ("Money", {"fields": ("sale_amount", "currency", "payout", "revenue", "payout_batch")}),
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
                )
            },
        ),
        ("Attribution", {"fields": ("click", "coupon", "attribution")}),
        ("Fraud", {"fields": ("fraud_score", "fraud_reasons", "fraud_cleared_by")}),
        ("Sub ids", {"fields": SUB_IDS}),
    )


@admin.register(Payout)
class PayoutAdmin(ReadOnlyBrandAdmin):
    list_display = (
        "id",
        "brand",
        "partner",
        "amount",
        "currency",
        "period_start",
        "period_end",
        "status",
        "paid_at",
        "created_at",
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
    )


@admin.register(PostbackDelivery)
class PostbackDeliveryAdmin(ReadOnlyBrandAdmin):
    list_display = (
        "id",
        "brand",
        "conversion",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    )
    list_select_related = ("brand", "conversion")
    list_filter = ("status", brand_list_filter())
    search_fields = ("=conversion__id",)
    ordering = ("-created_at", "-id")
    fields = (
        "brand",
        "conversion",
        "url",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "delivered_at",
        "created_at",
        "updated_at",
    )
