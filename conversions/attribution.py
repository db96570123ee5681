"""Who a reported sale is credited to: the click, the coupon, and what became of each.

Pure decisions over what ``conversions.services`` already looked up (the click and the
coupon rows, the cached offer and brand config): no query here but the coupon's use count,
which is taken in the conversion's transaction. docs/tracking.md, "Attribution", states the
rules:

- **Attribution window** (``Offer.attribution_window_days``, default 30): a click older than
  that converts nothing. With a usable coupon in the same postback the coupon attributes the
  sale; without one the postback is refused with ``click_expired``.
- **Coupons have no window**: a code is typed at checkout, so it is evidence from the moment
  of the sale itself, not from an earlier visit that may have been forgotten. Its limits are
  its own: active, of this offer (or of none), uses left.
- **Exhausted coupon** (``max_uses`` reached): the sale is still recorded — never lost. A
  click in the window attributes it (the coupon is not counted again); without one the
  coupon's partner is credited but the conversion is held for review (``pending_review``,
  reason ``coupon_exhausted``): the brand capped that code's uses and decides whether to pay
  past the cap. ``attribution.coupon_outcome`` says which happened.
- **Sub ids** are copied from the click only onto a conversion credited to the clicking
  partner: a sale credited to another partner by coupon keeps the advertiser's own sub ids
  (if any), never the clicking partner's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from conversions.models import Click
from conversions.postbacks import PostbackInput
from conversions.tracking_config import BrandConfig, OfferConfig
from core.errors import ValidationError
from partners.models import Coupon
from partners.services import coupon_try_use

# attribution.click_outcome / attribution.coupon_outcome (docs/tracking.md, "Attribution").
WON = "won"  # this candidate attributed the sale (a coupon's use was counted)
NOT_USED = "not_used"  # valid, but the other candidate won by the brand's precedence
EXPIRED = "expired"  # a click older than the offer's attribution window
EXHAUSTED = "exhausted"  # a coupon at its max_uses: no use counted
UNKNOWN = "unknown"  # no usable row: never issued, refused, disabled or of another offer
COUPON_EXHAUSTED = "coupon_exhausted"  # status_reason of a sale held for that


def click_expired(offer: OfferConfig, click: Click | None, *, now: dt.datetime) -> bool:
    """Is ``click`` older than the offer's attribution window? (False without a click; a
    test click is never old: send_test_postback makes it just before its postback.)"""
    if click is None:
        return False
    return click.created_at < now - dt.timedelta(days=offer.attribution_window_days)


def click_expired_error(offer: OfferConfig) -> ValidationError:
    days = offer.attribution_window_days
    return ValidationError(
        f"This click is older than the offer's attribution window ({days} days): it can no "
        "longer convert. A coupon in the same postback would still attribute the sale.",
        code="click_expired",
        fields={"click_id": [f"Older than {days} days."]},
    )


@dataclass(frozen=True)
class Attribution:
    """The decision: the click still usable (None if absent or expired), whether the coupon
    won (its use already counted), each candidate's outcome, and a hold reason (or "")."""

    click: Click | None
    use_coupon: bool
    click_outcome: str | None
    coupon_outcome: str | None
    hold_reason: str

    def as_json(
        self, brand: BrandConfig, data: PostbackInput, click: Click | None, coupon: Coupon | None
    ) -> dict[str, Any]:
        """What ``Conversion.attribution`` keeps: both candidates as reported, the winner and
        what became of each. ``click`` is the click as found, expired or not."""
        return {
            "winner": "coupon" if self.use_coupon else "click",
            "click_id": click.id if click else (data.click_id or None),
            "click_partner_id": click.partner.slug if click and click.partner else None,
            "click_outcome": self.click_outcome,
            "coupon": data.coupon or None,
            "coupon_partner_id": coupon.partner.slug if coupon else None,
            "coupon_outcome": self.coupon_outcome,
            "precedence": "coupon" if brand.coupon_first else "click",
        }


def choose_attribution(
    brand: BrandConfig,
    offer: OfferConfig,
    data: PostbackInput,
    click: Click | None,
    coupon: Coupon | None,
    *,
    now: dt.datetime,
) -> Attribution:
    """Decide between the click and the coupon (one of them is set; the caller refuses a
    sale with neither usable). Counts the coupon's use when it wins: call it inside the
    conversion's transaction."""
    expired = click_expired(offer, click, now=now)
    usable = None if expired else click
    if click is not None:
        click_outcome: str | None = EXPIRED if expired else WON
    else:
        click_outcome = UNKNOWN if data.click_id else None
    coupon_outcome: str | None = UNKNOWN if data.coupon and coupon is None else None
    if coupon is None:
        return Attribution(usable, False, click_outcome, coupon_outcome, "")
    if usable is not None and not brand.coupon_first:
        return Attribution(usable, False, click_outcome, NOT_USED, "")
    if coupon_try_use(coupon=coupon):
        if usable is not None:
            click_outcome = NOT_USED
        return Attribution(usable, True, click_outcome, WON, "")
    if usable is not None:
        return Attribution(usable, False, click_outcome, EXHAUSTED, "")
    # Nothing but a used-up coupon: credited to its partner, held for a person to decide.
    return Attribution(None, True, click_outcome, EXHAUSTED, COUPON_EXHAUSTED)


def conversion_subs(
    data: PostbackInput, click: Click | None, *, partner_id: int
) -> tuple[str, str, str, str, str]:
    """The conversion's sub ids: the advertiser's when it sent any; else its click's, but only
    when that click's partner is the one credited."""
    if any(data.subs) or click is None or click.partner_id != partner_id:
        return data.subs
    return (click.sub1, click.sub2, click.sub3, click.sub4, click.sub5)


def attribution_summary(attribution: dict[str, Any]) -> dict[str, Any]:
    """What the postback's answer says of the attribution: the winner and each candidate's
    outcome (conversions recorded before these were kept show null outcomes)."""
    return {
        "winner": attribution.get("winner"),
        "click_outcome": attribution.get("click_outcome"),
        "coupon_outcome": attribution.get("coupon_outcome"),
    }
