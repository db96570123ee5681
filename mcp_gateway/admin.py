"""The MCP tool-call log in the admin: each brand's staff can read theirs; nobody writes."""

from __future__ import annotations

from django.contrib import admin

from backoffice.admin_base import ReadOnlyBrandAdmin, brand_list_filter
from mcp_gateway.models import McpToolCall


@admin.register(McpToolCall)
class McpToolCallAdmin(ReadOnlyBrandAdmin):
    list_display = (
        "created_at",
        "brand",
        "tool",
        "outcome",
        "duration_ms",
        "actor_label",
        "credential",
        "ip",
    )
    list_select_related = ("brand",)
    list_filter = ("is_error", "tool", brand_list_filter())
    search_fields = ("tool", "outcome", "=request_id", "credential")
    ordering = ("-created_at", "-id")
    date_hierarchy = "created_at"


# --- OAuth clients and tokens, per brand ------------------------------------------------------
# Tokens are bound to a brand by their brand:<slug> scope (see mcp_gateway.oauth), so these
# admins scope rows by that scope instead of a brand column. django-oauth-toolkit's own
# admins stay for superusers only.

from django.contrib import messages  # noqa: E402
from django.db.models import Q, QuerySet  # noqa: E402
from django.http import HttpRequest  # noqa: E402
from oauth2_provider.models import AccessToken, Application  # noqa: E402

from backoffice.admin_base import admin_actor, brand_access  # noqa: E402
from brands.models import Brand  # noqa: E402
from core.errors import DomainError  # noqa: E402
from mcp_gateway.services import oauth_tokens_revoke  # noqa: E402

for model in (AccessToken, Application):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


def _brand_scope_filter(request: HttpRequest, prefix: str = "") -> Q:
    access = brand_access(request)
    slugs = (
        Brand.objects.all()
        if access.is_superuser
        else Brand.objects.filter(pk__in=access.readable_ids)
    )
    condition = Q(pk__in=[])
    for slug in slugs.values_list("slug", flat=True):
        condition |= Q(**{f"{prefix}scope__regex": rf"(^|\s)brand:{slug}(\s|$)"})
    return condition


def _brands_of(scope: str) -> list[str]:
    return [part.split(":", 1)[1] for part in scope.split() if part.startswith("brand:")]


class _BrandOAuthAdmin(admin.ModelAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return brand_access(request).any_readable

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return brand_access(request).any_readable

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return brand_access(request).any_writable

    def _revoke(self, request: HttpRequest, tokens: list[AccessToken], label: str) -> int:
        access = brand_access(request)
        revoked = 0
        for slug in {slug for token in tokens for slug in _brands_of(token.scope)}:
            brand = Brand.objects.filter(slug=slug).first()
            if brand is None or not access.can_write(brand.pk):
                continue
            try:
                revoked += oauth_tokens_revoke(
                    actor=admin_actor(request, brand), tokens=tokens, client_label=label
                )
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
        return revoked


@admin.register(AccessToken)
class OAuthAccessTokenAdmin(_BrandOAuthAdmin):
    list_display = ("id", "application", "user", "brand", "scope", "expires", "created")
    list_select_related = ("application", "user")
    ordering = ("-created",)
    actions = ("revoke",)
    exclude = ("token", "token_checksum")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(_brand_scope_filter(request))

    @admin.display(description="brand")
    def brand(self, obj: AccessToken) -> str:
        return ", ".join(_brands_of(obj.scope))

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = self._revoke(request, list(queryset), "selected tokens")
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)


@admin.register(Application)
class OAuthClientAdmin(_BrandOAuthAdmin):
    list_display = ("name", "client_id", "client_type", "redirect_uris", "created")
    ordering = ("-created",)
    actions = ("revoke_tokens",)
    fields = (
        "name",
        "client_id",
        "client_type",
        "authorization_grant_type",
        "redirect_uris",
        "created",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # A client "of a brand" is one holding tokens for it.
        token_ids = AccessToken.objects.filter(_brand_scope_filter(request)).values(
            "application_id"
        )
        return super().get_queryset(request).filter(pk__in=token_ids)

    @admin.action(description="Revoke these clients' tokens for my brands", permissions=["revoke"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = 0
        for application in queryset:
            tokens = list(
                AccessToken.objects.filter(application=application).filter(
                    _brand_scope_filter(request)
                )
            )
            count += self._revoke(request, tokens, application.client_id)
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)
