"""What ``diagnose_offer`` says about the brand's Stripe and Shopify integrations, added to
the offer's own findings (``conversions.diagnosis``): a provider connected but silent, events
refused (a wrong signing secret), webhooks arriving for a provider not connected, and sales
ignored for want of an attribution. Integrations are the brand's, so every offer shows them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from audit.actor import Actor
from conversions.diagnosis import _finding
from conversions.diagnosis import offer_diagnose as offer_findings
from integrations.models import Provider
from integrations.selectors import integration_status_list
from offers.models import Offer

# Ignored sales that say the click id or coupon does not reach the checkout.
ATTRIBUTION_REASONS = (
    "no_attribution",
    "unknown_click",
    "unknown_coupon",
    "unknown_customer",
    "fx_rate_missing",
    "click_expired",
    "no_offer",
)
SEVERITY = {"blocking": 0, "likely": 1, "worth_a_look": 2}


def _times(reasons: dict[str, int]) -> str:
    return ", ".join(f"{reason} ×{count}" for reason, count in reasons.items())


def integration_findings(*, actor: Actor, days: int) -> list[dict[str, Any]]:
    since = timezone.now() - dt.timedelta(days=days)
    findings = []
    for status in integration_status_list(actor=actor, days=days):
        name = Provider(status.provider).label
        refused = {r: n for r, n in status.refused_reasons.items() if r != "not_connected"}
        if status.connected and (status.last_event_at is None or status.last_event_at < since):
            findings.append(
                _finding(
                    f"{status.provider}_silent",
                    "worth_a_look",
                    f"{name} is connected but sent no event in {days} days.",
                    f"check the webhook in {name}'s dashboard: URL "
                    f"{status.webhook_url_path} on this Trcker, events as docs/integrations.md "
                    "lists, enabled",
                    last_event_at=status.last_event_at.isoformat()
                    if status.last_event_at
                    else None,
                )
            )
        if refused:
            findings.append(
                _finding(
                    f"{status.provider}_events_refused",
                    "likely",
                    f"{name} events refused: {_times(refused)} in {days} days.",
                    f"paste {name}'s current signing secret again (PUT "
                    f"/api/v1/integrations/{status.provider}/); list_integration_events shows "
                    "each refusal",
                    refused=status.refused,
                    reasons=refused,
                )
            )
        if not status.connected and status.refused_reasons.get("not_connected"):
            findings.append(
                _finding(
                    f"{status.provider}_not_connected",
                    "likely",
                    f"{name} sent {status.refused_reasons['not_connected']} webhooks in {days} "
                    "days but no signing secret is set: they were refused.",
                    f"PUT /api/v1/integrations/{status.provider}/ with signing_secret",
                    refused=status.refused_reasons["not_connected"],
                )
            )
        unattributed = {r: n for r, n in status.ignored_reasons.items() if r in ATTRIBUTION_REASONS}
        if unattributed:
            findings.append(
                _finding(
                    f"{status.provider}_sales_unattributed",
                    "likely",
                    f"{name} sales ignored: {_times(unattributed)} in {days} days.",
                    "put /t.js on the brand's site and pass trk.clickId() to the checkout "
                    "(docs/integrations.md)",
                    reasons=unattributed,
                )
            )
    return findings


def offer_diagnose(*, actor: Actor, offer: Offer, days: int = 7) -> dict[str, Any]:
    """``conversions.diagnosis.offer_diagnose`` plus the integrations' findings."""
    result = offer_findings(actor=actor, offer=offer, days=days)
    findings = [*result["findings"], *integration_findings(actor=actor, days=result["days"])]
    findings.sort(key=lambda finding: SEVERITY[finding["severity"]])
    return {**result, "findings": findings}
