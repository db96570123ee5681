from typing import Any

from django.db import models
from django.utils import timezone

from core.ids import new_click_id, new_conversion_id, new_payout_id
from offers.models import MONEY, DecimalColumn

SUB_ID_MAX = 255

# Sums of MONEY values (a payout's conversions, a day's rollup): one conversion may carry up to
# 999,999,999,999.99, so a sum of a few at MONEY's 14 digits would overflow — the write fails
# and the postback behind it answers 503, which the advertiser retries for ever. 20 digits hold
# a million conversions at the maximum.
TOTALS: DecimalColumn = {"max_digits": 20, "decimal_places": 2}
# An exchange rate as applied (brands.fx: cross rates through EUR kept to 12 places).
FX_RATE: DecimalColumn = {"max_digits": 24, "decimal_places": 12}


class ClickOutcome(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    UNKNOWN_OFFER = "unknown_offer", "Unknown offer"
    OFFER_ARCHIVED = "offer_archived", "Offer archived"
    OFFER_PAUSED = "offer_paused", "Offer paused"
    UNKNOWN_PARTNER = "unknown_partner", "Unknown partner"
    PARTNER_INACTIVE = "partner_inactive", "Partner not active"
    PARTNER_NOT_ALLOWED = "partner_not_allowed", "Partner not allowed on offer"
    CAP_REACHED = "cap_reached", "Offer cap reached"
    GEO_BLOCKED = "geo_blocked", "Country not allowed"
    DEVICE_BLOCKED = "device_blocked", "Device not allowed"
    FRAUD_BLOCKED = "fraud_blocked", "Blocked by fraud score"


class Click(models.Model):
    id = models.CharField(primary_key=True, max_length=32, default=new_click_id, editable=False)
    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="+")
    # Null when the click named an offer or partner that does not exist (kept as a refusal).
    # offer.clicks lets offers ask "has traffic?" without importing conversions (a layer up).
    offer = models.ForeignKey(
        "offers.Offer", null=True, on_delete=models.SET_NULL, related_name="clicks"
    )
    partner = models.ForeignKey(
        "partners.Partner", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    country = models.CharField(max_length=2, blank=True)
    device_class = models.CharField(max_length=8, blank=True)
    referrer = models.CharField(max_length=1024, blank=True)
    sub1 = models.CharField(max_length=SUB_ID_MAX, blank=True)
    sub2 = models.CharField(max_length=SUB_ID_MAX, blank=True)
    sub3 = models.CharField(max_length=SUB_ID_MAX, blank=True)
    sub4 = models.CharField(max_length=SUB_ID_MAX, blank=True)
    sub5 = models.CharField(max_length=SUB_ID_MAX, blank=True)
    outcome = models.CharField(max_length=24, choices=ClickOutcome.choices)
    # Link previews and prefetches are redirected but neither billed nor counted against caps.
    is_billable = models.BooleanField(default=True)
    fraud_score = models.PositiveSmallIntegerField(default=0)
    fraud_signals = models.JSONField(default=list, blank=True)
    # Score at or above the brand's threshold when it was scored (later threshold changes do
    # not rewrite history, so stats and rollups agree).
    fraud_flagged = models.BooleanField(default=False)
    # Made by ``send_test_postback``: kept out of rollups, stats, reports, caps and fraud
    # counters; its conversions inherit the mark.
    is_test = models.BooleanField(default=False, db_default=False)

    class Meta:
        indexes = [
            models.Index(fields=["brand", "created_at"], name="click_brand_time_idx"),
            models.Index(fields=["offer", "created_at"], name="click_offer_time_idx"),
            models.Index(fields=["partner", "created_at"], name="click_partner_time_idx"),
            models.Index(fields=["ip", "created_at"], name="click_ip_time_idx"),
        ]

    def __str__(self) -> str:
        return self.id


class ConversionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PENDING_REVIEW = "pending_review", "Pending review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    PAID = "paid", "Paid"
    # Approved or paid, then taken back (a refund, a chargeback…): its commission is cancelled
    # by a reversal entry in the partner's ledger (conversions.ledger_models).
    REVERSED = "reversed", "Reversed"


# Statuses that stats and reports leave out of "conversions" and their amounts: refused, or
# taken back after approval. Their counts stay in the rollups' own status columns.
UNCOUNTED_STATUSES = (ConversionStatus.REJECTED, ConversionStatus.REVERSED)


class Conversion(models.Model):
    id = models.CharField(
        primary_key=True, max_length=32, default=new_conversion_id, editable=False
    )
    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="+")
    offer = models.ForeignKey("offers.Offer", on_delete=models.PROTECT, related_name="conversions")
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, related_name="conversions"
    )
    # Raw clicks may be pruned after retention; the conversion keeps its click id regardless.
    click = models.ForeignKey(
        Click,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,  # pruning clicks must not rewrite conversions
        db_constraint=False,
        related_name="+",
    )
    coupon = models.ForeignKey(
        "partners.Coupon", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Both candidates as reported (click id, coupon code) and which one won attribution.
    attribution = models.JSONField(default=dict, blank=True)
    event_type = models.CharField(max_length=64, default="sale")
    txn_id = models.CharField(max_length=128)
    # In the offer's currency (``currency``): a sale reported in another one is converted at
    # ``fx_rate`` and keeps its amount and currency as reported (docs/currencies.md).
    sale_amount = models.DecimalField(**MONEY, default=0)
    currency = models.CharField(max_length=3)
    original_amount = models.DecimalField(**MONEY, default=0, db_default=0)
    original_currency = models.CharField(max_length=3, default="", db_default="")
    # 1 original_currency = fx_rate currency; sale_amount = original_amount × fx_rate, rounded.
    fx_rate = models.DecimalField(**FX_RATE, default=1, db_default=1)
    payout = models.DecimalField(**MONEY, default=0)
    # How ``payout`` was computed: flat (a CPA) or percent (a revenue share) of the sale, by
    # the rule that applied when it was recorded. It decides what a partial refund does
    # (docs/ledger.md); blank for conversions recorded before it was kept.
    payout_type = models.CharField(max_length=8, blank=True, default="", db_default="")
    revenue = models.DecimalField(**MONEY, default=0)
    status = models.CharField(
        max_length=16, choices=ConversionStatus.choices, default=ConversionStatus.PENDING
    )
    status_reason = models.CharField(max_length=64, blank=True)
    fraud_score = models.PositiveSmallIntegerField(default=0)
    fraud_reasons = models.JSONField(default=list, blank=True)
    fraud_flagged = models.BooleanField(default=False)
    fraud_cleared_by = models.CharField(max_length=200, blank=True)
    # Its click's country and device, copied when it is attributed: reports by country or
    # device read them without joining clicks, and they outlive pruned clicks. Blank by coupon.
    country = models.CharField(max_length=2, blank=True, default="", db_default="")
    device_class = models.CharField(max_length=8, blank=True, default="", db_default="")
    # A test conversion (its click is a test click): kept out of rollups, stats, reports,
    # payouts, statements and outbound postbacks, never approved or paid.
    is_test = models.BooleanField(default=False, db_default=False)
    payout_batch = models.ForeignKey(
        "conversions.Payout",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversions",
    )
    sub1 = models.CharField(max_length=SUB_ID_MAX, blank=True)
    sub2 = models.CharField(max_length=SUB_ID_MAX, blank=True)
    sub3 = models.CharField(max_length=SUB_ID_MAX, blank=True)
    sub4 = models.CharField(max_length=SUB_ID_MAX, blank=True)
    sub5 = models.CharField(max_length=SUB_ID_MAX, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)
    pending_review_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    rejected_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    reversed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Exactly-once ingestion: a repeated transaction id is a duplicate, not a new sale.
            models.UniqueConstraint(
                fields=["offer", "event_type", "txn_id"], name="conversion_offer_event_txn_uniq"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=ConversionStatus.values),
                name="conversion_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["brand", "created_at"], name="conv_brand_time_idx"),
            models.Index(fields=["brand", "status", "created_at"], name="conv_brand_status_idx"),
            models.Index(fields=["partner", "created_at"], name="conv_partner_time_idx"),
            models.Index(fields=["offer", "created_at"], name="conv_offer_time_idx"),
        ]

    def __str__(self) -> str:
        return self.id

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A conversion made without an original (tests, the admin) was reported as it is.
        if not self.original_currency:
            self.original_amount, self.original_currency = self.sale_amount, self.currency
        super().save(*args, **kwargs)


