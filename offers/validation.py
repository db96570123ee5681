"""What a valid offer configuration is: the checks the offer services run before they write.

Checks and normalisation only — no writes, no audit (the currency check reads whether the
offer has traffic). Each raises ``ValidationError`` naming the offending field, so REST, MCP
and the admin show it next to that field. Kept apart from ``offers.services`` so the writes
read as lock → check → write → audit.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from core.deep_links import HOSTS_MAX, DeepLinkHostError, normalise_host_entry
from core.errors import ValidationError
from core.outbound_http import OutboundRefused, check_template_on_save
from offers.models import AmountType, DeviceClass, Offer


def normalise_targeting(fields: dict[str, Any]) -> None:
    """Normalise the targeting lists present in ``fields``, in place: country codes upper-case
    ISO 3166-1 alpha-2, device classes known, allowlist entries CIDR ranges; each sorted and
    without duplicates."""
    if fields.get("geo_allow") is not None:
        codes = [str(code).strip().upper() for code in fields["geo_allow"]]
        bad = [code for code in codes if len(code) != 2 or not code.isalpha()]
        if bad:
            raise ValidationError(
                "geo_allow takes ISO 3166-1 alpha-2 country codes; "
                f"not valid: {', '.join(bad[:5])}.",
                fields={"geo_allow": ["Use two-letter country codes such as US, DE."]},
            )
        fields["geo_allow"] = sorted(set(codes))
    if fields.get("device_allow") is not None:
        devices = [str(device).strip().lower() for device in fields["device_allow"]]
        bad = [device for device in devices if device not in DeviceClass.values]
        if bad:
            raise ValidationError(
                f"device_allow takes {', '.join(DeviceClass.values)}; "
                f"not valid: {', '.join(bad[:5])}.",
                fields={"device_allow": ["Unknown device class."]},
            )
        fields["device_allow"] = sorted(set(devices))
    if fields.get("postback_allowed_ips") is not None:
        networks = []
        for entry in fields["postback_allowed_ips"]:
            try:
                networks.append(str(ipaddress.ip_network(str(entry).strip(), strict=False)))
            except ValueError:
                raise ValidationError(
                    f"postback_allowed_ips: {str(entry)[:60]!r} is not an IP address "
                    "or CIDR range.",
                    fields={
                        "postback_allowed_ips": [
                            "Use addresses like 203.0.113.7 or 203.0.113.0/24."
                        ]
                    },
                ) from None
        fields["postback_allowed_ips"] = sorted(set(networks))
    if fields.get("deep_link_hosts") is not None:
        fields["deep_link_hosts"] = normalise_deep_link_hosts(fields["deep_link_hosts"])


DEEP_LINK_HOSTS_HELP = "Use host names like shop.example.com, or *.example.com for its subdomains."


def normalise_deep_link_hosts(entries: Any) -> list[str]:
    """The deep-link allowlist: host names or ``*.`` patterns (core.deep_links), lower-case,
    an internationalised name in its xn-- form, sorted, without duplicates."""
    if not isinstance(entries, list | tuple) or len(entries) > HOSTS_MAX:
        raise ValidationError(
            f"deep_link_hosts takes a list of at most {HOSTS_MAX} host names.",
            fields={"deep_link_hosts": [DEEP_LINK_HOSTS_HELP]},
        )
    hosts = set()
    for entry in entries:
        try:
            hosts.add(normalise_host_entry(str(entry)[:300]))
        except DeepLinkHostError:
            raise ValidationError(
                f"deep_link_hosts: {str(entry)[:60]!r} is not a host name or *.host pattern.",
                fields={"deep_link_hosts": [DEEP_LINK_HOSTS_HELP]},
            ) from None
    return sorted(hosts)


# Sample values for the save-time check of an outbound postback template.
POSTBACK_SAMPLE_VALUES = {
    "CLICK_ID": "clk_sample",
    "CONVERSION_ID": "conv_sample",
    "AMOUNT": "1.00",
    "TXN_ID": "t1",
    "EVENT_TYPE": "sale",
    "PAYOUT": "1.00",
    "CURRENCY": "USD",
    "OFFER_ID": "o",
    "PARTNER_ID": "p",
    "SUB1": "",
    "SUB2": "",
    "SUB3": "",
    "SUB4": "",
    "SUB5": "",
}


def check_postback_template(template: str | None) -> None:
    """The SSRF guard, at save time (it runs again at every send)."""
    if not template:
        return
    try:
        check_template_on_save(template, POSTBACK_SAMPLE_VALUES)
    except OutboundRefused as refused:
        raise ValidationError(
            f"postback_url_template refused: {refused.message}",
            code=f"unsafe_postback_url_{refused.code}",
            fields={"postback_url_template": [refused.message]},
        ) from None


def check_amounts(offer: Offer) -> None:
    for kind_field, amount_field in (
        ("payout_type", "payout_amount"),
        ("revenue_type", "revenue_amount"),
    ):
        amount = getattr(offer, amount_field)
        if amount is not None and amount < 0:
            raise ValidationError(
                f"{amount_field} cannot be negative.", fields={amount_field: ["Must be ≥ 0."]}
            )
        if getattr(offer, kind_field) == AmountType.PERCENT and amount is not None and amount > 100:
            raise ValidationError(
                f"{amount_field} is a percentage of the sale here, so it must be at most 100.",
                fields={amount_field: ["Must be ≤ 100 for percent."]},
            )


def check_currency_unlocked(offer: Offer) -> None:
    """An offer's currency is frozen once it has traffic (docs/reporting.md, "Currency").

    Clicks store no currency: a click's rollup row takes its offer's currency, and a rollup
    key (brand, day, offer, partner) has one currency. Changed after traffic, the offer's
    history would be split across two currencies or relabelled, and its amounts (recorded in
    the old one) summed as the new one. Rollups count too: they outlive pruned clicks.
    Test rows (send_test_postback) do not: they are in no rollup, and an offer tested before
    launch may still get its currency right."""
    # Reverse relations declared by conversions.models: conversions sits above offers.
    has_traffic = (
        offer.clicks.filter(is_test=False).exists()
        or offer.conversions.filter(is_test=False).exists()
        or offer.daily_rollups.filter(brand_id=offer.brand_id).exists()
    )
    if has_traffic:
        message = (
            f"This offer already has clicks or conversions in {offer.currency}; "
            "create a new offer for another currency."
        )
        raise ValidationError(message, code="currency_locked", fields={"currency": [message]})
