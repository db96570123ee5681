"""A brand's webhook subscriptions and the secret every outbound request is signed with
(docs/webhooks.md). Kept beside ``brands.models`` (imported at its end, so Django registers
them in the ``brands`` app) because both belong to the brand and sit below every app that
emits an event."""

from __future__ import annotations

from django.core.validators import URLValidator
from django.db import models

from core.secrets_crypto import EncryptedSecretField

# brands.models imports this module at its end, so nothing is imported back from it.
HTTP_URL_VALIDATOR = URLValidator(schemes=["http", "https"])


class WebhookEndpoint(models.Model):
    """One URL the brand subscribed to some events; each event it subscribes to becomes one
    signed POST through the outbox (``conversions.PostbackDelivery`` with kind ``webhook``)."""

    brand = models.ForeignKey(
        "brands.Brand", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2048, validators=[HTTP_URL_VALIDATOR])
    events = models.JSONField(default=list)  # names from brands.events.EVENTS
    description = models.CharField(max_length=200, blank=True, default="")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["brand", "created_at"], name="webhook_brand_time_idx")]

    def __str__(self) -> str:
        return f"webhook {self.pk} → {self.url}"


class SigningSecret(models.Model):
    """The brand's outbound signing secret (``whsec_…``, Standard Webhooks), encrypted at rest
    like the postback secrets. During a rotation's overlap window the previous one signs too."""

    brand = models.OneToOneField(
        "brands.Brand", on_delete=models.CASCADE, primary_key=True, related_name="signing_secret"
    )
    secret = EncryptedSecretField(max_length=512)
    previous_secret = EncryptedSecretField(max_length=512, blank=True, default="")
    previous_valid_until = models.DateTimeField(null=True, blank=True)
    rotated_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"signing secret of brand {self.brand_id}"
