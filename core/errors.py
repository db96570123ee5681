"""The one error hierarchy of Trcker's domain.

Framework-free on purpose: services raise these, and each interface renders them once —
REST as ``{"error": {"code", "message", "fields"?}}`` (``rest_api.base``), MCP as a tool
result with ``isError: true``. ``code`` is a stable snake_case string clients may branch on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class DomainError(Exception):
    code: str = "invalid"  # a class's default; an instance may sharpen it (code=)
    http_status: ClassVar[int] = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: Mapping[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            # Instance-level override keeps the class's HTTP status but sharpens the code
            # (e.g. ConflictError with code="offer_slug_taken").
            self.code = code
        self.fields = dict(fields) if fields else None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        return body


class ValidationError(DomainError):
    code = "invalid_input"
    http_status = 422


class NotFoundError(DomainError):
    code = "not_found"
    http_status = 404

    def __init__(self, entity: str, identifier: object) -> None:
        # One message for "missing" and "belongs to another brand": the caller must not be
        # able to tell the two apart (no enumeration of other tenants' ids).
        super().__init__(f"No {entity} with id {identifier!s:.100} in this brand.")
        self.entity = entity


class AuthenticationError(DomainError):
    code = "unauthenticated"
    http_status = 401


class PermissionDeniedError(DomainError):
    code = "permission_denied"
    http_status = 403


class ConflictError(DomainError):
    code = "conflict"
    http_status = 409


class InvalidTransitionError(ConflictError):
    code = "invalid_transition"


class RateLimitedError(DomainError):
    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailableError(DomainError):
    code = "service_unavailable"
    http_status = 503
