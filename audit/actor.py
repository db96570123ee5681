"""Who is acting: passed explicitly to every service (never read from a global).

The label is what the audit log shows and what tenants filter on:
``mcp:<brand>``, ``api_key:<prefix>``, ``user:<id>``, ``system:<name>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from core.errors import PermissionDeniedError


class ActorKind(StrEnum):
    USER = "user"
    API_KEY = "api_key"
    MCP = "mcp"
    SYSTEM = "system"


class Channel(StrEnum):
    ADMIN = "admin"
    REST = "rest"
    MCP = "mcp"
    POSTBACK = "postback"
    CLICK = "click"
    CLI = "cli"
    WORKER = "worker"
    # The public partner application form (/p/<brand>/apply): an anonymous visitor.
    APPLY = "apply"


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"


@dataclass(frozen=True, slots=True)
class Actor:
    kind: ActorKind
    label: str
    channel: Channel
    brand_id: int
    brand_slug: str
    scopes: frozenset[Scope] = frozenset({Scope.READ})
    user_id: int | None = None
    api_key_id: int | None = None
    ip: str | None = None
    user_agent: str = ""
    request_id: str = ""
    # Extra who-is-it facts recorded beside the label (key prefix, OAuth client, user).
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def can_write(self) -> bool:
        return Scope.WRITE in self.scopes

    def require_write(self) -> None:
        if not self.can_write:
            raise PermissionDeniedError(
                "This credential is read-only. Use a key (or account role) with write access "
                "for this operation.",
                code="read_only_credential",
            )

    @classmethod
    def system(
        cls,
        *,
        brand_id: int,
        brand_slug: str,
        name: str,
        channel: Channel = Channel.CLI,
        request_id: str = "",
    ) -> Actor:
        return cls(
            kind=ActorKind.SYSTEM,
            label=f"system:{name}",
            channel=channel,
            brand_id=brand_id,
            brand_slug=brand_slug,
            scopes=frozenset({Scope.READ, Scope.WRITE}),
            request_id=request_id,
        )
