"""The public partner application form (``/p/<brand>/apply``). Parsing only: the rules that
matter (one application per email, unique partner id) are ``partner_apply``'s."""

from __future__ import annotations

from typing import Any

from django import forms

from brands.models import HTTP_URL_VALIDATOR, SLUG_VALIDATOR
from partners.services import APPLICATION_NOTE_MAX

# Named like a real field so form-filling bots fill it; people never see it (moved off-screen
# by CSS, skipped by the tab order and hidden from screen readers). Not "website": that one
# is real. Browsers do not autofill "homepage", so a person cannot trip it by accident.
HONEYPOT_FIELD = "homepage"


class _WebURLField(forms.URLField):
    # Only web schemes (Django's default also allows ftp), and one message when invalid.
    default_validators = [HTTP_URL_VALIDATOR]


class _TextField(forms.CharField):
    def to_python(self, value: Any) -> str | None:
        # Browsers count a line break as one character against maxlength but submit CRLF;
        # normalise first so the server counts what the person saw.
        text = super().to_python(value)
        return text if text is None else text.replace("\r\n", "\n")


class PartnerApplicationForm(forms.Form):
    name = forms.CharField(
        label="Your name or company",
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    website = _WebURLField(
        label="Website or channel",
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text="Optional. Where you will promote us (http or https).",
        widget=forms.URLInput(attrs={"autocomplete": "url", "placeholder": "https://"}),
    )
    note = _TextField(
        label="How will you promote us?",
        required=False,
        max_length=APPLICATION_NOTE_MAX,
        help_text=f"Optional, up to {APPLICATION_NOTE_MAX} characters: audience, channels, reach.",
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    partner_id = forms.CharField(
        label="Preferred partner id",
        required=False,
        max_length=64,
        validators=[SLUG_VALIDATOR],
        help_text=(
            "Optional. Appears in your tracking links, e.g. abc-media: lowercase letters, "
            "digits and hyphens. Chosen from your name when empty."
        ),
        widget=forms.TextInput(
            attrs={"autocapitalize": "none", "autocorrect": "off", "spellcheck": "false"}
        ),
    )
    homepage = forms.CharField(
        label="Leave this field empty",
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )

    VISIBLE_FIELDS = ("name", "email", "website", "note", "partner_id")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def visible_form_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.VISIBLE_FIELDS]

    def clean_name(self) -> str:
        # One line: the name ends up in email subjects and admin lists.
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise forms.ValidationError("This field is required.", code="required")
        return name

    def clean_partner_id(self) -> str:
        partner_id: str = self.cleaned_data["partner_id"]
        return partner_id.strip()

    @property
    def is_bot(self) -> bool:
        return bool(self.cleaned_data.get(HONEYPOT_FIELD))

    def service_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "email": data["email"],
            "website": data["website"],
            "note": data["note"],
            "partner_id": data["partner_id"] or None,
        }
