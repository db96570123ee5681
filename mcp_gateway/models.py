from django.conf import settings
from django.db import models
from django.utils import timezone


class McpToolCall(models.Model):
    """One MCP tools/call, reads included: who, which tool, arguments (secrets redacted),
    outcome and duration. Append-only; writes are also in the audit chain."""

    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="+")
    # When the call was made; a worker may write the row a moment later (see services).
    created_at = models.DateTimeField(default=timezone.now)
    actor_label = models.CharField(max_length=200)
    credential = models.CharField(max_length=64, blank=True)  # key prefix or OAuth client
    tool = models.CharField(max_length=64)
    arguments = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=64)  # "ok" or the error code
    is_error = models.BooleanField(default=False)
    duration_ms = models.PositiveIntegerField(default=0)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)

    class Meta:
        verbose_name = "MCP tool call"
        indexes = [
            models.Index(fields=["brand", "created_at"], name="mcp_call_brand_time_idx"),
            models.Index(fields=["brand", "tool", "created_at"], name="mcp_call_brand_tool_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.tool} by {self.actor_label}: {self.outcome}"


class SpentAuthorizationCode(models.Model):
    """An authorization code already exchanged (by its SHA-256, never the code) and what it
    produced, so a second presentation can revoke those tokens (RFC 6749 §4.1.2).
    django-oauth-toolkit deletes the Grant on exchange and keeps no such record."""

    code_hash = models.CharField(max_length=64, unique=True)
    # The first access token's lookup checksum (DOT's token_checksum): no foreign key, so this
    # table needs no migration dependency on the library's swappable token model.
    access_token_checksum = models.CharField(max_length=64, blank=True)
    # The refresh-token family: rotation adds rows to it, and a replay revokes them all.
    token_family = models.UUIDField(null=True, blank=True)
    spent_at = models.DateTimeField(default=timezone.now)
    replayed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"authorization code {self.code_hash[:12]}…"


class PartnerOAuthIdentity(models.Model):
    """The account an OAuth grant of a partner hangs on (mcp_gateway/partner_oauth.py).

    django-oauth-toolkit ties every grant and token to a Django user, and a partner has none
    (they sign in to the portal by an emailed link). So each partner who authorizes a client
    gets one inactive user without a password, never signed in, in no brand: a handle for
    the library's rows, nothing more. What a token may do is decided from this row at every
    request — the partner, in its brand, while the partnership is active."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="partner_oauth"
    )
    partner = models.OneToOneField(
        "partners.Partner", on_delete=models.CASCADE, related_name="oauth_identity"
    )
    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "partner OAuth identity"

    def __str__(self) -> str:
        return f"OAuth identity of partner {self.partner_id}"
