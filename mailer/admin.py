"""The email outbox in the admin: a read-only list, per brand, of what was queued, to whom, and
what became of it. Bodies are never shown (they may carry a sign-in link or an invitation)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin

from backoffice.admin_base import ReadOnlyBrandAdmin, brand_list_filter
from backoffice.admin_columns import related_slug, when
from mailer.models import OutboundEmail


def clipped(field: str, *, length: int, description: str) -> Callable[[Any], str]:
    """A long text column cut to ``length`` characters (the whole text is on the row's page)."""

    def column(obj: Any) -> str:
        value = str(getattr(obj, field) or "")
        return value if len(value) <= length else value[: length - 1] + "…"

    column.__name__ = field
    return admin.display(description=description, ordering=field)(column)


@admin.register(OutboundEmail)
class OutboundEmailAdmin(ReadOnlyBrandAdmin):
    list_display = (
        "id",
        when("created_at", description="queued"),
        related_slug("brand"),
        "kind",
        "to",
        clipped("subject", length=40, description="subject"),
        "status",
        "attempts",
        clipped("last_error", length=40, description="last error"),
        when("next_attempt_at", description="next attempt"),
        when("sent_at", description="sent"),
    )
    list_select_related = ("brand",)
    list_filter = ("status", "kind", brand_list_filter())
    search_fields = ("to",)
    ordering = ("-created_at", "-id")
    # Never "sealed_body": not even its ciphertext is shown.
    fields = (
        "brand",
        "kind",
        "to",
        "reply_to",
        "subject",
        "status",
        "attempts",
        "last_error",
        "next_attempt_at",
        "expires_at",
        "created_at",
        "sent_at",
        "updated_at",
    )
