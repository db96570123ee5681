"""Fraud scoring: 0–100, additive, with a reason per signal.

Cheap signals are scored on the click; the conversion starts from its click's score and adds
what only a conversion can show (click-to-conversion time, no click behind a coupon). Weights
follow the published thresholds collected in reference/security-reliability-performance.md
§2 and are meant to be tuned on data; the brand's mode decides what a score does:
off (nothing scored), monitor (score only), review (≥ threshold → pending_review),
block (≥ threshold → click refused / conversion rejected).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from brands.models import FraudMode
from conversions.traffic import UserAgentInfo

logger = logging.getLogger(__name__)

WEIGHTS = {
    "bot_user_agent": 60,  # crawler or non-browser client (GIVT)
    "empty_user_agent": 30,
    "datacenter_ip": 30,
    "tor_exit": 40,
    "vpn_or_proxy": 20,
    "ip_velocity": 30,  # more than IP_VELOCITY_PER_MINUTE clicks from one IP in a minute
    "duplicate_click": 10,  # same IP + UA + offer + partner within DUPLICATE_WINDOW
    "fast_conversion": 40,  # click-to-conversion below the offer's minimum
    "instant_conversion": 60,  # click-to-conversion below 2 s (replaces fast_conversion)
    "no_click": 20,  # coupon-attributed with no click at all (coupon leakage)
    "botd_bot": 40,  # BotD reported automation in the browser
}
IP_VELOCITY_PER_MINUTE = 60
DUPLICATE_WINDOW_SECONDS = 24 * 3600
INSTANT_SECONDS = 2


@dataclass
class FraudScore:
    signals: list[dict[str, Any]] = field(default_factory=list)

    @property
    def score(self) -> int:
        return min(100, sum(int(signal["points"]) for signal in self.signals))

    @property
    def codes(self) -> set[str]:
        return {str(signal["signal"]) for signal in self.signals}

    def add(self, code: str, **detail: object) -> None:
        if code in self.codes:
            return
        self.signals.append({"signal": code, "points": WEIGHTS[code], **detail})

    @classmethod
    def from_stored(cls, signals: list[dict[str, Any]] | None) -> FraudScore:
        return cls(signals=[dict(signal) for signal in signals or []])


def score_click(*, ua: UserAgentInfo, network: str) -> FraudScore:
    """The signals a click shows by itself; velocity comes from shared counters afterwards
    (``velocity_counters`` and ``apply_velocity``)."""
    result = FraudScore()
    if ua.is_empty:
        result.add("empty_user_agent")
    elif ua.is_bot:
        result.add("bot_user_agent")
    if network == "hosting":
        result.add("datacenter_ip")
    elif network == "tor":
        result.add("tor_exit")
    elif network == "vpn":
        result.add("vpn_or_proxy")
    return result


def velocity_counters(
    *, ip: str | None, user_agent: str, offer_id: int, partner_id: int
) -> list[tuple[str, int]]:
    """The shared counters a click increments, as (key, window seconds): clicks per IP per
    minute, and repeats of the same IP + UA + offer + partner within DUPLICATE_WINDOW."""
    if not ip:
        return []
    fingerprint = hashlib.sha256(f"{ip}|{user_agent}|{offer_id}|{partner_id}".encode()).hexdigest()
    return [
        (f"trcker:vel:{ip}", 60),
        (f"trcker:dup:{fingerprint[:32]}", DUPLICATE_WINDOW_SECONDS),
    ]


def apply_velocity(
    click: Any, counts: Sequence[int | None], *, fraud_mode: str, threshold: int, preview: bool
) -> None:
    """Finish a click's fraud verdict from its counter values: velocity signals, score, flag,
    and in block mode the refusal. The click handler and the queue's worker both call this
    on the same inputs, so the row written is the decision the visitor got. A count of None
    (counters unreachable) scores nothing rather than failing the click."""
    from conversions.models import ClickOutcome

    fraud = FraudScore.from_stored(click.fraud_signals)
    per_minute, seen = [*counts, None, None][:2]
    if per_minute is not None and per_minute > IP_VELOCITY_PER_MINUTE:
        fraud.add("ip_velocity", clicks_last_minute=per_minute)
    if seen is not None and seen > 1:
        fraud.add("duplicate_click", repeats=seen - 1)
    if fraud_mode == FraudMode.OFF:
        fraud = FraudScore()
    click.fraud_signals = fraud.signals
    click.fraud_score = fraud.score
    click.fraud_flagged = (
        fraud_mode != FraudMode.OFF and fraud.score >= threshold and bool(fraud.signals)
    )
    # Previews are never refused; a block outranks the cap (the order of the checks).
    if (
        not preview
        and fraud_mode == FraudMode.BLOCK
        and over_threshold(fraud.score, mode=fraud_mode, threshold=threshold)
        and click.outcome in (ClickOutcome.ACCEPTED, ClickOutcome.CAP_REACHED)
    ):
        click.outcome = ClickOutcome.FRAUD_BLOCKED
        click.is_billable = False


def score_conversion(
    *,
    click_signals: list[dict[str, Any]] | None,
    seconds_since_click: float | None,
    min_conversion_seconds: int,
    has_click: bool,
) -> FraudScore:
    result = FraudScore.from_stored(click_signals)
    if has_click and seconds_since_click is not None:
        if seconds_since_click < INSTANT_SECONDS:
            result.add("instant_conversion", seconds=round(seconds_since_click, 3))
        elif seconds_since_click < min_conversion_seconds:
            result.add("fast_conversion", seconds=round(seconds_since_click, 3))
    if not has_click:
        result.add("no_click")
    return result


def over_threshold(score: int, *, mode: str, threshold: int) -> bool:
    return mode in (FraudMode.REVIEW, FraudMode.BLOCK) and score >= threshold
