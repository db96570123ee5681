"""Rollups equal the raw aggregates after any sequence of clicks, postbacks (duplicates
included), approvals, rejections and payouts — checked with Hypothesis."""

import contextlib
import dataclasses
import itertools
import zoneinfo
from decimal import Decimal

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.actor import Actor, Channel
from conversions import tracking_config
from conversions.clicks import ClickInput, click_handle
from conversions.models import Conversion, DailyRollup, Payout
from conversions.payouts import payout_mark_paid, payouts_generate
from conversions.postbacks import PostbackInput
from conversions.rollups import days_with_activity, raw_aggregates, rebuild_brand
from conversions.services import conversion_approve, conversion_record, conversion_reject
from core.errors import DomainError
from tests.conftest import make_actor
from tests.conversions.helpers import CHROME
from tests.factories import BrandFactory, OfferFactory, PartnerFactory

COUNTER = itertools.count()
ROLLUP_COLUMNS = [
    field.name
    for field in DailyRollup._meta.fields
    if field.name not in ("id", "brand", "day", "offer", "partner", "currency", "stripe")
]

operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("click"),
            st.integers(0, 1),
            st.integers(0, 1),
            st.sampled_from([CHROME, "curl/8.0", ""]),
        ),
        st.tuples(
            st.just("postback"),
            st.integers(0, 30),
            st.integers(0, 5),
            st.sampled_from(["0", "19.99", "250"]),
        ),
        st.tuples(st.just("approve"), st.integers(0, 30)),
        st.tuples(st.just("reject"), st.integers(0, 30)),
        st.tuples(st.just("pay"), st.just(0)),
    ),
    max_size=30,
)


def run(brand, offers, partners, steps):
    actor = make_actor(brand)
    postback_actor = dataclasses.replace(
        Actor.system(
            brand_id=brand.pk, brand_slug=brand.slug, name="postback", channel=Channel.POSTBACK
        )
    )
    clicks = []
    for step in steps:
        kind = step[0]
        tracking_config.clear()
        if kind == "click":
            _, offer_index, partner_index, ua = step
            decision = click_handle(
                ClickInput(
                    brand_slug=brand.slug,
                    offer_slug=offers[offer_index].slug,
                    partner_slug=partners[partner_index].slug,
                    ip="81.2.69.142",
                    user_agent=ua,
                    referrer="",
                    subs=("", "", "", "", ""),
                    meta={},
                    via_trusted_proxy=False,
                )
            )
            if decision.outcome == "accepted":
                clicks.append(decision.click_id)
        elif kind == "postback" and clicks:
            _, click_index, txn, amount = step
            click_id = clicks[click_index % len(clicks)]
            offer = next(o for o in offers if o.pk == _offer_of(click_id))
            brand_cfg = tracking_config.brand_config(brand.slug)
            offer_cfg = tracking_config.offer_config(brand_cfg, offer.slug)
            data = PostbackInput(
                click_id=click_id,
                txn_id=f"T{txn}",
                amount=Decimal(amount),
                currency="USD",
                event_type="sale",
                coupon="",
                subs=("", "", "", "", ""),
            )
            with contextlib.suppress(DomainError):
                conversion_record(actor=postback_actor, brand=brand_cfg, offer=offer_cfg, data=data)
        elif kind in ("approve", "reject"):
            conversions = list(Conversion.objects.filter(brand=brand).order_by("pk"))
            if conversions:
                target = conversions[step[1] % len(conversions)]
                service = conversion_approve if kind == "approve" else conversion_reject
                with contextlib.suppress(DomainError):
                    service(actor=actor, conversion=target)
        elif kind == "pay":
            payouts_generate(actor=actor)
            for payout in Payout.objects.filter(brand=brand, status="pending"):
                payout_mark_paid(actor=actor, payout=payout, method="wire")


def _offer_of(click_id):
    from conversions.models import Click

    return Click.objects.values_list("offer_id", flat=True).get(pk=click_id)


def _value(v):
    # Money to the cent: SQLite keeps NUMERIC sums as floating point, so a sum of stripes that
    # should be 0 can read -1e-14 there (PostgreSQL's numeric is exact either way).
    if isinstance(v, (Decimal, str, float)):
        return Decimal(v).quantize(Decimal("0.01")) + 0
    return v


def rollup_table(brand, tz):
    """The rollups per key, summed over the key's stripes (as every reader sums them)."""
    rows = {}
    for row in (
        DailyRollup.objects.filter(brand=brand)
        .values("day", "offer_id", "partner_id")
        .annotate(**{column: Sum(column) for column in ROLLUP_COLUMNS})
        .order_by()
    ):
        key = (row.pop("day"), row.pop("offer_id"), row.pop("partner_id"))
        rows[key] = {k: _value(v) for k, v in row.items() if _value(v) not in (0, None)}
    return rows


def raw_table(brand, tz):
    rows = {}
    for day in days_with_activity(brand_id=brand.pk, tz=tz, since=None):
        for (offer_id, partner_id), values in raw_aggregates(
            brand_id=brand.pk, tz=tz, day=day
        ).items():
            rows[(day, offer_id, partner_id)] = {
                k: _value(v)
                for k, v in values.items()
                if k != "currency" and _value(v) not in (0, None)
            }
    return {key: value for key, value in rows.items() if value}


@pytest.mark.django_db
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=operations,
    mode=st.sampled_from(["off", "monitor", "review"]),
    cap=st.sampled_from([None, 2]),
)
def test_rollups_equal_raw_aggregates_after_any_sequence(steps, mode, cap):
    brand = BrandFactory(
        slug=f"prop-{next(COUNTER)}",
        timezone="America/New_York",
        fraud_mode=mode,
        fraud_threshold=50,
    )
    offers = [
        OfferFactory(brand=brand, min_conversion_seconds=0, daily_cap=cap),
        OfferFactory(brand=brand),
    ]
    partners = [PartnerFactory(brand=brand), PartnerFactory(brand=brand)]
    run(brand, offers, partners, steps)
    tz = zoneinfo.ZoneInfo(brand.timezone)
    incremental = {key: value for key, value in rollup_table(brand, tz).items() if value}
    assert incremental == raw_table(brand, tz)
    # and a rebuild from raw rows lands on the same numbers
    rebuild_brand(brand_id=brand.pk)
    assert {key: value for key, value in rollup_table(brand, tz).items() if value} == raw_table(
        brand, tz
    )
