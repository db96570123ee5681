"""The audit log in the admin: readable by each brand's staff, writable by nobody (superusers
included). Rows are appended only by audit_record() inside the audited write's transaction;
editing one would break the brand's hash chain. AuditChainHead is internal and not shown."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from audit.models import AuditEvent
from backoffice.admin_base import ReadOnlyBrandAdmin, brand_list_filter
from backoffice.admin_columns import related_slug, when


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyBrandAdmin):
    # The chain position (seq) and the IP address are on the event's page.
    list_display = (
        when("created_at", description="when"),
        related_slug("brand"),
        "action",
        "target",
        "actor_label",
        "channel",
    )
    list_select_related = ("brand",)
    list_filter = ("channel", "actor_kind", "target_type", brand_list_filter())
    search_fields = ("action", "target_id", "actor_label", "=request_id")
    ordering = ("-created_at", "-id")
    date_hierarchy = "created_at"
    fieldsets = (
        (None, {"fields": ("brand", "seq", "created_at", "action", "target_type", "target_id")}),
        ("Change", {"fields": ("changes_pretty",)}),
        (
            "Actor",
            {
                "fields": (
                    "actor_kind",
                    "actor_label",
                    "actor_detail",
                    "channel",
                    "ip",
                    "user_agent",
                    "request_id",
                )
            },
        ),
        (
            "Hashes",
            {"fields": ("content_hash", "content_key_id", "prev_hash", "hash", "link_key_id")},
        ),
    )
    readonly_fields = ("changes_pretty",)

    @admin.display(description="target", ordering="target_id")
    def target(self, obj: AuditEvent) -> str:
        return f"{obj.target_type}:{obj.target_id}"

    @admin.display(description="changes (old → new)")
    def changes_pretty(self, obj: AuditEvent) -> str:
        return format_html(
            "<pre>{}</pre>", json.dumps(obj.changes, indent=2, sort_keys=True, ensure_ascii=False)
        )
