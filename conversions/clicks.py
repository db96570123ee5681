"""The click handler's domain logic: decide, record, and say where to send the visitor.

Hot path: config comes from the per-process cache (no query), the user agent verdict from an
LRU cache; the click's fraud counters and its queue record go to the queue's Redis in one
round trip (``conversions.click_store``), plus a counter query for capped offers.
The destination comes from the offer's stored config; a deep link (``url=``) from the request
replaces it only when the offer's host allowlist admits it (``core.deep_links``)."""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from dataclasses import dataclass

from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from conversions import click_store, tracking_config
from conversions.caps import cap_reached
from conversions.fraud import WEIGHTS, FraudScore, score_click, velocity_counters
from conversions.models import Click, ClickOutcome
from conversions.rollups import rollup_add
from conversions.traffic import classify_user_agent, is_prefetch, network_kind, visitor_country
from core.url_templates import add_query_param, render_url_template
from offers.models import OfferStatus
from partners.models import PartnerStatus

logger = logging.getLogger(__name__)

# Outcomes a visitor sees as "gone" (410) rather than "not found" (404) when no fallback.
GONE_OUTCOMES = {
    ClickOutcome.OFFER_ARCHIVED,
    ClickOutcome.OFFER_PAUSED,
    ClickOutcome.PARTNER_INACTIVE,
    ClickOutcome.PARTNER_NOT_ALLOWED,
    ClickOutcome.CAP_REACHED,
    ClickOutcome.GEO_BLOCKED,
    ClickOutcome.DEVICE_BLOCKED,
    ClickOutcome.FRAUD_BLOCKED,
}


@dataclass(frozen=True)
class ClickInput:
    """One click as the endpoint read it. Text fields arrive cleaned and clipped to their
    columns at the edge (``core.edge_text``, in the view): nothing here cleans again."""

    brand_slug: str
    offer_slug: str
    partner_slug: str
    ip: str | None
    user_agent: str
    referrer: str
    subs: tuple[str, str, str, str, str]
    meta: dict[str, str]
    via_trusted_proxy: bool
    # A HEAD request asks whether the link works (link checkers, unfurlers): it is answered
    # like any click but counted as a preview, never billed.
    head_only: bool = False
    # The link's url= (a deep link), as sent; used only if the offer's allowlist admits it.
    deep_link: str = ""


@dataclass(frozen=True)
class ClickDecision:
    outcome: str
    click_id: str | None
    location: str | None  # where to send the visitor; None → show the refusal page
    status_code: int
    billable: bool
    interstitial: bool = False  # BotD page before continuing to ``location``


def _cap_reached_or_unknown(
    offer: tracking_config.OfferConfig, *, now: dt.datetime, tz: zoneinfo.ZoneInfo
) -> bool:
    """A cap that cannot be checked (database unreachable) counts as reached: the click goes
    to the fallback rather than past a limit the advertiser pays by."""
    try:
        return cap_reached(offer, now=now, tz=tz)
    except (OperationalError, InterfaceError):
        return True


def config_refusal(
    offer: tracking_config.OfferConfig | None, partner: tracking_config.PartnerConfig | None
) -> str | None:
    """The refusal the offer's and partner's state make, whoever the visitor; None if none.
    Shared with ``send_test_postback``, whose test click meets the same rules."""
    if offer is None:
        return ClickOutcome.UNKNOWN_OFFER
    if offer.status == OfferStatus.ARCHIVED:
        return ClickOutcome.OFFER_ARCHIVED
    if offer.status == OfferStatus.PAUSED:
        return ClickOutcome.OFFER_PAUSED
    if partner is None:
        return ClickOutcome.UNKNOWN_PARTNER
    if partner.status != PartnerStatus.ACTIVE:
        return ClickOutcome.PARTNER_INACTIVE
    if offer.is_private and partner.id not in offer.allowed_partner_ids:
        return ClickOutcome.PARTNER_NOT_ALLOWED
    return None


def visitor_refusal(
    offer: tracking_config.OfferConfig,
    *,
    country: str,
    device: str,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
) -> str | None:
    """The refusal targeting and caps make for this visitor; None if none. Reads the cap
    counters only (a click never takes a cap slot; its conversion does)."""
    if offer.geo_allow and country not in offer.geo_allow:
        return ClickOutcome.GEO_BLOCKED
    if offer.device_allow and device not in offer.device_allow:
        return ClickOutcome.DEVICE_BLOCKED
    if offer.has_caps and _cap_reached_or_unknown(offer, now=now, tz=tz):
        return ClickOutcome.CAP_REACHED
    return None


