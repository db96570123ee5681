"""Partner and coupon operations."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from audit.actor import Actor, Scope
from core.serializers import StrictSerializer
from operations.declaration import (
    DRY_RUN_HELP,
    READ,
    WRITE_ADDITIVE,
    WRITE_SENDS_EMAIL,
    WRITE_UPDATE,
    Lookup,
    Operation,
    RestRoute,
    ToolSpec,
)
from operations.lookups import COUPON, OPTIONAL_OFFER, PARTNER, PARTNER_ID
from partners import api_keys, invitations, selectors, services
from partners.models import Partner, PartnerApiKey
from partners.partner_api_serializers import (
    KEY_ID_HELP,
    KEY_ID_PATTERN,
    PartnerApiKeyCreatedOutput,
    PartnerApiKeyCreateInput,
    PartnerApiKeyOutput,
    PartnerInvitationListFilters,
    PartnerInvitationOutput,
    PartnerInviteInput,
)
from partners.serializers import (
    CouponCreateInput,
    CouponListFilters,
    CouponOutput,
    PartnerCreateInput,
    PartnerListFilters,
    PartnerOutput,
    PartnerUpdateInput,
)

TAG = "partners"
COUPONS = "coupons"


class PartnerRef(StrictSerializer):
    partner_id = serializers.RegexField(**PARTNER_ID)


class UpdatePartnerArguments(PartnerUpdateInput):
    partner_id = serializers.RegexField(**PARTNER_ID)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if set(attrs) <= {"partner_id"}:
            raise serializers.ValidationError("Give at least one field to change.")
        return attrs


class InvitePartnerArguments(PartnerInviteInput):
    # Its own dry_run, handed to the service: a rehearsal checks the invitation throttle
    # without spending it (the transaction is rolled back all the same).
    dry_run = serializers.BooleanField(default=False, help_text=DRY_RUN_HELP)


class InvitationRef(StrictSerializer):
    invitation_id = serializers.RegexField(
        r"^inv_[A-Za-z0-9]{1,28}$", help_text="The invitation's id, e.g. inv_4Fq…"
    )


class ResendInvitationArguments(InvitationRef):
    dry_run = serializers.BooleanField(default=False, help_text=DRY_RUN_HELP)


INVITATION = Lookup("invitation_id", "invitation", selectors.partner_invitation_get_for_actor)


class CouponRef(StrictSerializer):
    code = serializers.RegexField(r"^[A-Za-z0-9_-]{1,64}$", help_text="The coupon code.")


class PartnerApiKeyCreateArguments(PartnerApiKeyCreateInput):
    partner_id = serializers.RegexField(**PARTNER_ID)


class PartnerApiKeyRef(StrictSerializer):
    partner_id = serializers.RegexField(**PARTNER_ID)
    key_id = serializers.RegexField(KEY_ID_PATTERN, max_length=10, help_text=KEY_ID_HELP)


def _with_plaintext(actor: Actor, created: tuple[PartnerApiKey, str]) -> PartnerApiKey:
    """The new key row carrying its plaintext for the one answer that shows it."""
    key, plaintext = created
    key.plaintext = plaintext  # type: ignore[attr-defined]  # rendered once, never stored
    return key


def _create_partner_api_key(
    *, actor: Actor, partner: Partner, name: str = "", write: bool = False
) -> tuple[PartnerApiKey, str]:
    return api_keys.partner_api_key_create(actor=actor, partner=partner, label=name, write=write)


def _revoke_partner_api_key(*, actor: Actor, partner: Partner, key_id: str) -> PartnerApiKey:
    key = api_keys.partner_api_key_get_for_actor(actor=actor, partner=partner, key_id=key_id)
    return api_keys.partner_api_key_revoke(actor=actor, api_key=key)


# Partner keys are REST and admin only, never MCP tools: a key handed to an agent would sit in
# its transcript, and an agent has no business minting credentials for someone else.
PARTNER_KEY_OPERATIONS = [
    Operation(
        name="create_partner_api_key",
        description="Issue a partner-scoped API key (trkp_…) for one partner: read-only unless "
        "write is true. The answer carries the key ONCE as key; only its hash is kept. The "
        "partner uses it on /api/partner/v1/ and the MCP endpoint, seeing only their own data.",
        input=PartnerApiKeyCreateArguments,
        run=_create_partner_api_key,
        lookups=(PARTNER,),
        present=_with_plaintext,
        output=PartnerApiKeyCreatedOutput,
        scope=Scope.WRITE,
        rest=RestRoute(
            "POST", "partners/<partner_id>/api-keys/", "partner-api-key-create", TAG, status=201
        ),
        shows_secret=True,
    ),
    Operation(
        name="list_partner_api_keys",
        description="A partner's API keys, newest first, revoked ones included (never a secret).",
        input=PartnerRef,
        run=api_keys.partner_api_key_list,
        lookups=(PARTNER,),
        output=PartnerApiKeyOutput,
        shape="many",
        scope=Scope.READ,
        rest=RestRoute("GET", "partners/<partner_id>/api-keys/", "partner-api-key-list", TAG),
    ),
    Operation(
        name="revoke_partner_api_key",
        description="Revoke one of a partner's API keys by its key_id (prefix); the next "
        "request made with it is refused. Revoking a revoked key changes nothing.",
        input=PartnerApiKeyRef,
        run=_revoke_partner_api_key,
        lookups=(PARTNER,),
        output=PartnerApiKeyOutput,
        scope=Scope.WRITE,
        rest=RestRoute(
            "POST",
            "partners/<partner_id>/api-keys/<key_id>/revoke/",
            "partner-api-key-revoke",
            TAG,
        ),
    ),
]


def _transition(
    name: str, verb: str, service: Any, description: str, tool: ToolSpec | None
) -> Operation:
    return Operation(
        name=name,
        description=description,
        input=PartnerRef,
        run=service,
        lookups=(PARTNER,),
        output=PartnerOutput,
        scope=Scope.WRITE,
        rest=RestRoute("POST", f"partners/<partner_id>/{verb}/", f"partner-{verb}", TAG),
        tool=tool,
    )


OPERATIONS = [
    Operation(
        name="list_partners",
        description="The brand's partners, newest first, by status (pending, active, paused, "
        "rejected) or a search on name, id or email.",
        input=PartnerListFilters,
        run=selectors.partner_list,
        output=PartnerOutput,
        shape="page",
        scope=Scope.READ,
        rest=RestRoute("GET", "partners/", "partner-list", TAG),
        tool=ToolSpec("Partners", READ),
    ),
    Operation(
        name="create_partner",
        description="Add a partner (active by default, or pending); partner_id is derived from the "
        "name when omitted.",
        input=PartnerCreateInput,
        run=services.partner_create,
        output=PartnerOutput,
        scope=Scope.WRITE,
        rest=RestRoute("POST", "partners/", "partner-create", TAG, status=201),
        tool=ToolSpec("Create partner", WRITE_ADDITIVE),
    ),
    Operation(
        name="invite_partner",
        description="Invite an email address to the partner program: they get a link to the "
        "brand's application page, and applying through it with that address approves them at "
        "once (valid 14 days, once). Refused for an address that already belongs to a partner "
        "(partner_email_taken); throttled per brand and per address.",
        input=InvitePartnerArguments,
        run=invitations.partner_invite,
        output=PartnerInvitationOutput,
        scope=Scope.WRITE,
        rest=RestRoute("POST", "partners/invitations/", "partner-invite", TAG, status=201),
        tool=ToolSpec("Invite partner", WRITE_ADDITIVE),
    ),
    Operation(
        name="list_partner_invitations",
        description="The brand's partner invitations, newest first, with their status: pending "
        "(the link works), accepted (they applied through it and were approved), expired "
        "(resend it) or revoked. Filters: status, email. Never a link or token.",
        input=PartnerInvitationListFilters,
        run=selectors.partner_invitation_list,
        output=PartnerInvitationOutput,
        shape="page",
        scope=Scope.READ,
        rest=RestRoute("GET", "partners/invitations/", "partner-invitation-list", TAG),
        tool=ToolSpec("Partner invitations", READ),
    ),
    Operation(
        name="resend_partner_invitation",
        description="Send a pending or expired invitation (inv_…) again: a new link valid 14 "
        "days from now; the old link stops working. Throttled like invite_partner (per brand "
        "and per address). Refused when accepted (invitation_accepted) or revoked "
        "(invitation_revoked).",
        input=ResendInvitationArguments,
        run=invitations.invitation_resend,
        lookups=(INVITATION,),
        output=PartnerInvitationOutput,
        scope=Scope.WRITE,
        rest=RestRoute(
            "POST",
            "partners/invitations/<invitation_id>/resend/",
            "partner-invitation-resend",
            TAG,
        ),
        tool=ToolSpec("Resend partner invitation", WRITE_SENDS_EMAIL),
    ),
    Operation(
        name="revoke_partner_invitation",
        description="Withdraw an invitation (inv_…): its link stops working at once; an "
        "application through it becomes an ordinary pending one. Refused once accepted "
        "(invitation_accepted); revoking a revoked one changes nothing.",
        input=InvitationRef,
        run=invitations.invitation_revoke,
        lookups=(INVITATION,),
        output=PartnerInvitationOutput,
        scope=Scope.WRITE,
        rest=RestRoute(
            "POST",
            "partners/invitations/<invitation_id>/revoke/",
            "partner-invitation-revoke",
            TAG,
        ),
        tool=ToolSpec("Revoke partner invitation", WRITE_UPDATE),
    ),
    Operation(
        name="get_partner",
        description="One partner: name, id, status, email, website.",
        input=PartnerRef,
        run=selectors.partner_get_for_actor,
        output=PartnerOutput,
        scope=Scope.READ,
        rest=RestRoute("GET", "partners/<partner_id>/", "partner-detail", TAG),
    ),
    Operation(
        name="update_partner",
        description="Change a partner's name, email, website, own outbound postback URL "
        "(postback_url_template) or payout_currency (the ISO 4217 currency it is paid in: each "
        "payout also states its amount in it, at the rate of the day it is generated; empty: "
        "the payout's own currency); only the fields given change.",
        input=UpdatePartnerArguments,
        run=services.partner_update,
        lookups=(PARTNER,),
        output=PartnerOutput,
        scope=Scope.WRITE,
        rest=RestRoute("PATCH", "partners/<partner_id>/", "partner-update", TAG),
        tool=ToolSpec("Update partner", WRITE_UPDATE),
    ),
    _transition(
        "approve_partner_application",
        "approve",
        services.partner_approve,
        "Accept a self-applied partner (pending → active). Sends the welcome and tracking-setup "
        "emails when the partner has an email address.",
        ToolSpec("Approve partner application", WRITE_SENDS_EMAIL),
    ),
    _transition(
        "reject_partner_application",
        "reject",
        services.partner_reject,
        "Decline a self-applied partner (pending → rejected): their tracking links never "
        "redirect. Approve instead with approve_partner_application.",
        ToolSpec("Reject partner application", WRITE_UPDATE),
    ),
    _transition(
        "pause_partner",
        "pause",
        services.partner_pause,
        "Pause a partner brand-wide: new click-throughs are refused; pending conversions stay "
        "pending. Undo with resume_partner.",
        ToolSpec("Pause partner", WRITE_UPDATE),
    ),
    _transition(
        "resume_partner",
        "resume",
        services.partner_resume,
        "Resume a paused partner (paused → active) so their tracking links redirect and count "
        'again. Example: {"partner_id": "abc-123"}.',
        ToolSpec("Resume partner", WRITE_UPDATE),
    ),
    Operation(
        name="list_coupons",
        description="Coupon codes with their partner, offer, status (active/disabled), used count "
        "and max uses. Filters: partner_id, offer_id, status.",
        input=CouponListFilters,
        run=selectors.coupon_list,
        output=CouponOutput,
        shape="page",
        scope=Scope.READ,
        rest=RestRoute("GET", "coupons/", "coupon-list", COUPONS),
        tool=ToolSpec("Coupons", READ),
    ),
    Operation(
        name="create_coupon",
        description="Issue a coupon code for a partner (letters, digits, - and _; "
        "case-insensitive and unique in the brand), optionally for one offer_id and with "
        "max_uses. A postback carrying the code (coupon or couponCode) attributes the sale to "
        "that partner.",
        input=CouponCreateInput,
        run=services.coupon_create,
        lookups=(PARTNER, OPTIONAL_OFFER),
        output=CouponOutput,
        scope=Scope.WRITE,
        rest=RestRoute("POST", "coupons/", "coupon-create", COUPONS, status=201),
        tool=ToolSpec("Create coupon", WRITE_ADDITIVE),
    ),
    Operation(
        name="get_coupon",
        description="One coupon code with its partner, offer, status and uses.",
        input=CouponRef,
        run=selectors.coupon_get_for_actor,
        output=CouponOutput,
        scope=Scope.READ,
        rest=RestRoute("GET", "coupons/<code>/", "coupon-detail", COUPONS),
    ),
    Operation(
        name="disable_coupon",
        description="Disable a coupon: postbacks carrying it no longer attribute sales.",
        input=CouponRef,
        run=services.coupon_disable,
        lookups=(COUPON,),
        output=CouponOutput,
        scope=Scope.WRITE,
        rest=RestRoute("POST", "coupons/<code>/disable/", "coupon-disable", COUPONS),
        tool=ToolSpec("Disable coupon", WRITE_UPDATE),
    ),
    *PARTNER_KEY_OPERATIONS,
]
