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
