"""What the brand API-key and partner API-key admins share: keys are issued here and revoked
by action; an existing key is never edited and its hash never shown; the plaintext exists
only in the one message after creation."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from backoffice.admin_base import BrandScopedAdmin
from backoffice.admin_columns import related_slug

# Every key model has these (brands.ApiKey, partners.PartnerApiKey).
_KEY_HISTORY = ("created_by", "created_at", "last_used_at", "revoked_at")


class KeyStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


class IssuedKeyAdmin(BrandScopedAdmin):
    """Subclasses name the key's printed prefix and the columns that say whose key it is
    (``owner_fields``: the brand, or the partner and its brand); the list and the read-only
    page are built from them, so the two key admins cannot drift apart."""

    key_prefix: ClassVar[str]
    owner_fields: ClassVar[tuple[str, ...]]

    admin_add = True
    ordering = ("-created_at", "-id")
    exclude = ("secret_sha256",)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.fields = ("key", "label", *cls.owner_fields, "scope", *_KEY_HISTORY)
        cls.readonly_fields = cls.fields
        owners = tuple(related_slug(name) for name in cls.owner_fields)
        cls.list_display = ("key", "label", *owners, "scope", *_KEY_HISTORY)

    @admin.display(description="key", ordering="prefix")
    def key(self, obj: Any) -> str:
        return f"{self.key_prefix}{obj.prefix}_…"

    @staticmethod
    def show_once(request: HttpRequest, what: str, plaintext: str, advice: str = "") -> None:
        messages.warning(
            request, f"{what}: {plaintext} — Copy it now{advice}; it won't be shown again."
        )
