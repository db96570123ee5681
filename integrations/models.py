"""Stripe and Shopify connections of a brand, and what their webhooks told Trcker.

``IntegrationConnection`` holds the signing secret the brand pasted (encrypted at rest, the
previous one kept through a grace period, as an offer's postback secret is).
``IntegrationEvent`` logs every webhook delivery of a known brand: accepted, duplicate,
ignored or refused, with its reason; its (brand, provider, event id) uniqueness over accepted
and ignored events is the idempotency key. ``IntegrationCustomer`` remembers which click or
coupon a payment provider's customer came through, for later invoices; ``IntegrationPayment``
which conversion a payment (invoice, payment intent, charge, order) recorded, for refunds and
disputes. See docs/integrations.md."""

from django.db import models
from django.utils import timezone

from core.secrets_crypto import EncryptedSecretField


class Provider(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    SHOPIFY = "shopify", "Shopify"


class SaleTopic(models.TextChoices):
    """Which Shopify webhook records a sale (docs/integrations.md): the order's creation
    (the default; ``orders/paid`` records it too when its creation was missed) or its payment
    (``orders/create`` is then ignored as ``awaiting_payment``)."""

    ORDERS_CREATE = "orders/create", "Order creation"
    ORDERS_PAID = "orders/paid", "Order payment"


class EventOutcome(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    DUPLICATE = "duplicate", "Duplicate (already processed)"
    IGNORED = "ignored", "Ignored"
    REFUSED = "refused", "Refused"


class IntegrationConnection(models.Model):
    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    # Kept (not hashed): verifying an HMAC needs the key. Never returned by any read.
    signing_secret = EncryptedSecretField(max_length=1024, blank=True)
    previous_signing_secret = EncryptedSecretField(max_length=1024, blank=True)
    previous_secret_valid_until = models.DateTimeField(null=True, blank=True)
    # The offer of a sale attributed by a coupon that names no offer of its own.
    default_offer = models.ForeignKey(
        "offers.Offer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    secret_set_at = models.DateTimeField(null=True, blank=True)
    # Shopify only: which webhook records a sale.
    record_sales_on = models.CharField(
        max_length=32, choices=SaleTopic.choices, default=SaleTopic.ORDERS_CREATE
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "provider"], name="integration_brand_provider_uniq"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} ({'connected' if self.signing_secret else 'not connected'})"


class IntegrationEvent(models.Model):
    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    received_at = models.DateTimeField(default=timezone.now)
    # The provider's event id (evt_… / X-Shopify-Event-Id): blank when refused before the
    # signature proved anything the body says.
    event_id = models.CharField(max_length=255, blank=True)
    event_type = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=16, choices=EventOutcome.choices)
    reason = models.CharField(max_length=64, blank=True)
    detail = models.CharField(max_length=255, blank=True)
    # The provider's object the event is about (cs_…, in_…, ch_…, an order id).
    object_id = models.CharField(max_length=255, blank=True)
    # Plain ids: the log outlives nothing it names.
    conversion_id = models.CharField(max_length=32, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    http_status = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [
            # Exactly-once: an event id is processed once per brand and provider.
            models.UniqueConstraint(
                fields=["brand", "provider", "event_id"],
                condition=models.Q(outcome__in=["accepted", "ignored"]) & ~models.Q(event_id=""),
                name="integration_event_once",
            ),
        ]
        indexes = [
            models.Index(fields=["brand", "received_at"], name="integ_event_brand_time_idx"),
            models.Index(
                fields=["brand", "provider", "received_at"], name="integ_event_provider_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_type or '?'}: {self.outcome} {self.reason}"


class IntegrationCustomer(models.Model):
    """A provider's customer (Stripe cus_…) and the click or coupon that brought them."""

    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    customer_id = models.CharField(max_length=255)
    click_id = models.CharField(max_length=32, blank=True)
    coupon = models.CharField(max_length=64, blank=True)
    offer = models.ForeignKey("offers.Offer", on_delete=models.CASCADE, related_name="+")
    # The first paid conversion: recurring commissions count their months from it, and are
    # attributed to its partner.
    first_payment_at = models.DateTimeField(null=True, blank=True)
    first_conversion = models.ForeignKey(
        "conversions.Conversion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "provider", "customer_id"], name="integration_customer_uniq"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} customer {self.customer_id}"


class IntegrationPayment(models.Model):
    """One payment reference (in_…, pi_…, ch_…, cs_…, an order id) → the conversion it made."""

    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    reference = models.CharField(max_length=255)
    conversion = models.ForeignKey(
        "conversions.Conversion", on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "provider", "reference"], name="integration_payment_uniq"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.reference} → {self.conversion_id}"


class IntegrationPaymentLink(models.Model):
    """A payment (pi_…, ch_…) that paid an invoice (in_…), from Stripe's ``invoice_payment.paid``:
    since API version 2025-03-31 an invoice names no payment intent and a charge no invoice, so a
    refund of a subscription's charge finds the invoice's conversion through this. Kept whether
    or not the invoice's conversion is recorded yet (the events arrive in any order)."""

    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    reference = models.CharField(max_length=255)
    paid_reference = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "provider", "reference", "paid_reference"],
                name="integration_payment_link_uniq",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.reference} paid {self.paid_reference}"
