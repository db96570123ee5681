"""The offer admin's add and change forms: the fields each shows and how the targeting lists
are typed (comma-separated), beside ``offers.admin`` which does the writes."""

from __future__ import annotations

from typing import Any

from django import forms

from backoffice.admin_base import CommaListField, ServiceModelForm
from offers.models import DeviceClass, Offer
from offers.services import CAP_FIELDS, UPDATABLE_FIELDS

CREATE_FIELDS = (
    "brand",
    "slug",
    "name",
    "destination_url",
    "fallback_url",
    "currency",
    "payout_type",
    "payout_amount",
    "revenue_type",
    "revenue_amount",
    "postback_url_template",
    "geo_allow",
    "device_allow",
    "deep_link_hosts",
)
# Service argument → form field, for errors the services report by argument name.
OFFER_ERROR_FIELDS = {
    "daily": "daily_cap",
    "weekly": "weekly_cap",
    "monthly": "monthly_cap",
    "mode": "cap_mode",
    "offer_id": "slug",
    "offer_id_taken": "slug",
}
_TARGETING_HELP = {
    "geo_allow": "Two-letter country codes separated by commas (US, DE). Empty: all countries.",
    "postback_allowed_ips": "Addresses or CIDR ranges separated by commas. Empty: any sender.",
    "deep_link_hosts": "Hosts a tracking link's url= may land on, separated by commas "
    "(shop.example.com, *.example.com for its subdomains). Empty: no deep links.",
}


def _deep_link_field() -> CommaListField:
    return CommaListField(
        required=False, label="Deep-link hosts", help_text=_TARGETING_HELP["deep_link_hosts"]
    )


def _geo_field() -> CommaListField:
    return CommaListField(required=False, label="Countries", help_text=_TARGETING_HELP["geo_allow"])


def _device_field() -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        choices=DeviceClass.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Devices",
        help_text="None ticked: all devices.",
    )


class OfferAddForm(ServiceModelForm):
    error_fields = OFFER_ERROR_FIELDS
    geo_allow = _geo_field()
    device_allow = _device_field()
    deep_link_hosts = _deep_link_field()

    class Meta(ServiceModelForm.Meta):
        model = Offer
        fields = (*CREATE_FIELDS, *CAP_FIELDS)
        help_texts = {
            "slug": "The offer_id used in tracking links; derived from the name when left empty.",
            "currency": "Defaults to the brand's currency.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("slug", "currency"):
            if name in self.fields:
                self.fields[name].required = False


class OfferChangeForm(ServiceModelForm):
    error_fields = OFFER_ERROR_FIELDS
    geo_allow = _geo_field()
    device_allow = _device_field()
    deep_link_hosts = _deep_link_field()
    postback_allowed_ips = CommaListField(
        required=False,
        label="Postback allowed IPs",
        help_text=_TARGETING_HELP["postback_allowed_ips"],
    )

    class Meta(ServiceModelForm.Meta):
        model = Offer
        fields = (*UPDATABLE_FIELDS, *CAP_FIELDS)
