"""Why an offer has clicks but no revenue: the findings a person (or an agent) checks first,
each with the evidence counted from the brand's own rows and the change that fixes it.

A reader: it counts, it never writes. Clicks still queued for the worker (a second or so) are
not counted yet. The findings are ordered by how surely they explain a loss of revenue:
blocking first (the offer refuses traffic), then likely, then worth a look."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone
from rest_framework import serializers

from audit.actor import Actor
from conversions.models import (
    Click,
    ClickOutcome,
    Conversion,
    DeliveryStatus,
    PostbackAttempt,
    PostbackDelivery,
)
from core.links import inbound_postback_url
from offers.models import Offer, OfferStatus

MAX_DAYS = 90
# A refusal reason that turns away at least this share of an offer's clicks is a finding.
REFUSAL_SHARE = 0.2
TARGETING = {ClickOutcome.GEO_BLOCKED, ClickOutcome.DEVICE_BLOCKED}
CLICK_ID_PLACEHOLDER = "{CLICK_ID}"


def _finding(code: str, severity: str, message: str, fix: str, **evidence: Any) -> dict[str, Any]:
    return {
        "code": code,
        "severity": severity,
        "message": message,
        "evidence": evidence,
        "fix": fix,
    }


def offer_diagnose(*, actor: Actor, offer: Offer, days: int = 7) -> dict[str, Any]:
    """Findings for ``offer`` over the last ``days`` days (1–90), most serious first."""
    days = max(1, min(days, MAX_DAYS))
    since = timezone.now() - dt.timedelta(days=days)
    # send_test_postback's rows are not traffic: no evidence either way.
    clicks = Click.objects.filter(
        brand_id=actor.brand_id, offer=offer, created_at__gte=since, is_test=False
    )
    by_outcome = dict(
        clicks.values_list("outcome").annotate(n=Count("pk")).values_list("outcome", "n")
    )
    total = sum(by_outcome.values())
    accepted = by_outcome.get(ClickOutcome.ACCEPTED, 0)
    conversions = Conversion.objects.filter(
        brand_id=actor.brand_id, offer=offer, created_at__gte=since, is_test=False
    )
    converted = conversions.count()
    last_conversion = (
        Conversion.objects.filter(brand_id=actor.brand_id, offer=offer, is_test=False)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    deliveries = PostbackDelivery.objects.filter(
        brand_id=actor.brand_id, conversion__offer=offer, created_at__gte=since
    ).aggregate(
        failing=Count("pk", filter=Q(status__in=[DeliveryStatus.FAILED, DeliveryStatus.DEAD])),
        delivered=Count("pk", filter=Q(status=DeliveryStatus.DELIVERED)),
    )
    findings: list[dict[str, Any]] = []

    if offer.status != OfferStatus.ACTIVE:
        findings.append(
            _finding(
                f"offer_{offer.status}",
                "blocking",
                f"The offer is {offer.status}: the click handler refuses its clicks"
                + (" (to its fallback URL)." if offer.fallback_url else "."),
                "resume_offer" if offer.status == OfferStatus.PAUSED else "create a new offer",
                refused_clicks=by_outcome.get(f"offer_{offer.status}", 0),
            )
        )
    for outcome, count in sorted(by_outcome.items(), key=lambda item: -item[1]):
        if outcome == ClickOutcome.ACCEPTED or not total or count / total < REFUSAL_SHARE:
            continue
        if outcome == ClickOutcome.CAP_REACHED:
            findings.append(
                _finding(
                    "caps_full",
                    "blocking",
                    f"{count} of {total} clicks were refused because a cap was reached "
                    f"(daily {offer.daily_cap}, weekly {offer.weekly_cap}, monthly "
                    f"{offer.monthly_cap}).",
                    "set_cap with higher caps (only the caps given change)",
                    refused_clicks=count,
                    clicks=total,
                )
            )
        elif outcome in TARGETING:
            findings.append(
                _finding(
                    "targeting_refuses_clicks",
                    "likely",
                    f"{count} of {total} clicks were refused by targeting ({outcome}): "
                    f"countries allowed {offer.geo_allow or 'all'}, devices allowed "
                    f"{offer.device_allow or 'all'}.",
                    "update_offer geo_allow / device_allow",
                    refused_clicks=count,
                    clicks=total,
                    outcome=outcome,
                )
            )
        elif outcome != f"offer_{offer.status}":
            findings.append(
                _finding(
                    f"clicks_refused_{outcome}",
                    "likely",
                    f"{count} of {total} clicks were refused: {ClickOutcome(outcome).label}.",
                    "trace one of these clicks; check the partner's status and the offer's "
                    "allowed partners and fraud settings",
                    refused_clicks=count,
                    clicks=total,
                    outcome=outcome,
                )
            )
    if CLICK_ID_PLACEHOLDER not in offer.destination_url:
        findings.append(
            _finding(
                "destination_without_click_id",
                "likely",
                "The destination URL has no {CLICK_ID}: the advertiser never learns the click "
                "id, so postbacks can only attribute through coupons.",
                "update_offer destination_url with {CLICK_ID} (e.g. ?click_id={CLICK_ID})",
                destination_url=offer.destination_url,
            )
        )
    if accepted and not converted:
        findings.append(
            _finding(
                "no_postbacks_received",
                "likely",
                f"{accepted} clicks were accepted and no conversion was recorded in {days} "
                "days: the advertiser is not sending postbacks, or they are refused.",
                "give the advertiser the inbound postback URL and secret "
                "(get_offer_config; rotate_offer_postback_secret shows a new secret once)",
                accepted_clicks=accepted,
                last_conversion_at=last_conversion.isoformat() if last_conversion else None,
                inbound_postback_url=inbound_postback_url(
                    brand_slug=actor.brand_slug, offer_slug=offer.slug
                ),
            )
        )
    expired = PostbackAttempt.objects.filter(
        brand_id=actor.brand_id,
        offer_slug=offer.slug,
        outcome="click_expired",
        created_at__gte=since,
    ).count()
    if expired:
        findings.append(
            _finding(
                "postbacks_refused_click_expired",
                "likely",
                f"{expired} postbacks were refused because their click was older than the "
                f"offer's attribution window ({offer.attribution_window_days} days): those "
                "sales were not recorded.",
                "if the programme's terms allow, widen attribution_window_days (update_offer); "
                "have the advertiser send the sale's coupon too (coupons have no window); "
                "list_postback_attempts outcome=click_expired shows them",
                refused_postbacks=expired,
                attribution_window_days=offer.attribution_window_days,
            )
        )
    if not total:
        findings.append(
            _finding(
                "no_clicks",
                "worth_a_look",
                f"No clicks in {days} days: partners are not sending traffic through this "
                "offer's tracking links.",
                "share the tracking link (get_offer_config: tracking_link_template) with active "
                "partners",
            )
        )
    if deliveries["failing"]:
        findings.append(
            _finding(
                "outbound_postbacks_failing",
                "worth_a_look",
                f"{deliveries['failing']} outbound postbacks to the advertiser failed "
                f"({deliveries['delivered']} delivered).",
                "check postback_url_template (update_offer); list_deliveries, then "
                "replay_postback once fixed",
                failing=deliveries["failing"],
                delivered=deliveries["delivered"],
            )
        )
    order = {"blocking": 0, "likely": 1, "worth_a_look": 2}
    findings.sort(key=lambda finding: order[finding["severity"]])
    return {
        "offer_id": offer.slug,
        "days": days,
        "clicks": total,
        "accepted_clicks": accepted,
        "refused_clicks": {
            outcome: count for outcome, count in by_outcome.items() if outcome != "accepted"
        },
        "conversions": converted,
        "findings": findings,
    }


class FindingOutput(serializers.Serializer[dict[str, Any]]):
    code = serializers.CharField(help_text="Stable finding code, e.g. caps_full.")
    severity = serializers.ChoiceField(
        choices=["blocking", "likely", "worth_a_look"],
        help_text="blocking: the offer refuses traffic; likely: probably costs revenue; "
        "worth_a_look: may matter.",
    )
    message = serializers.CharField(help_text="What was found, with the numbers behind it.")
    evidence = serializers.DictField(help_text="The counts and settings the finding rests on.")
    fix = serializers.CharField(help_text="The change that addresses it (tool or setting).")


class OfferDiagnosisOutput(serializers.Serializer[dict[str, Any]]):
    offer_id = serializers.CharField(help_text="The offer diagnosed.")
    days = serializers.IntegerField(help_text="The period looked at: the last N days.")
    clicks = serializers.IntegerField(help_text="Every click recorded (accepted or refused).")
    accepted_clicks = serializers.IntegerField(help_text="Clicks redirected to the destination.")
    refused_clicks = serializers.DictField(
        child=serializers.IntegerField(), help_text="Refused clicks by refusal reason."
    )
    conversions = serializers.IntegerField(help_text="Conversions recorded (any status).")
    findings = FindingOutput(many=True, help_text="Most serious first; empty when all is well.")