class ConversionReviewQueue(Conversion):
    """The approval queue in the admin: pending and pending_review conversions, oldest first."""

    class Meta:
        proxy = True
        verbose_name = "conversion awaiting review"
        verbose_name_plural = "review queue"


class PayoutStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PAID = "paid", "Paid"
    VOID = "void", "Void"


class Payout(models.Model):
    id = models.CharField(primary_key=True, max_length=32, default=new_payout_id, editable=False)
    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="+")
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, related_name="payouts"
    )
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(**TOTALS)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField()
    status = models.CharField(
        max_length=8, choices=PayoutStatus.choices, default=PayoutStatus.PENDING
    )
    # What the partner receives (docs/currencies.md): amount in their payout_currency at
    # fx_rate, the rate of the day the payout was generated; else currency and amount at 1.
    partner_currency = models.CharField(max_length=3, default="", db_default="")
    partner_amount = models.DecimalField(**TOTALS, null=True, blank=True)
    fx_rate = models.DecimalField(**FX_RATE, default=1, db_default=1)
    method = models.CharField(max_length=64, blank=True)
    reference = models.CharField(max_length=200, blank=True)
    notes = models.TextField(blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["brand", "status", "created_at"], name="payout_brand_status_idx")
        ]

    def __str__(self) -> str:
        return self.id

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A payout made without a partner-currency amount (tests, older code) is paid as is.
        if not self.partner_currency:
            self.partner_currency, self.partner_amount = self.currency, self.amount
        super().save(*args, **kwargs)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (will retry)"
    DEAD = "dead", "Dead (retries exhausted)"


