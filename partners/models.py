import datetime as dt

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from brands.models import HTTP_URL_VALIDATOR, SLUG_VALIDATOR
from core.currencies import validate_currency
from core.secrets_crypto import EncryptedSecretField


class PartnerStatus(models.TextChoices):
    PENDING = "pending", "Pending application"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    REJECTED = "rejected", "Rejected"


class Partner(models.Model):
    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="partners")
    slug = models.CharField(max_length=64, validators=[SLUG_VALIDATOR])
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    website = models.URLField(max_length=500, validators=[HTTP_URL_VALIDATOR], blank=True)
    status = models.CharField(
        max_length=16, choices=PartnerStatus.choices, default=PartnerStatus.ACTIVE
    )
    applied_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    # The partner's own outbound postback URL (docs/tracking.md, "Outbound postbacks"): fired
    # for its conversions beside the offer's template, with the same placeholders.
    postback_url_template = models.URLField(
        max_length=2048, validators=[HTTP_URL_VALIDATOR], blank=True, default=""
    )
    # How the partner wants to be paid: one of the brand's payout_methods, and the details
    # that method needs (an account, an address), encrypted at rest; the partner's to edit.
    payout_method = models.CharField(max_length=32, blank=True, default="")
    payout_details = EncryptedSecretField(max_length=1024, blank=True, default="")
    # The currency the partner is paid in (docs/currencies.md, "Paying a partner in their own
    # currency"): each payout is also stated in it, at the rate of the day it is generated.
    # Blank: paid in each payout's own currency.
    payout_currency = models.CharField(
        max_length=3, blank=True, default="", db_default="", validators=[validate_currency]
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["brand", "slug"], name="partner_brand_slug_uniq"),
            models.CheckConstraint(
                condition=models.Q(status__in=PartnerStatus.values), name="partner_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["brand", "status"], name="partner_brand_status_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"


class CouponStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DISABLED = "disabled", "Disabled"


class Coupon(models.Model):
    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="coupons")
    code = models.CharField(max_length=64)
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="coupons")
    offer = models.ForeignKey(
        "offers.Offer", null=True, blank=True, on_delete=models.CASCADE, related_name="coupons"
    )
    status = models.CharField(
        max_length=16, choices=CouponStatus.choices, default=CouponStatus.ACTIVE
    )
    max_uses = models.PositiveIntegerField(null=True, blank=True)
    used_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # Codes are typed by shoppers: SPRING10 and spring10 are the same coupon.
            models.UniqueConstraint(Lower("code"), "brand", name="coupon_brand_code_ci_uniq"),
            models.CheckConstraint(
                condition=models.Q(max_uses__isnull=True)
                | models.Q(used_count__lte=models.F("max_uses")),
                name="coupon_used_within_max",
            ),
        ]
        indexes = [models.Index(fields=["brand", "partner"], name="coupon_brand_partner_idx")]

    def __str__(self) -> str:
        return self.code


class PartnerSignInLink(models.Model):
    """An emailed one-time link into the partner portal (``partners/sign_in.py``,
    docs/partners.md). The link carries ``selector`` + a secret verifier; only the verifier's
    SHA-256 is kept, so a database reader cannot sign in. Used once (``used_at``), dead after
    ``expires_at``, and only for the address it was sent to: a partner whose email changed
    since cannot be signed in by an old link."""

    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="+")
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="sign_in_links")
    selector = models.CharField(max_length=16, unique=True)
    verifier_sha256 = models.CharField(max_length=64)
    email = models.EmailField()
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["partner", "expires_at"], name="signin_partner_exp_idx")]

    def __str__(self) -> str:
        return f"sign-in link {self.selector} for partner {self.partner_id}"


class PartnerApiKeyScope(models.TextChoices):
    READ = "read", "Read"
    READ_WRITE = "read_write", "Read and write"


class PartnerApiKey(models.Model):
    """A partner-scoped API key (``trkp_<prefix>_<secret><checksum>``): everything it reaches
    is that partner's, in that brand (docs/partners.md). Only the SHA-256 of the secret is
    stored; the plaintext is returned once, by ``partner_api_key_create``. Read-only unless
    made with write."""

    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="+")
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="api_keys")
    label = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_sha256 = models.CharField(max_length=64)
    scope = models.CharField(
        max_length=16, choices=PartnerApiKeyScope.choices, default=PartnerApiKeyScope.READ
    )
    # Who made it, as the audit log labels them (user:<id>, api_key:<prefix>, partner:<id>).
    created_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "partner API key"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scope__in=PartnerApiKeyScope.values),
                name="partner_api_key_scope_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["brand", "partner", "created_at"], name="partner_key_partner_idx")
        ]

    def __str__(self) -> str:
        return f"trkp_{self.prefix}_… ({self.label})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def can_write(self) -> bool:
        return self.scope == PartnerApiKeyScope.READ_WRITE


class InvitationStatus(models.TextChoices):
    """An invitation's state, derived from its columns (``PartnerInvitation.status``)."""

    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


class PartnerInvitation(models.Model):
    """A brand's emailed invitation to become its partner (``partners/invitations.py``). The
    link carries ``selector`` + a secret; only the secret's SHA-256 is kept. Applying through
    it with the invited address approves the application at once (the brand asked for this
    person); it works once and until ``expires_at``. Resending gives it a new selector and
    secret (the old link dies) and a new expiry; revoking kills the link for good.
    ``invitation_id`` (``inv_…``) is its stable public id."""

    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="+")
    invitation_id = models.CharField(max_length=32, unique=True)
    email = models.EmailField()
    name = models.CharField(max_length=200, blank=True)
    selector = models.CharField(max_length=16, unique=True)
    verifier_sha256 = models.CharField(max_length=64)
    invited_by = models.CharField(max_length=200)  # the audit label of who invited
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    # How many times the email was sent (1 + resends), and when last.
    sent_count = models.PositiveSmallIntegerField(default=1, db_default=1)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["brand", "created_at"], name="invite_brand_time_idx")]

    def __str__(self) -> str:
        return f"invitation {self.invitation_id} to {self.email}"

    def status_at(self, now: dt.datetime) -> str:
        if self.revoked_at is not None:
            return InvitationStatus.REVOKED
        if self.accepted_at is not None:
            return InvitationStatus.ACCEPTED
        if self.expires_at <= now:
            return InvitationStatus.EXPIRED
        return InvitationStatus.PENDING

    @property
    def status(self) -> str:
        return self.status_at(timezone.now())


class PartnerSignInProvider(models.Model):
    """The brand's own OpenID Connect provider for partner portal sign-in
    (``partners/oidc_sign_in.py``, docs/partners.md, "Signing in with the brand's provider").
    One per brand. The client secret is encrypted at rest and never returned by any read; the
    endpoints come from the issuer's discovery document, fetched when a partner signs in."""

    brand = models.OneToOneField("brands.Brand", on_delete=models.CASCADE, related_name="+")
    display_name = models.CharField(max_length=64)
    issuer = models.URLField(max_length=512)
    client_id = models.CharField(max_length=255)
    client_secret = EncryptedSecretField(max_length=1024)
    secret_set_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.display_name} ({self.issuer})"
