"""``trace_click``: one click's whole story — the click (outcome or refusal reason, geo,
device, fraud score and signals), its conversions, their outbound deliveries, and the inbound
postback attempts that named it. A read: nothing here writes, a click still in the queue is
read from its queued record (``click_store.queued_click``), never written from it.

The reader and its output shape live together: no other operation uses either."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch
from rest_framework import serializers

from audit.actor import Actor
from conversions import click_store
from conversions.delivery_serializers import DeliveryOutput
from conversions.models import Click, Conversion, PostbackAttempt, PostbackDelivery
from conversions.selectors import conversion_list
from conversions.serializers import ConversionOutput, PostbackAttemptOutput
from core.errors import NotFoundError
from core.serializers import StrictSerializer

CLICK_ID = r"^clk_[A-Za-z0-9]{10,28}\Z"
MAX_ATTEMPTS = 50  # the newest; list_postback_attempts with click_id pages through the rest


@dataclass(frozen=True)
class ClickTrace:
    click_id: str
    click: Click | None  # None once pruned (its conversions keep the id)
    queued: bool  # still in the queue: its worker has not written it yet
    conversions: list[Conversion]
    postback_attempts: list[PostbackAttempt]


def click_trace(*, actor: Actor, click_id: str) -> ClickTrace:
    """The trace of ``click_id`` in the actor's brand; "not found" when the brand has neither
    the click (stored or queued) nor anything that names it."""
    click = (
        Click.objects.filter(brand_id=actor.brand_id, pk=click_id)
        .select_related("offer", "partner")
        .first()
    )
    queued = False
    if click is None:
        found = click_store.queued_click(click_id)
        if found is not None and found[0].brand_id == actor.brand_id:
            click, queued = found[0], True
    conversions = list(
        conversion_list(actor=actor, include_test=True)
        .filter(click_id=click_id)
        .prefetch_related(
            Prefetch("deliveries", queryset=PostbackDelivery.objects.order_by("created_at", "pk"))
        )
        .order_by("created_at", "pk")
    )
    attempts = list(
        PostbackAttempt.objects.filter(brand_id=actor.brand_id, click_id=click_id).order_by(
            "-created_at", "-pk"
        )[:MAX_ATTEMPTS]
    )
    if click is None and not conversions and not attempts:
        raise NotFoundError("click", click_id)
    return ClickTrace(click_id, click, queued, conversions, attempts)


# --- shapes -----------------------------------------------------------------------------------


class ClickRef(StrictSerializer):
    click_id = serializers.RegexField(CLICK_ID, help_text="The click id (clk_…).")


class TracedClickOutput(serializers.Serializer[Click]):
    created_at = serializers.DateTimeField(help_text="When the click arrived (ISO 8601, UTC).")
    offer_id = serializers.CharField(
        source="offer.slug", allow_null=True, help_text="The offer's slug; null if unknown."
    )
    partner_id = serializers.CharField(
        source="partner.slug", allow_null=True, help_text="The partner's slug; null if unknown."
    )
    outcome = serializers.CharField(
        help_text="accepted, or the refusal's reason (offer_paused, cap_reached, geo_blocked, "
        "device_blocked, fraud_blocked, …)."
    )
    is_billable = serializers.BooleanField(
        help_text="False for link previews and prefetches (redirected, never billed)."
    )
    country = serializers.CharField(help_text="ISO 3166 country from the IP; empty if unknown.")
    device_class = serializers.CharField(help_text="desktop, mobile, tablet, bot or empty.")
    ip = serializers.CharField(allow_null=True, help_text="The visitor's IP address.")
    user_agent = serializers.CharField(help_text="The visitor's user agent (untrusted text).")
    referrer = serializers.CharField(help_text="The Referer sent (untrusted text).")
    sub1 = serializers.CharField(help_text="Partner sub id 1 (untrusted text).")
    sub2 = serializers.CharField(help_text="Partner sub id 2 (untrusted text).")
    sub3 = serializers.CharField(help_text="Partner sub id 3 (untrusted text).")
    sub4 = serializers.CharField(help_text="Partner sub id 4 (untrusted text).")
    sub5 = serializers.CharField(help_text="Partner sub id 5 (untrusted text).")
    fraud_score = serializers.IntegerField(help_text="Fraud score 0–100 at click time.")
    fraud_signals = serializers.ListField(
        child=serializers.DictField(), help_text="The signals behind the score, with points."
    )
    fraud_flagged = serializers.BooleanField(
        help_text="Whether the score reached the brand's threshold when it was scored."
    )
    is_test = serializers.BooleanField(
        help_text="true: a test click (send_test_postback), counted nowhere."
    )


class TracedConversionOutput(ConversionOutput):
    deliveries = DeliveryOutput(
        many=True, help_text="Its outbound postback deliveries to the partner, oldest first."
    )


class ClickTraceOutput(serializers.Serializer[Any]):
    click_id = serializers.CharField(help_text="The click id traced.")
    queued = serializers.BooleanField(
        help_text="True while the click waits in the queue (read from its queued record)."
    )
    click = TracedClickOutput(
        allow_null=True, help_text="The click; null if it was pruned after retention."
    )
    conversions = TracedConversionOutput(
        many=True, help_text="Conversions attributed to this click or naming it, oldest first."
    )
    postback_attempts = PostbackAttemptOutput(
        many=True,
        help_text=f"Inbound postbacks that named this click, newest first (at most "
        f"{MAX_ATTEMPTS}; list_postback_attempts pages through all).",
    )
