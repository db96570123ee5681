from typing import TypedDict

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from brands.models import CURRENCY_VALIDATOR, HTTP_URL_VALIDATOR, SLUG_VALIDATOR
from core.secrets_crypto import EncryptedSecretField


class DecimalColumn(TypedDict):
    """A DecimalField's size, spread into the field as `**MONEY` (typed, so the spread checks)."""

    max_digits: int
    decimal_places: int


MONEY: DecimalColumn = {"max_digits": 14, "decimal_places": 2}
ATTRIBUTION_WINDOW_DEFAULT_DAYS = 30
ATTRIBUTION_WINDOW_MAX_DAYS = 365
HOLD_DAYS_MAX = 365


class OfferStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    ARCHIVED = "archived", "Archived"


class AmountType(models.TextChoices):
    FLAT = "flat", "Flat amount"
    PERCENT = "percent", "Percent of sale"


class CapMode(models.TextChoices):
    SOFT = "soft", "Soft (over-cap conversions held for review)"
    HARD = "hard", "Hard (over-cap conversions rejected)"


class DeviceClass(models.TextChoices):
    DESKTOP = "desktop", "Desktop"
    MOBILE = "mobile", "Mobile"
    TABLET = "tablet", "Tablet"


class Offer(models.Model):
    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="offers")
    slug = models.CharField(max_length=64, validators=[SLUG_VALIDATOR])
    name = models.CharField(max_length=200)
    status = models.CharField(
        max_length=16, choices=OfferStatus.choices, default=OfferStatus.ACTIVE
    )
    # May carry {CLICK_ID}, {PARTNER_ID}, {SUB1}…{SUB5}; values are URL-encoded when filled.
    destination_url = models.URLField(max_length=2048, validators=[HTTP_URL_VALIDATOR])
    fallback_url = models.URLField(max_length=2048, validators=[HTTP_URL_VALIDATOR], blank=True)
    currency = models.CharField(max_length=3, validators=[CURRENCY_VALIDATOR])
    payout_type = models.CharField(
        max_length=8, choices=AmountType.choices, default=AmountType.FLAT
    )
    payout_amount = models.DecimalField(**MONEY)
    revenue_type = models.CharField(
        max_length=8, choices=AmountType.choices, default=AmountType.FLAT
    )
    revenue_amount = models.DecimalField(**MONEY, default=0)
    daily_cap = models.PositiveIntegerField(null=True, blank=True)
    weekly_cap = models.PositiveIntegerField(null=True, blank=True)
    monthly_cap = models.PositiveIntegerField(null=True, blank=True)
    cap_mode = models.CharField(max_length=8, choices=CapMode.choices, default=CapMode.SOFT)
    geo_allow = models.JSONField(default=list, blank=True)  # ISO 3166-1 alpha-2; empty = all
    device_allow = models.JSONField(default=list, blank=True)  # DeviceClass values; empty = all
    # Private offers accept clicks only from partners listed in allowed_partners.
    is_private = models.BooleanField(default=False)
    # Deep links (core.deep_links): hosts a tracking link's url= may land on, each a host
    # ("shop.example.com") or "*.example.com"; empty: url= is ignored. Normalised on save.
    deep_link_hosts = models.JSONField(default=list, blank=True)
    allowed_partners = models.ManyToManyField("partners.Partner", blank=True, related_name="+")
    # Kept (not hashed) because verifying an HMAC needs the key; no read path returns it.
    # Encrypted at rest with TRCKER_SECRETS_KEY (the column holds a Fernet token, ~170 chars
    # for a generated secret, hence the room).
    postback_secret = EncryptedSecretField(max_length=512, blank=True)
    previous_postback_secret = EncryptedSecretField(max_length=512, blank=True)
    previous_secret_valid_until = models.DateTimeField(null=True, blank=True)
    postback_allowed_ips = models.JSONField(default=list, blank=True)  # IPs or CIDRs; empty = any
    # Secure by default: a postback must be signed (or come from postback_allowed_ips) unless
    # the brand opts out here. Migration 0003 set it on offers that had neither before.
    allow_unsigned_postbacks = models.BooleanField(
        default=False,
        help_text="Accept postbacks with no signature from any address. Off by default: "
        "leave it off and have the advertiser sign, or set postback allowed IPs.",
    )
    postback_url_template = models.URLField(
        max_length=2048, validators=[HTTP_URL_VALIDATOR], null=True, blank=True
    )
    min_conversion_seconds = models.PositiveIntegerField(default=15)
    # A click older than this many days no longer converts: its postback is refused with
    # click_expired (docs/tracking.md, "Attribution window"). Coupons have no window.
    attribution_window_days = models.PositiveSmallIntegerField(
        default=ATTRIBUTION_WINDOW_DEFAULT_DAYS,
        validators=[MinValueValidator(1), MaxValueValidator(ATTRIBUTION_WINDOW_MAX_DAYS)],
        help_text="Days a click may convert after it was made (1–365; default 30).",
    )
    # Days a pending, unflagged conversion waits before the worker approves it; null: the
    # brand's default_hold_days (and with that null too, no auto-approval).
    hold_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(HOLD_DAYS_MAX)],
        help_text="Days before a pending, unflagged conversion is approved automatically "
        "(0–365); empty: the brand's default hold.",
    )
    # Recurring commissions (Stripe invoices after the first payment, docs/integrations.md):
    # for how many months after a customer's first payment renewals earn a commission (0: none),
    # at this percent of the payout the offer's rules give the renewal.
    recurring_months = models.PositiveSmallIntegerField(default=0)
    recurring_rate_percent = models.DecimalField(max_digits=5, decimal_places=2, default=100)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["brand", "slug"], name="offer_brand_slug_uniq"),
            models.CheckConstraint(
                condition=models.Q(status__in=OfferStatus.values), name="offer_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(payout_amount__gte=0) & models.Q(revenue_amount__gte=0),
                name="offer_amounts_non_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(recurring_months__lte=120)
                & models.Q(recurring_rate_percent__gte=0)
                & models.Q(recurring_rate_percent__lte=100),
                name="offer_recurring_in_range",
            ),
            models.CheckConstraint(
                condition=~models.Q(payout_type=AmountType.PERCENT)
                | models.Q(payout_amount__lte=100),
                name="offer_payout_percent_le_100",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    attribution_window_days__gte=1,
                    attribution_window_days__lte=ATTRIBUTION_WINDOW_MAX_DAYS,
                ),
                name="offer_attribution_window_range",
            ),
            models.CheckConstraint(
                condition=models.Q(hold_days__isnull=True) | models.Q(hold_days__lte=HOLD_DAYS_MAX),
                name="offer_hold_days_range",
            ),
        ]
        indexes = [models.Index(fields=["brand", "status"], name="offer_brand_status_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"

    @property
    def effective_hold_days(self) -> int | None:
        """The hold in force: the offer's own, else its brand's default; None: no
        auto-approval (conversions.auto_approval)."""
        return self.hold_days if self.hold_days is not None else self.brand.default_hold_days


class PayoutRule(models.Model):
    """Overrides the offer default for a partner, an event type, or a partner+event pair.
    ``event_type == ""`` means any event; ``partner`` null means any partner."""

    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="+")
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="payout_rules")
    partner = models.ForeignKey(
        "partners.Partner", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    event_type = models.CharField(max_length=64, blank=True, default="")
    payout_type = models.CharField(max_length=8, choices=AmountType.choices)
    payout_amount = models.DecimalField(**MONEY)
    revenue_type = models.CharField(max_length=8, choices=AmountType.choices, blank=True)
    revenue_amount = models.DecimalField(**MONEY, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["offer", "partner", "event_type"],
                condition=models.Q(partner__isnull=False),
                name="payout_rule_offer_partner_event_uniq",
            ),
            models.UniqueConstraint(
                fields=["offer", "event_type"],
                condition=models.Q(partner__isnull=True),
                name="payout_rule_offer_event_uniq",
            ),
            models.CheckConstraint(
                condition=~(models.Q(partner__isnull=True) & models.Q(event_type="")),
                name="payout_rule_targets_something",
            ),
            models.CheckConstraint(
                condition=models.Q(payout_amount__gte=0), name="payout_rule_amount_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.offer.slug}: {self.payout_type} {self.payout_amount}"


class CapPeriod(models.TextChoices):
    DAY = "day", "Day"
    WEEK = "week", "Week"
    MONTH = "month", "Month"


class OfferCapCounter(models.Model):
    """Conversions counted against a cap in one period (brand time zone). Incremented with a
    single conditional UPDATE (``count < cap``) so concurrent writers never overshoot."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="cap_counters")
    period = models.CharField(max_length=8, choices=CapPeriod.choices)
    period_start = models.DateField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["offer", "period", "period_start"], name="offer_cap_counter_uniq"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.offer_id} {self.period} {self.period_start}: {self.count}"
