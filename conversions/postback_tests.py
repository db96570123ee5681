"""``send_test_postback``: prove an offer's tracking end to end without touching real numbers.

One call makes a test click and sends the inbound postback for it, both through the real
path, and answers the click's trace with a verdict:

- **The click** meets the offer's real rules (``clicks.config_refusal`` and
  ``visitor_refusal``: paused, archived, partner inactive or not allowed, geo and device
  targeting, full caps), so a refusal shows in the trace as it would for a visitor, and is
  written by the one click writer (``click_store.write_clicks``) with ``is_test``. It has no
  visitor: no IP, no fraud scoring, no velocity counter touched; its country and device are
  the ones asked for, else the offer's first allowed ones (none when it does not target).
- **The postback** is the request the advertiser's backend would send to the offer's inbound
  URL — click_id, txn_id, amount, currency, event — signed with the offer's current secret
  (``X-Trcker-Signature``) when it has one, from its first allowed address when it has an
  IP allowlist, and goes through ``postback_intake.postback_receive``, the function the public
  view calls: the same origin proof, parsing and recording. A request never calls Trcker over
  HTTP. Each call has a fresh txn_id, ``test-<click id>``.
- **The conversion** inherits ``is_test`` from its click (``services._record_new``): no
  rollup, cap slot, fraud score, outbox row or payout, and approve/reject refuse it
  (``test_conversion``). Lists leave test rows out unless asked (``include_test``).
- **The attempt** is logged like any postback (txn_id ``test-…``), written in this call's
  transaction so the trace answered already holds it.

Everything is one transaction with one ``postback.test`` audit event beside the
conversion's own: a dry run shows the whole story and keeps nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.db import transaction
from django.utils import timezone
from rest_framework import serializers

from audit.actor import Actor
from audit.services import audit_record
from conversions import click_store, tracking_config
from conversions.clicks import config_refusal, visitor_refusal
from conversions.models import SUB_ID_MAX, Click, ClickOutcome, ConversionStatus
from conversions.postback_intake import InboundPostback, postback_receive
from conversions.postback_log import ACCEPTED, DUPLICATE, Attempt, attempt_record
from conversions.postbacks import DEFAULT_EVENT, MAX_AMOUNT, canonical_query, sign
from conversions.trace import ClickTrace, ClickTraceOutput, click_trace
from core.edge_text import clean_text
from core.errors import DomainError, NotFoundError, ValidationError
from core.links import public_url
from core.serializers import StrictSerializer
from offers.models import MONEY, Offer
from offers.serializers import SLUG_FIELD
from partners.models import Partner, PartnerStatus

TEST_USER_AGENT = "Trcker send_test_postback"
TXN_PREFIX = "test-"
DEVICES = ("desktop", "mobile", "tablet")
PROOFS = ("signature", "ip_allowlist", "unsigned")
# What a refused test click means for the integration, and what to do about it.
CLICK_ADVICE: dict[str, str] = {
    ClickOutcome.OFFER_PAUSED: "The offer is paused: its clicks are refused (resume_offer).",
    ClickOutcome.OFFER_ARCHIVED: "The offer is archived: its clicks are refused.",
    ClickOutcome.PARTNER_INACTIVE: "The partner is not active: its clicks are refused "
    "(approve or resume the partner).",
    ClickOutcome.PARTNER_NOT_ALLOWED: "The offer is private and the partner is not among its "
    "allowed partners (set_allowed_partners).",
    ClickOutcome.GEO_BLOCKED: "The offer's geo targeting refuses this country.",
    ClickOutcome.DEVICE_BLOCKED: "The offer's device targeting refuses this device.",
    ClickOutcome.CAP_REACHED: "A cap of the offer is full: clicks go to its fallback (set_cap).",
}


@dataclass
class TestPostbackResult:
    click_id: str
    txn_id: str
    request: dict[str, Any]
    postback: dict[str, Any]
    trace: ClickTrace
    problems: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _default_partner(actor: Actor, offer: Offer) -> Partner:
    """The one active partner that may send the offer traffic; with none, or several, the
    caller must name one: a test of an arbitrary partner would prove nothing in particular."""
    candidates = Partner.objects.filter(brand_id=actor.brand_id, status=PartnerStatus.ACTIVE)
    if offer.is_private:
        candidates = candidates.filter(pk__in=offer.allowed_partners.values("pk"))
    found = list(candidates.order_by("slug")[:6])
    if len(found) == 1:
        return found[0]
    if not found:
        raise ValidationError(
            "No active partner may send this offer traffic; give partner_id to test one anyway "
            "(its click is refused, and the trace shows why).",
            code="no_active_partner",
            fields={"partner_id": ["No active partner on this offer."]},
        )
    names = ", ".join(partner.slug for partner in found[:5])
    raise ValidationError(
        f"Several partners may send this offer traffic; name one with partner_id (e.g. {names}).",
        code="partner_required",
        fields={"partner_id": ["Required: more than one partner may send traffic."]},
    )


def _first(allowed: frozenset[str]) -> str:
    return min(allowed) if allowed else ""


def postback_send_test(
    *,
    actor: Actor,
    offer: Offer,
    partner: Partner | None = None,
    event_type: str = DEFAULT_EVENT,
    sale_amount: Decimal = Decimal("0.00"),
    currency: str = "",
    country: str | None = None,
    device: str | None = None,
    sub1: str = "",
    sub2: str = "",
    sub3: str = "",
    sub4: str = "",
    sub5: str = "",
) -> TestPostbackResult:
    """A test click for ``offer`` and ``partner`` (default: the offer's one active partner)
    and the postback its advertiser would send for it, through the real path; the click's
    trace and the verdict. Refusals are answers (``ok`` false, ``problems``), not errors."""
    actor.require_write()
    if offer.brand_id != actor.brand_id:
        raise NotFoundError("offer", offer.slug)
    if partner is None:
        partner = _default_partner(actor, offer)
    elif partner.brand_id != actor.brand_id:
        raise NotFoundError("partner", partner.slug)
    brand_config = tracking_config.brand_config(actor.brand_slug)
    offer_config = tracking_config.offer_config(brand_config, offer.slug) if brand_config else None
    if brand_config is None or offer_config is None:
        raise NotFoundError("offer", offer.slug)
    partner_config = tracking_config.partner_config(brand_config, partner.slug)
    subs = [clean_text(sub, max_length=SUB_ID_MAX) for sub in (sub1, sub2, sub3, sub4, sub5)]
    now = timezone.now()
    country = _first(offer_config.geo_allow) if country is None else country
    device = _first(offer_config.device_allow) if device is None else device
    outcome = (
        config_refusal(offer_config, partner_config)
        or visitor_refusal(
            offer_config, country=country, device=device, now=now, tz=brand_config.tz
        )
        or ClickOutcome.ACCEPTED
    )
    click = Click(
        brand_id=brand_config.id,
        offer_id=offer_config.id,
        partner_id=partner.pk,
        created_at=now,
        user_agent=TEST_USER_AGENT,
        country=country,
        device_class=device,
        sub1=subs[0],
        sub2=subs[1],
        sub3=subs[2],
        sub4=subs[3],
        sub5=subs[4],
        outcome=outcome,
        is_billable=outcome == ClickOutcome.ACCEPTED,
        is_test=True,
    )
    problems: list[dict[str, str]] = []
    if outcome != ClickOutcome.ACCEPTED:
        problems.append(
            {
                "stage": "click",
                "code": outcome,
                "message": CLICK_ADVICE.get(outcome, f"The click was refused: {outcome}."),
            }
        )
    txn_id = f"{TXN_PREFIX}{click.pk}"
    pairs = [
        ("click_id", click.pk),
        ("txn_id", txn_id),
        ("amount", str(sale_amount)),
        ("currency", currency or offer_config.currency),
        ("event", event_type),
    ]
    signature = ""
    if offer_config.postback_secret:
        stamp = int(now.timestamp())
        digest = sign(offer_config.postback_secret, stamp, canonical_query(pairs).encode())
        signature = f"t={stamp},v1={digest}"
    networks = offer_config.postback_allowed_networks
    source_ip = str(networks[0].network_address) if networks else None
    request = {
        "method": "GET",
        "url": public_url(f"/api/postback/{brand_config.slug}/{offer_config.slug}?")
        + urlencode(pairs),
        "proof": "signature" if signature else "ip_allowlist" if networks else "unsigned",
        "source_ip": source_ip,
    }
    attempt = Attempt(
        offer_slug=offer_config.slug,
        method="GET",
        ip=source_ip,
        request_id=actor.request_id,
        brand_id=brand_config.id,
        params=dict(pairs),
        signature_header=bool(signature),
    )
    postback: dict[str, Any] = {
        "conversion_id": None,
        "conversion_status": None,
        # What a real sale of this offer also meets (docs/tracking.md): the test click is
        # fresh, so the window never refuses it, and a test conversion is never approved.
        "attribution_window_days": offer_config.attribution_window_days,
        "effective_hold_days": offer.effective_hold_days,
    }
    with transaction.atomic():
        click_store.write_clicks([(click, brand_config.tz, offer_config.currency)])
        try:
            recorded = postback_receive(
                actor=actor,
                brand=brand_config,
                offer=offer_config,
                postback=InboundPostback(
                    method="GET",
                    query_pairs=pairs,
                    body=b"",
                    signature_header=signature,
                    ip=source_ip,
                ),
                read_params=lambda: dict(pairs),
            )
        except DomainError as refused:
            attempt.outcome, http_status = refused.code, refused.http_status
            problems.append({"stage": "postback", "code": refused.code, "message": str(refused)})
        else:
            conversion = recorded.conversion
            attempt.outcome = DUPLICATE if recorded.duplicate else ACCEPTED
            attempt.conversion_id, http_status = conversion.pk, 200
            postback.update(conversion_id=conversion.pk, conversion_status=conversion.status)
            if conversion.status in (ConversionStatus.REJECTED, ConversionStatus.PENDING_REVIEW):
                problems.append(
                    {
                        "stage": "conversion",
                        "code": conversion.status_reason or conversion.status,
                        "message": f"Recorded, but a real sale would be {conversion.status} "
                        f"({conversion.status_reason}).",
                    }
                )
        postback.update(outcome=attempt.outcome, http_status=http_status)
        # Written now, in this transaction (not queued): the trace below already shows it.
        attempt_record(attempt, http_status=http_status)
        audit_record(
            actor=actor,
            action="postback.test",
            target_type="click",
            target_id=click.pk,
            changes={
                "offer_id": [None, offer_config.slug],
                "partner_id": [None, partner.slug],
                "txn_id": [None, txn_id],
                "outcome": [None, attempt.outcome],
                "ok": [None, not problems],
            },
        )
        trace = click_trace(actor=actor, click_id=click.pk)
    return TestPostbackResult(click.pk, txn_id, request, postback, trace, problems)


# --- shapes -----------------------------------------------------------------------------------


class SendTestPostbackInput(StrictSerializer):
    offer_id = serializers.RegexField(
        help_text="The offer's id (slug), e.g. spring-sale.", **SLUG_FIELD
    )
    partner_id = serializers.RegexField(
        required=False,
        help_text="The partner whose test click it is (slug). Default: the offer's only active "
        "partner (required when several may send it traffic).",
        **SLUG_FIELD,
    )
    event_type = serializers.RegexField(
        r"^[a-z0-9_.-]{1,64}$",
        default=DEFAULT_EVENT,
        help_text="The postback's event (default sale); payout rules may differ by event.",
    )
    sale_amount = serializers.DecimalField(
        **MONEY,
        min_value=Decimal("0"),
        max_value=MAX_AMOUNT,
        required=False,
        help_text="The amount the postback reports (default 0), in currency.",
    )
    currency = serializers.RegexField(
        r"^[A-Z]{3}$",
        required=False,
        help_text="ISO 4217 code the postback sends (default the offer's; another one is "
        "refused, as it would be for the advertiser).",
    )
    country = serializers.RegexField(
        r"^[A-Z]{2}$",
        required=False,
        help_text="The test visitor's country (ISO 3166). Default: the offer's first allowed "
        "country, or none when it has no geo targeting.",
    )
    device = serializers.ChoiceField(
        choices=DEVICES,
        required=False,
        help_text="The test visitor's device. Default: the offer's first allowed device, or "
        "none when it has no device targeting.",
    )
    sub1 = serializers.CharField(
        max_length=SUB_ID_MAX,
        required=False,
        allow_blank=True,
        help_text="Sub id 1 on the test click, as a partner's link carries it.",
    )
    sub2 = serializers.CharField(max_length=SUB_ID_MAX, required=False, allow_blank=True)
    sub3 = serializers.CharField(max_length=SUB_ID_MAX, required=False, allow_blank=True)
    sub4 = serializers.CharField(max_length=SUB_ID_MAX, required=False, allow_blank=True)
    sub5 = serializers.CharField(max_length=SUB_ID_MAX, required=False, allow_blank=True)


class ProblemOutput(serializers.Serializer[dict[str, str]]):
    stage = serializers.ChoiceField(
        choices=("click", "postback", "conversion"), help_text="Where the test stopped or bent."
    )
    code = serializers.CharField(
        help_text="The click's refusal (offer_paused, …), the postback's refusal code "
        "(bad_signature, signature_required, fx_rate_missing, …) or the conversion's hold "
        "or rejection reason (cap_exceeded, …)."
    )
    message = serializers.CharField(help_text="What it means and what to change.")


class TestRequestOutput(serializers.Serializer[dict[str, Any]]):
    method = serializers.CharField(help_text="GET: the parameters in the query string.")
    url = serializers.CharField(
        help_text="The inbound postback URL as sent, parameters filled (no credential in it)."
    )
    proof = serializers.ChoiceField(
        choices=PROOFS,
        help_text="How it proved its origin: signature (X-Trcker-Signature, HMAC-SHA256 with "
        "the offer's secret), ip_allowlist (from the offer's first allowed address) or unsigned.",
    )
    source_ip = serializers.CharField(
        allow_null=True, help_text="The source address it was sent from; null if none."
    )


class TestPostbackOutcomeOutput(serializers.Serializer[dict[str, Any]]):
    outcome = serializers.CharField(
        help_text="accepted, or the refusal's code, as the postback log records it."
    )
    http_status = serializers.IntegerField(help_text="The status the advertiser would get.")
    conversion_id = serializers.CharField(
        allow_null=True, help_text="The test conversion (conv_…); null when refused."
    )
    conversion_status = serializers.CharField(
        allow_null=True, help_text="Its status (pending, pending_review, rejected); null if none."
    )
    attribution_window_days = serializers.IntegerField(
        help_text="A real sale's postback must name a click at most this many days old, or it "
        "is refused click_expired (the test click is fresh)."
    )
    effective_hold_days = serializers.IntegerField(
        allow_null=True,
        help_text="A real pending, unflagged sale would be approved automatically after this "
        "many days; null: it waits for a person (a test conversion never is approved).",
    )


class SendTestPostbackOutput(serializers.Serializer[TestPostbackResult]):
    ok = serializers.BooleanField(
        help_text="true: the click was accepted and the postback recorded a conversion that a "
        "real sale would get as pending."
    )
    problems = ProblemOutput(many=True, help_text="Why not ok, in the order met; empty if ok.")
    click_id = serializers.CharField(help_text="The test click (clk_…); trace_click shows it.")
    txn_id = serializers.CharField(help_text="The postback's fresh transaction id (test-…).")
    request = TestRequestOutput(help_text="The postback request as the advertiser would send it.")
    postback = TestPostbackOutcomeOutput(help_text="What Trcker answered it.")
    trace = ClickTraceOutput(
        help_text="The test click's trace (as trace_click): the click, its test conversion and "
        "the postback attempt."
    )
