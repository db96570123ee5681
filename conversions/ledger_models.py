"""The partner ledger's model: every money movement between a brand and a partner is one
``LedgerEntry``, per brand, partner and currency, and nothing ever changes its amount.

Kinds: ``commission`` (+, when a conversion becomes approved, whatever path approved it),
``reversal`` (−, when an approved or paid conversion is reversed: a refund, a chargeback…),
``adjustment`` (±, by hand, with a reason) and ``payout`` (−, when a payout is marked paid:
it settles what the payout covered). A partner's balance in a currency is the sum of its
entries.

The one thing that moves is the settlement: ``payout`` names the payout that covers the entry
(set when a payout is generated, cleared when it is voided). Every other column is written
once. ``save()`` refuses an update of anything else and ``delete()`` refuses outright, and on
PostgreSQL a trigger (migration 0015) refuses the same at the database, for code that goes
around the model (``QuerySet.update``, raw SQL)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models

from core.errors import ConflictError
from core.ids import new_ledger_entry_id, new_refund_id

# The one column a payout may move: which payout settles the entry.
SETTLEMENT_FIELDS = frozenset({"payout", "payout_id"})
# Sums of money (offers.models.MONEY is 14 digits); conversions.models.TOTALS, repeated here so
# this module does not import models.py, which imports it.
_TOTALS: dict[str, Any] = {"max_digits": 20, "decimal_places": 2}


class EntryKind(models.TextChoices):
    COMMISSION = "commission", "Commission"
    REVERSAL = "reversal", "Reversal"
    ADJUSTMENT = "adjustment", "Adjustment"
    PAYOUT = "payout", "Payout"


class ReversalReason(models.TextChoices):
    """Why a conversion was reversed: a closed list (``other`` needs a note)."""

    REFUND = "refund", "Refunded by the customer"
    CHARGEBACK = "chargeback", "Charged back"
    FRAUD = "fraud", "Found fraudulent"
    DUPLICATE = "duplicate", "Duplicate of another sale"
    OTHER = "other", "Other (see the note)"


class ImmutableEntryError(ConflictError):
    code = "ledger_entry_immutable"


class LedgerEntryQuerySet(models.QuerySet["LedgerEntry"]):
    def update(self, **kwargs: Any) -> int:
        if set(kwargs) - SETTLEMENT_FIELDS:
            raise ImmutableEntryError(
                "Ledger entries are immutable: only the payout that settles them may change. "
                "Write a new entry (an adjustment or a reversal) instead."
            )
        return super().update(**kwargs)

    def delete(self) -> Any:
        raise ImmutableEntryError("Ledger entries are never deleted.")


class LedgerEntry(models.Model):
    id = models.CharField(
        primary_key=True, max_length=32, default=new_ledger_entry_id, editable=False
    )
    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="+")
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, related_name="ledger_entries"
    )
    kind = models.CharField(max_length=16, choices=EntryKind.choices)
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(**_TOTALS)
    # The conversion a commission or reversal is about; none for adjustments and payouts.
    conversion = models.ForeignKey(
        "conversions.Conversion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_entries",
    )
    # The payout that settles this entry (pending or paid); a payout entry names its own payout.
    payout = models.ForeignKey(
        "conversions.Payout",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="entries",
    )
    # A reversal's reason code (ReversalReason); blank otherwise.
    reason_code = models.CharField(max_length=16, blank=True)
    # An adjustment's reason, a reversal's note.
    note = models.CharField(max_length=500, blank=True)
    created_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()

    objects: ClassVar[Any] = LedgerEntryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "ledger entries"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=EntryKind.values), name="ledger_kind_valid"
            ),
            # The sign of each kind: a commission is never negative, a reversal or a payout
            # never positive; an adjustment is never zero.
            models.CheckConstraint(
                condition=(
                    models.Q(kind="commission", amount__gte=0)
                    | models.Q(kind__in=["reversal", "payout"], amount__lte=0)
                    | (models.Q(kind="adjustment") & ~models.Q(amount=0))
                ),
                name="ledger_amount_sign",
            ),
            # One commission per conversion. Reversals may be several (partial refunds, then
            # the rest); together they never exceed the commission (conversions.refunds_ledger
            # and reversal_record write at most what remains, under the conversion's lock).
            models.UniqueConstraint(
                fields=["conversion"],
                condition=models.Q(kind="commission"),
                name="ledger_one_commission",
            ),
            models.UniqueConstraint(
                fields=["payout"],
                condition=models.Q(kind="payout"),
                name="ledger_one_payout_entry",
            ),
        ]
        indexes = [
            models.Index(
                fields=["brand", "partner", "currency", "created_at"], name="ledger_partner_idx"
            ),
            models.Index(fields=["brand", "created_at"], name="ledger_brand_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.pk} {self.kind} {self.amount} {self.currency}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            fields = kwargs.get("update_fields")
            if fields is None or set(fields) - SETTLEMENT_FIELDS:
                raise ImmutableEntryError(
                    f"Ledger entry {self.pk} is immutable: only the payout that settles it may "
                    "change. Write a new entry (an adjustment or a reversal) instead."
                )
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ImmutableEntryError(f"Ledger entry {self.pk} is never deleted.")


class ConversionRefund(models.Model):
    """One refund (or chargeback) the advertiser or a store reported against a sale, whole or
    partial, kept by its own id so a repeat changes nothing (docs/ledger.md, "Partial
    refunds"). ``amount`` is what it took back of the sale as reported (``original_amount``,
    in ``original_currency``), at most what was left; the refunds of a conversion never sum
    past its sale. ``entry`` is the reversal it wrote, if it wrote one. Written once."""

    id = models.CharField(primary_key=True, max_length=32, default=new_refund_id, editable=False)
    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="+")
    conversion = models.ForeignKey(
        "conversions.Conversion", on_delete=models.PROTECT, related_name="refunds"
    )
    # The refund's own id: a postback's txn_id, a Stripe refund id, a Shopify refund id.
    refund_id = models.CharField(max_length=128)
    reason = models.CharField(max_length=16)  # ReversalReason: refund or chargeback
    amount = models.DecimalField(**_TOTALS)
    currency = models.CharField(max_length=3)
    entry = models.ForeignKey(
        LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversion", "refund_id"], name="conversion_refund_once"
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="conversion_refund_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.refund_id} {self.amount} {self.currency}"
