from django.conf import settings
from django.core.validators import MaxValueValidator, RegexValidator, URLValidator
from django.db import models

SLUG_VALIDATOR = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$",
    "Use 1–64 lowercase letters, digits and hyphens, not starting or ending with a hyphen.",
    code="invalid_slug",
)
# Offers redirect browsers and Trcker fetches postback URLs: only web schemes make sense.
HTTP_URL_VALIDATOR = URLValidator(schemes=["http", "https"])
CURRENCY_VALIDATOR = RegexValidator(
    r"^[A-Z]{3}$", "Use an ISO 4217 code in capitals, e.g. USD.", code="invalid_currency"
)


class FraudMode(models.TextChoices):
    OFF = "off", "Off"
    MONITOR = "monitor", "Monitor (score only)"
    REVIEW = "review", "Review (hold for approval at or above the threshold)"
    BLOCK = "block", "Block (refuse at or above the threshold)"


class AttributionPrecedence(models.TextChoices):
    COUPON = "coupon", "Coupon overrides click"
    CLICK = "click", "Click overrides coupon"


class Brand(models.Model):
    """The tenant. Every other row carries its brand, and every query filters by it."""

    slug = models.CharField(max_length=64, unique=True, validators=[SLUG_VALIDATOR])
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC")
    currency = models.CharField(max_length=3, default="USD", validators=[CURRENCY_VALIDATOR])
    fraud_mode = models.CharField(
        max_length=16, choices=FraudMode.choices, default=FraudMode.MONITOR
    )
    fraud_threshold = models.PositiveSmallIntegerField(
        default=70, validators=[MaxValueValidator(100)]
    )
    botd_enabled = models.BooleanField(default=False)
    attribution_precedence = models.CharField(
        max_length=8, choices=AttributionPrecedence.choices, default=AttributionPrecedence.COUPON
    )
    # The organization id the operator's identity provider puts in its tokens (WorkOS/Auth0
    # org_…, an Okta group, a Keycloak organization). Staff SSO and external-issuer MCP tokens
    # find their brand by exact match on it, so two brands may never share a value; blank
    # means "no IdP organization" and is exempt from the uniqueness rule.
    # What partners are told (docs/partners.md, "What the brand controls"): whether the portal
    # and the partner API show why a conversion was held, rejected or reversed, or only its
    # status.
    partner_reasons_visible = models.BooleanField(
        default=True,
        help_text="Show partners why a conversion was held, rejected or reversed (off: only "
        "its status).",
    )
    # The closed list of payout methods (slugs such as paypal, wire) partners choose from and
    # payouts are paid by; empty: any method when paying, none to choose in the portal.
    payout_methods = models.JSONField(default=list, blank=True)
    external_org_id = models.CharField(max_length=200, blank=True, default="")
    # Days a pending, unflagged conversion of an offer without its own hold_days waits before
    # the worker approves it (conversions.auto_approval); null: no auto-approval.
    default_hold_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(365)],
        help_text="Days before a pending, unflagged conversion is approved automatically, for "
        "offers without their own hold (0–365); empty: conversions wait for a person.",
    )
    # No payout is generated for a partner and currency whose unsettled ledger total is below
    # this (in that currency); the total carries on to a later payout. 0: any positive total.
    min_payout_amount = models.DecimalField(
        max_digits=14, decimal_places=2, default=0, db_default=0
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(fraud_threshold__lte=100), name="brand_fraud_threshold_0_100"
            ),
            models.CheckConstraint(
                condition=models.Q(fraud_mode__in=FraudMode.values), name="brand_fraud_mode_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(default_hold_days__isnull=True)
                | models.Q(default_hold_days__lte=365),
                name="brand_default_hold_days_range",
            ),
            models.CheckConstraint(
                condition=models.Q(min_payout_amount__gte=0), name="brand_min_payout_not_negative"
            ),
            models.UniqueConstraint(
                fields=["external_org_id"],
                condition=~models.Q(external_org_id=""),
                name="brand_external_org_id_uniq",
                violation_error_message="Another brand already uses this external organization id.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"


class StaffRole(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    ANALYST = "analyst", "Analyst (read-only)"


WRITE_ROLES = frozenset({StaffRole.OWNER, StaffRole.ADMIN})


class StaffMembership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="brand_memberships"
    )
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=StaffRole.choices, default=StaffRole.ANALYST)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "brand"], name="staff_membership_user_brand_uniq"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.brand.slug}"


class ApiKeyScope(models.TextChoices):
    READ = "read", "Read"
    READ_WRITE = "read_write", "Read and write"


class ApiKey(models.Model):
    """A brand API key. Only the SHA-256 of the secret part is stored; the plaintext
    ``trk_<prefix>_<secret><checksum>`` is returned once, by ``api_key_create``."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="api_keys")
    label = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_sha256 = models.CharField(max_length=64)
    scope = models.CharField(
        max_length=16, choices=ApiKeyScope.choices, default=ApiKeyScope.READ_WRITE
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        indexes = [models.Index(fields=["brand", "created_at"], name="api_key_brand_time_idx")]

    def __str__(self) -> str:
        return f"trk_{self.prefix}_… ({self.label})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


# An exchange rate: 1 unit of one currency = ``rate`` units of another. Ten decimals hold the
# ECB's five significant digits for a currency worth a ten-thousandth of a euro (IDR, VND).
RATE_DIGITS, RATE_PLACES = 20, 10


class FxReferenceRate(models.Model):
    """A reference rate, the same for every brand: on ``day``, 1 EUR = ``rate`` ``currency``.
    Loaded from the ECB's daily reference files by ``load_fx_rates`` (``brands.fx_services``);
    belongs to no brand, so it is visible to all and in no brand's audit log."""

    day = models.DateField()
    currency = models.CharField(max_length=3, validators=[CURRENCY_VALIDATOR])
    rate = models.DecimalField(max_digits=RATE_DIGITS, decimal_places=RATE_PLACES)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["currency", "day"], name="fx_reference_uniq"),
            models.CheckConstraint(condition=models.Q(rate__gt=0), name="fx_reference_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.day} 1 EUR = {self.rate} {self.currency}"

    # Read as a pair like a brand's rate (list_fx_rates answers both the same way).
    base = "EUR"
    source = "reference"

    @property
    def quote(self) -> str:
        return self.currency


class FxRate(models.Model):
    """A brand's own rate, which beats the reference rates: from ``day`` on (until a later row
    of the pair), 1 ``base`` = ``rate`` ``quote``. Set over REST, MCP or the admin
    (``brands.fx_services.fx_rate_set``), audited. The lookup rule: docs/currencies.md."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="fx_rates")
    day = models.DateField()
    base = models.CharField(max_length=3, validators=[CURRENCY_VALIDATOR])
    quote = models.CharField(max_length=3, validators=[CURRENCY_VALIDATOR])
    rate = models.DecimalField(max_digits=RATE_DIGITS, decimal_places=RATE_PLACES)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "FX rate"
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "base", "quote", "day"], name="fx_rate_brand_pair_day_uniq"
            ),
            models.CheckConstraint(condition=models.Q(rate__gt=0), name="fx_rate_positive"),
            models.CheckConstraint(
                condition=~models.Q(base=models.F("quote")), name="fx_rate_two_currencies"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} 1 {self.base} = {self.rate} {self.quote}"

    source = "brand"


# Registered in this app; defined in their own module (webhooks and signing, docs/webhooks.md).
from brands.webhook_models import SigningSecret, WebhookEndpoint  # noqa: E402, F401
