"""Who is acting: passed explicitly to every service (never read from a global).

The label is what the audit log shows and what tenants filter on:
``mcp:<brand>``, ``api_key:<prefix>``, ``user:<id>``, ``system:<name>``, ``partner:<id>``.

Every interface builds its actor with one of the named constructors below (``for_api_key``,
``for_oauth``, ``for_admin``, ``for_postback``, ``for_applicant``, ``system`` …), so a label,
channel or scope is decided in one place. They take plain fields, not models: ``audit`` is a
leaf and imports nothing but ``core`` and Django.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from django.http import HttpRequest

from core.client_ip import request_client_ip
from core.edge_text import clean_text
from core.errors import PermissionDeniedError

# Stored user agents are clipped to this (AuditEvent.user_agent and the click/postback rows).
USER_AGENT_MAX = 512


class ActorKind(StrEnum):
    USER = "user"
    API_KEY = "api_key"
    MCP = "mcp"
    SYSTEM = "system"
    # A partner of the brand acting on their own data (a ``trkp_`` key or a portal session).
    PARTNER = "partner"


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
    # The partner portal (/p/<brand>/...): a signed-in partner.
    PORTAL = "portal"


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"


READ_ONLY = frozenset({Scope.READ})
READ_WRITE = frozenset({Scope.READ, Scope.WRITE})


def _scopes(write: bool) -> frozenset[Scope]:
    return READ_WRITE if write else READ_ONLY


class _User(Protocol):
    """What ``for_admin`` reads of a Django user."""

    @property
    def pk(self) -> Any: ...

    def get_username(self) -> str: ...


def _request_facts(request: HttpRequest) -> dict[str, Any]:
    """Where a request came from, as the audit log records it. Works on a DRF ``Request`` too
    (it passes attribute reads through to the Django request)."""
    return {
        "ip": request_client_ip(request),
        "user_agent": request.headers.get("User-Agent", "")[:USER_AGENT_MAX],
        "request_id": getattr(request, "request_id", ""),
    }


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
    # Set only for a partner actor: every read and write it makes is confined to this partner
    # (in ``brand_id``). ``None`` for brand-side actors, which see the whole brand.
    partner_id: int | None = None
    ip: str | None = None
    user_agent: str = ""
    request_id: str = ""
    # Extra who-is-it facts recorded beside the label (key prefix, OAuth client, user).
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def is_partner(self) -> bool:
        return self.kind == ActorKind.PARTNER

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

    # --- named constructors: one per way in ------------------------------------------------

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
        """The platform itself (management commands, workers, seeding, tests): ``system:<name>``
        with read and write scope."""
        return cls(
            kind=ActorKind.SYSTEM,
            label=f"system:{name}",
            channel=channel,
            brand_id=brand_id,
            brand_slug=brand_slug,
            scopes=READ_WRITE,
            request_id=request_id,
        )

    @classmethod
    def for_api_key(
        cls,
        *,
        key_id: int,
        prefix: str,
        brand_id: int,
        brand_slug: str,
        write: bool,
        channel: Channel,
        request: HttpRequest,
    ) -> Actor:
        """A brand API key on REST (``api_key:<prefix>``) or MCP. MCP writes are tagged to a
        synthetic per-brand actor (``mcp:<brand>``) so the audit log separates agent-driven
        writes; the key that made them is kept in the detail either way."""
        mcp = channel == Channel.MCP
        return cls(
            kind=ActorKind.MCP if mcp else ActorKind.API_KEY,
            label=f"mcp:{brand_slug}" if mcp else f"api_key:{prefix}",
            channel=channel,
            brand_id=brand_id,
            brand_slug=brand_slug,
            scopes=_scopes(write),
            api_key_id=key_id,
            **_request_facts(request),
            detail={"api_key": prefix},
        )

    @classmethod
    def for_oauth(
        cls,
        *,
        brand_id: int,
        brand_slug: str,
        write: bool,
        user_id: int | None,  # None: a token from an external issuer, no local user
        client_id: str,
        subject: str,
        request: HttpRequest,
    ) -> Actor:
        """An OAuth access token on MCP: the synthetic ``mcp:<brand>`` actor, with who
        authorized it (``subject``) through which client beside it."""
        return cls(
            kind=ActorKind.MCP,
            label=f"mcp:{brand_slug}",
            channel=Channel.MCP,
            brand_id=brand_id,
            brand_slug=brand_slug,
            scopes=_scopes(write),
            user_id=user_id,
            **_request_facts(request),
            detail={"oauth_client": client_id, "user": subject, "oauth": True},
        )

    @classmethod
    def for_mcp_test_anonymous(
        cls, *, brand_id: int, brand_slug: str, request: HttpRequest
    ) -> Actor:
        """The read-only MCP caller of the credential-less test mode
        (``TRCKER_MCP_TEST_ANONYMOUS_BRAND``); never enabled in production."""
        return cls(
            kind=ActorKind.MCP,
            label=f"mcp:{brand_slug}",
            channel=Channel.MCP,
            brand_id=brand_id,
            brand_slug=brand_slug,
            scopes=READ_ONLY,
            **_request_facts(request),
            detail={"test_anonymous": True},
        )

    @classmethod
    def for_admin(
        cls, user: _User, *, brand_id: int, brand_slug: str, write: bool, request: HttpRequest
    ) -> Actor:
        """A staff member in the admin: ``user:<id>``; ``write`` comes from their role in the
        brand, so services enforce the role too."""
        return cls(
            kind=ActorKind.USER,
            label=f"user:{user.pk}",
            channel=Channel.ADMIN,
            brand_id=brand_id,
            brand_slug=brand_slug,
            scopes=_scopes(write),
            user_id=user.pk,
            **_request_facts(request),
            detail={"username": user.get_username()},
        )

    @classmethod
    def for_sso(
        cls,
        user: _User,
        *,
        brand_id: int,
        brand_slug: str,
        request: HttpRequest | None,
    ) -> Actor:
        """Single sign-on granting ``user`` their roles at login: ``system:oidc`` on the admin
        channel, with the user's name beside it when there is a request to record."""
        actor = cls.system(
            brand_id=brand_id,
            brand_slug=brand_slug,
            name="oidc",
            channel=Channel.ADMIN,
            request_id=getattr(request, "request_id", "") if request is not None else "",
        )
        if request is None:
            return actor
        return cls._with_request(actor, request, detail={"username": user.get_username()})

    @classmethod
    def for_postback(cls, *, brand_id: int, brand_slug: str, request: HttpRequest) -> Actor:
        """An advertiser's postback: ``system:postback``. The postback endpoint is not guarded
        by the edge middleware, so its user agent is cleaned of control characters here."""
        actor = cls.system(
            brand_id=brand_id, brand_slug=brand_slug, name="postback", channel=Channel.POSTBACK
        )
        facts = _request_facts(request)
        facts["user_agent"] = clean_text(
            request.headers.get("User-Agent", ""), max_length=USER_AGENT_MAX
        )
        return replace(actor, **facts)

    @classmethod
    def for_integration(
        cls, *, brand_id: int, brand_slug: str, provider: str, request: HttpRequest
    ) -> Actor:
        """A payment provider's webhook (integrations: Stripe, Shopify): ``system:<provider>``
        on the postback channel, as the advertiser's own postbacks are."""
        actor = cls.for_postback(brand_id=brand_id, brand_slug=brand_slug, request=request)
        return replace(actor, label=f"system:{provider}")

    @classmethod
    def for_applicant(cls, *, brand_id: int, brand_slug: str, request: HttpRequest) -> Actor:
        """An anonymous visitor of the public partner application form:
        ``system:partner_application`` on the apply channel."""
        actor = cls.system(
            brand_id=brand_id,
            brand_slug=brand_slug,
            name="partner_application",
            channel=Channel.APPLY,
        )
        return cls._with_request(actor, request)

    @classmethod
    def for_brand_creator(
        cls, label: str, *, brand_id: int, brand_slug: str, channel: Channel
    ) -> Actor:
        """Whoever created a brand (``system:cli``, ``user:<id>``), as the actor of the brand's
        first event: there was no brand-scoped actor before it existed. The kind is read from
        the label's prefix; an unknown prefix is a system actor."""
        kind, _, _ = label.partition(":")
        return cls(
            kind=ActorKind(kind) if kind in set(ActorKind) else ActorKind.SYSTEM,
            label=label,
            channel=channel,
            brand_id=brand_id,
            brand_slug=brand_slug,
            scopes=READ_WRITE,
        )

    @classmethod
    def for_partner_key(
        cls,
        *,
        key_id: int,
        prefix: str,
        brand_id: int,
        brand_slug: str,
        partner_id: int,
        write: bool,
        channel: Channel,
        request: HttpRequest,
    ) -> Actor:
        """A partner-scoped ``trkp_`` key on the partner REST surface or MCP: ``partner:<id>``,
        read-only unless the key was made with write; the key's prefix is kept in the detail."""
        return cls(
            kind=ActorKind.PARTNER,
            label=f"partner:{partner_id}",
            channel=channel,
            brand_id=brand_id,
            brand_slug=brand_slug,
            scopes=_scopes(write),
            api_key_id=key_id,
            partner_id=partner_id,
            **_request_facts(request),
            detail={"partner_api_key": prefix},
        )

    @classmethod
    def for_partner_oauth(
        cls,
        *,
        brand_id: int,
        brand_slug: str,
        partner_id: int,
        write: bool,
        client_id: str,
        request: HttpRequest,
    ) -> Actor:
        """An OAuth access token a partner authorized on the consent page, on MCP: the same
        ``partner:<id>`` actor as a ``trkp_`` key of that access, with the OAuth client beside
        it (``oauth`` marks a caller that can step up to write by asking for more)."""
        return cls(
            kind=ActorKind.PARTNER,
            label=f"partner:{partner_id}",
            channel=Channel.MCP,
            brand_id=brand_id,
            brand_slug=brand_slug,
            scopes=_scopes(write),
            partner_id=partner_id,
            **_request_facts(request),
            detail={"oauth_client": client_id, "oauth": True},
        )

    @classmethod
    def for_partner_session(
        cls,
        *,
        brand_id: int,
        brand_slug: str,
        partner_id: int,
        email: str,
        request: HttpRequest,
        user_id: int | None = None,
        write: bool = True,
    ) -> Actor:
        """A partner signed in to the portal (emailed link or OIDC): ``partner:<id>`` on the
        portal channel. A signed-in partner may change their own postback URL and profile, so
        the default scope is read and write; ``email`` (and the user, when the sign-in has one)
        is recorded beside the label."""
        detail: dict[str, Any] = {"email": email}
        if user_id is not None:
            detail["user"] = user_id
        return cls(
            kind=ActorKind.PARTNER,
            label=f"partner:{partner_id}",
            channel=Channel.PORTAL,
            brand_id=brand_id,
            brand_slug=brand_slug,
            scopes=_scopes(write),
            user_id=user_id,
            partner_id=partner_id,
            **_request_facts(request),
            detail=detail,
        )

    @staticmethod
    def _with_request(actor: Actor, request: HttpRequest, **changes: Any) -> Actor:
        return replace(actor, **_request_facts(request), **changes)