class DeliveryKind(models.TextChoices):
    OFFER_POSTBACK = "offer_postback", "Postback (offer's template)"
    PARTNER_POSTBACK = "partner_postback", "Postback (partner's template)"
    WEBHOOK = "webhook", "Webhook to the brand"


class PostbackDelivery(models.Model):
    """The outbox: one row per outbound request — a postback (GET to the offer's or the
    partner's template) or a webhook (signed POST of an event to a brand's endpoint) —
    written in the transaction of the change that causes it and sent by the worker
    (conversions/outbox.py), with one retry schedule, SSRF guard, signature and replay."""

    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(
        max_length=16, choices=DeliveryKind.choices, default=DeliveryKind.OFFER_POSTBACK
    )
    # conversion.created / .approved / … for postbacks; any brands.events name for webhooks.
    event = models.CharField(max_length=32, blank=True, default="")
    # Set for postbacks (the conversion they report); null for webhooks, whose body says.
    conversion = models.ForeignKey(
        Conversion, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    endpoint = models.ForeignKey(
        "brands.WebhookEndpoint",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deliveries",
    )
    url = models.TextField()
    body = models.TextField(blank=True, default="")  # the exact JSON a webhook POSTs (signed)
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "postback deliveries"
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx"),
            models.Index(
                fields=["brand", "status", "created_at"], name="delivery_brand_status_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.status})"


class DailyRollup(models.Model):
    """Per brand, day (brand time zone), offer and partner: clicks and conversions by status
    with amounts. Maintained by increments in the same transaction as the click or conversion
    change that moves them; every stats selector reads these instead of raw rows. A
    conversion's amounts stay on the day it was recorded and move between status columns.

    A key may have several rows (``stripe``): a new click or conversion increments one of
    ``ROLLUP_STRIPES`` rows at random, so concurrent traffic of one hot offer × partner does
    not queue on one row lock held through each COMMIT. Readers always SUM over the key."""

    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    offer = models.ForeignKey(
        "offers.Offer", on_delete=models.CASCADE, related_name="daily_rollups"
    )
    partner = models.ForeignKey("partners.Partner", on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=3)
    stripe = models.PositiveSmallIntegerField(db_default=0)
    clicks_gross = models.BigIntegerField(db_default=0)
    clicks = models.BigIntegerField(db_default=0)  # accepted and billable
    clicks_flagged = models.BigIntegerField(db_default=0)
    clicks_fraud_refused = models.BigIntegerField(db_default=0)
    conversions_flagged = models.BigIntegerField(db_default=0)
    conversions_fraud_review = models.BigIntegerField(db_default=0)
    conversions_fraud_rejected = models.BigIntegerField(db_default=0)
    pending_count = models.BigIntegerField(db_default=0)
    pending_payout = models.DecimalField(**TOTALS, db_default=0)
    pending_revenue = models.DecimalField(**TOTALS, db_default=0)
    pending_sale = models.DecimalField(**TOTALS, db_default=0)
    pending_review_count = models.BigIntegerField(db_default=0)
    pending_review_payout = models.DecimalField(**TOTALS, db_default=0)
    pending_review_revenue = models.DecimalField(**TOTALS, db_default=0)
    pending_review_sale = models.DecimalField(**TOTALS, db_default=0)
    approved_count = models.BigIntegerField(db_default=0)
    approved_payout = models.DecimalField(**TOTALS, db_default=0)
    approved_revenue = models.DecimalField(**TOTALS, db_default=0)
    approved_sale = models.DecimalField(**TOTALS, db_default=0)
    rejected_count = models.BigIntegerField(db_default=0)
    rejected_payout = models.DecimalField(**TOTALS, db_default=0)
    rejected_revenue = models.DecimalField(**TOTALS, db_default=0)
    rejected_sale = models.DecimalField(**TOTALS, db_default=0)
    paid_count = models.BigIntegerField(db_default=0)
    paid_payout = models.DecimalField(**TOTALS, db_default=0)
    paid_revenue = models.DecimalField(**TOTALS, db_default=0)
    paid_sale = models.DecimalField(**TOTALS, db_default=0)
    reversed_count = models.BigIntegerField(db_default=0)
    reversed_payout = models.DecimalField(**TOTALS, db_default=0)
    reversed_revenue = models.DecimalField(**TOTALS, db_default=0)
    reversed_sale = models.DecimalField(**TOTALS, db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "day", "offer", "partner", "stripe"], name="rollup_key_uniq"
            ),
        ]
        indexes = [models.Index(fields=["brand", "day"], name="rollup_brand_day_idx")]

    def __str__(self) -> str:
        return f"{self.brand_id} {self.day} {self.offer_id}/{self.partner_id}"