def click_handle(data: ClickInput) -> ClickDecision:
    """Decide on one click and record it (accepted or with its refusal reason)."""
    now = timezone.now()
    brand = tracking_config.brand_config(data.brand_slug)
    if brand is None:
        return ClickDecision(ClickOutcome.UNKNOWN_OFFER, None, None, 404, billable=False)
    offer = tracking_config.offer_config(brand, data.offer_slug)
    partner = tracking_config.partner_config(brand, data.partner_slug)
    ua = classify_user_agent(data.user_agent)
    preview = ua.is_preview or data.head_only or is_prefetch(data.meta)
    country = device = ""
    fraud = FraudScore()
    counters: list[tuple[str, int]] = []

    outcome = config_refusal(offer, partner) or ClickOutcome.ACCEPTED
    if offer is not None and partner is not None and outcome == ClickOutcome.ACCEPTED:
        country = visitor_country(
            ip=data.ip, meta=data.meta, via_trusted_proxy=data.via_trusted_proxy
        )
        device = ua.device_class
        if brand.fraud_mode != "off":
            fraud = score_click(ua=ua, network=network_kind(data.ip))
            if not preview:
                counters = velocity_counters(
                    ip=data.ip,
                    user_agent=data.user_agent,
                    offer_id=offer.id,
                    partner_id=partner.id,
                )
        # Previews and prefetches are redirected but neither billed nor refused. The fraud
        # block is decided with the velocity counts, once the click is stored (store()).
        if not preview:
            outcome = (
                visitor_refusal(offer, country=country, device=device, now=now, tz=brand.tz)
                or outcome
            )

    click = Click(
        brand_id=brand.id,
        offer_id=offer.id if offer else None,
        partner_id=partner.id if partner else None,
        created_at=now,
        ip=data.ip,
        user_agent=data.user_agent,
        country=country,
        device_class=device,
        referrer=data.referrer,
        sub1=data.subs[0],
        sub2=data.subs[1],
        sub3=data.subs[2],
        sub4=data.subs[3],
        sub5=data.subs[4],
        outcome=outcome,
        is_billable=outcome == ClickOutcome.ACCEPTED and not preview,
        fraud_score=fraud.score,
        fraud_signals=fraud.signals,
    )
    context = click_store.ClickContext(
        tz=brand.tz,
        currency=offer.currency if offer else "",
        fraud_mode=brand.fraud_mode,
        fraud_threshold=brand.fraud_threshold,
        preview=preview,
    )
    click_store.store(click, context, counters)
    outcome = click.outcome
    if outcome != ClickOutcome.ACCEPTED:
        fallback = offer.fallback_url if offer else ""
        status = 410 if outcome in GONE_OUTCOMES else 404
        return ClickDecision(
            outcome, click.id, fallback or None, 302 if fallback else status, billable=False
        )
    assert offer is not None
    assert partner is not None
    # A deep link the offer does not allow lands on the destination, as if it were absent.
    landing = (data.deep_link and offer.deep_links.target(data.deep_link)) or offer.destination_url
    return ClickDecision(
        outcome,
        click.id,
        destination_for(landing, click, partner.slug, offer.slug),
        302,
        billable=click.is_billable,
        interstitial=brand.botd_enabled and not preview,
    )


def destination_for(template: str, click: Click, partner_slug: str, offer_slug: str) -> str:
    values = {
        "CLICK_ID": click.id,
        "PARTNER_ID": partner_slug,
        "OFFER_ID": offer_slug,
        "SUB1": click.sub1,
        "SUB2": click.sub2,
        "SUB3": click.sub3,
        "SUB4": click.sub4,
        "SUB5": click.sub5,
    }
    url = render_url_template(template, values)
    if "{CLICK_ID}" not in template:
        url = add_query_param(url, "click_id", click.id)
    return url


def click_record_botd_verdict(*, click_id: str, bot: bool, bot_kind: str) -> None:
    """A bot verdict from the BotD interstitial raises the click's score (once); a human
    verdict changes nothing, since a client-side claim can only make things worse."""
    if not bot:
        return
    # The verdict may beat its click's worker: write that one click from the queue (the row
    # lookup below finds it either way, or finds that there is no such click).
    if not Click.objects.filter(pk=click_id).exists():
        click_store.write_queued(click_id)
    with transaction.atomic():
        click = (
            Click.objects.select_for_update(of=("self",))
            .select_related("brand", "offer")
            .filter(pk=click_id)
            .first()
        )
        if click is None or any(s.get("signal") == "botd_bot" for s in click.fraud_signals):
            return
        click.fraud_signals = [
            *click.fraud_signals,
            {"signal": "botd_bot", "points": WEIGHTS["botd_bot"], "bot_kind": bot_kind[:40]},
        ]
        click.fraud_score = min(100, click.fraud_score + WEIGHTS["botd_bot"])
        brand = click.brand
        newly_flagged = (
            not click.fraud_flagged
            and brand.fraud_mode != "off"
            and click.fraud_score >= brand.fraud_threshold
        )
        click.fraud_flagged = click.fraud_flagged or newly_flagged
        click.save(update_fields=["fraud_signals", "fraud_score", "fraud_flagged"])
        offer_id, partner_id = click.offer_id, click.partner_id
        if newly_flagged and not click.is_test and offer_id and partner_id and click.offer:
            rollup_add(
                brand_id=click.brand_id,
                day=click.created_at.astimezone(zoneinfo.ZoneInfo(brand.timezone)).date(),
                offer_id=offer_id,
                partner_id=partner_id,
                # The stripe-0 row may not exist yet (the click went to another stripe).
                currency=click.offer.currency,
                deltas={"clicks_flagged": 1},
            )
