"""The admin's forms for conversions, payouts and the ledger (interface code: only the admin
imports them)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.db.models import QuerySet

from backoffice.admin_base import ServiceModelForm
from brands.models import Brand
from conversions.ledger_models import LedgerEntry, ReversalReason


class MarkPaidForm(forms.Form):
    method = forms.CharField(max_length=64, help_text="e.g. paypal, wire, ach")
    reference = forms.CharField(max_length=200, required=False)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class GeneratePayoutsForm(forms.Form):
    brand: forms.ModelChoiceField[Brand] = forms.ModelChoiceField(queryset=None)
    up_to = forms.DateField(
        initial=dt.date.today, help_text="Last day covered, in the brand's time zone."
    )

    def __init__(self, *args: Any, brands: QuerySet[Brand], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["brand"]
        assert isinstance(field, forms.ModelChoiceField)  # declared above
        field.queryset = brands
        if brands.count() == 1:
            field.initial = brands.first()


class ReverseForm(forms.Form):
    reason = forms.ChoiceField(choices=ReversalReason.choices)
    note = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required with other; kept on the ledger entry and in the audit log.",
    )


class LedgerAdjustmentForm(ServiceModelForm):
    error_fields = {"reason": "note", "invalid_currency": "currency"}

    class Meta(ServiceModelForm.Meta):
        model = LedgerEntry
        fields = ("partner", "currency", "amount", "note")
        labels = {"note": "Reason"}
        help_texts = {
            "amount": "Positive credits the partner, negative debits; not 0.",
            "currency": "ISO 4217, e.g. USD.",
            "note": "Why the balance changes (required, audited).",
        }