class ClickRollup(models.Model):
    """Clicks per brand, level, day (brand time zone), offer, partner, country, device and
    outcome: what ``get_report`` reads for click metrics by any dimension but sub ids. Written
    beside ``DailyRollup`` by the one click writer (``click_store.write_clicks``) in the
    transaction that inserts the clicks, on the writing process's stripe, and repaired by the
    same rebuild (``conversions.click_rollups``). Offer and partner are plain ids, 0 when the
    click named none that exists (a refusal) or the level leaves the partner out, so the key is
    unique without NULLs."""

    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="+")
    # The grain (``conversions.click_rollups``): 0 every dimension, 1 without the partner,
    # 2 without country and device, 3 without the outcome too. A click is counted once at each.
    level = models.PositiveSmallIntegerField()
    day = models.DateField()
    offer_id = models.BigIntegerField()
    partner_id = models.BigIntegerField()
    country = models.CharField(max_length=2)
    device = models.CharField(max_length=8)
    outcome = models.CharField(max_length=24)
    stripe = models.PositiveSmallIntegerField(db_default=0)
    clicks = models.BigIntegerField(db_default=0)  # every click, refusals included
    billable_clicks = models.BigIntegerField(db_default=0)  # accepted and billable
    refused_clicks = models.BigIntegerField(db_default=0)  # outcome other than accepted

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "brand",
                    "level",
                    "day",
                    "offer_id",
                    "partner_id",
                    "country",
                    "device",
                    "outcome",
                    "stripe",
                ],
                name="click_rollup_key_uniq",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.brand_id} {self.day} {self.offer_id}/{self.partner_id} {self.outcome}"


class ClickPruning(models.Model):
    """How far ``prune_clicks`` has deleted a brand's raw clicks: any click created before
    ``pruned_before`` may be gone. Rollup rebuilds read it so they never recompute click counts
    from rows that no longer exist (``conversions.rollups.clicks_pruned``). Written only by
    ``conversions.pruning.clicks_prune``, in the transaction of its first delete, and it only
    moves forward; a brand that was never pruned has no row."""

    brand = models.OneToOneField(
        "brands.Brand", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    pruned_before = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.brand_id} clicks pruned before {self.pruned_before:%Y-%m-%d %H:%M} UTC"


class PostbackAttempt(models.Model):
    """One inbound postback request, accepted or refused: the advertiser's side of "why was my
    postback not counted?". Written by a worker from the ``postback-attempts`` queue (directly
    without one; ``conversions.postback_log``), deleted after ``TRCKER_POSTBACK_LOG_DAYS``.
    Parameters are stored with credentials redacted and values clipped."""

    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="+")
    # The offer slug as the URL named it (cleaned and clipped), which may name no offer at all.
    offer_slug = models.CharField(max_length=64)
    # When the request arrived; the worker may write the row a moment later.
    created_at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True, blank=True)
    # "accepted", "duplicate", or the refusal's error code (bad_signature, unknown_click, …).
    outcome = models.CharField(max_length=64)
    http_status = models.PositiveSmallIntegerField()
    # Plain ids, no foreign keys: the log outlives nothing it names, and clicks are pruned.
    conversion_id = models.CharField(max_length=32, blank=True)
    click_id = models.CharField(max_length=32, blank=True)
    txn_id = models.CharField(max_length=128, blank=True)
    params = models.JSONField(default=dict, blank=True)
    method = models.CharField(max_length=8)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["brand", "created_at"], name="pb_attempt_brand_time_idx"),
            models.Index(fields=["brand", "click_id"], name="pb_attempt_brand_click_idx"),
        ]

    def __str__(self) -> str:
        return f"postback {self.offer_slug}: {self.outcome}"


# The partner ledger lives in its own module; imported here so Django registers its model.
from conversions.ledger_models import ConversionRefund as ConversionRefund  # noqa: E402
from conversions.ledger_models import LedgerEntry as LedgerEntry  # noqa: E402
