"""A Hypothesis stateful model of the tracking flow, driven through the real code paths.

Clicks go through the click handler (``GET /c/<brand>/<offer>/<partner>``) and inbound
postbacks through ``/api/postback/<brand>/<offer>`` with Django's test client; approvals,
rejections and payouts call the domain services. Nothing is mocked. A small model (cap slots
taken, txn_ids seen) predicts each answer, and after every step the invariants below are
checked against the database:

1. the capped offer's daily counters never pass the cap and count exactly the conversions
   that took a slot; once the cap is full no billable click is accepted on that offer (the
   cap limits conversions, so clicks are refused only once it is full — see tracking.md);
2. exactly one conversion per (offer, event, txn_id): a replay returns the same row;
3. every non-void payout's amount is the sum of the payouts of the conversions it covers, a
   paid payout's conversions are paid, a pending payout's are approved, a void one covers none;
4. daily rollups equal the aggregates of the raw rows;
5. currencies (issue 15): a sale reported in another currency is in its offer's currency at
   the brand's rate (sale = original × rate, to the cent), one with no rate is refused and
   recorded nowhere, and a payout to a partner paid in pounds states what they receive at
   the rate of the day.
"""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import zoneinfo
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.db.models import Count, Sum
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from brands.fx_services import fx_rate_set
from conversions import tracking_config
from conversions.models import Click, Conversion, Payout
from conversions.payouts import payout_mark_paid, payout_void, payouts_generate
from conversions.services import conversion_approve, conversion_reject
from core.errors import InvalidTransitionError
from offers.models import CapPeriod, OfferCapCounter
from tests.conftest import make_actor
from tests.conversions.helpers import CHROME
from tests.conversions.test_rollups import raw_table, rollup_table
from tests.factories import BrandFactory, OfferFactory, PartnerFactory

CAP = 3
COUNTER = itertools.count()
PREVIEW_UA = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
NOT_REJECTABLE = {"paid"}
FX_SINCE = dt.date(2000, 1, 1)


class TrackingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        tracking_config.clear()
        self.client = Client()
        # Every example gets its own brand: examples share the test's transaction.
        self.brand = BrandFactory(slug=f"sm-{next(COUNTER)}", timezone="America/New_York")
        self.offers = {
            "capped": OfferFactory(brand=self.brand, daily_cap=CAP, min_conversion_seconds=0),
            "uncapped": OfferFactory(brand=self.brand, min_conversion_seconds=0),
        }
        self.partners = [
            PartnerFactory(brand=self.brand),
            PartnerFactory(brand=self.brand, payout_currency="GBP"),
        ]
        self.actor = make_actor(self.brand)
        # The brand's own rates (CHF has none): sales in EUR and GBP convert into the offers'
        # USD, and the second partner's payouts are stated in GBP.
        for base, quote, rate in (("EUR", "USD", "1.1587"), ("GBP", "USD", "1.3175")):
            fx_rate_set(actor=self.actor, base=base, quote=quote, day=FX_SINCE, rate=Decimal(rate))
        self.tz = zoneinfo.ZoneInfo(self.brand.timezone)
        self.known_clicks: set[str] = set()
        self.accepted: list[tuple[str, str]] = []  # (click id, offer key)
        self.seen: dict[tuple[str, str, str], str] = {}  # (offer key, event, txn) -> conversion
        self.slots: collections.Counter[dt.date] = collections.Counter()  # per local day
        self.held = 0

    # --- helpers ---------------------------------------------------------------------------

    def _postback(self, offer_key: str, **params: str):
        offer = self.offers[offer_key]
        return self.client.get(f"/api/postback/{self.brand.slug}/{offer.slug}", params)

    def _today(self) -> dt.date:
        return timezone.now().astimezone(self.tz).date()

    def _conversions(self):
        return Conversion.objects.filter(brand=self.brand)

    # --- rules -----------------------------------------------------------------------------

    @rule(
        offer_key=st.sampled_from(["capped", "uncapped"]),
        partner=st.integers(0, 1),
        preview=st.booleans(),
    )
    def click(self, offer_key: str, partner: int, preview: bool) -> None:
        offer = self.offers[offer_key]
        response = self.client.get(
            f"/c/{self.brand.slug}/{offer.slug}/{self.partners[partner].slug}",
            HTTP_USER_AGENT=PREVIEW_UA if preview else CHROME,
            REMOTE_ADDR="81.2.69.142",
        )
        (new,) = Click.objects.filter(brand=self.brand).exclude(pk__in=self.known_clicks)
        self.known_clicks.add(new.pk)
        cap_full = offer_key == "capped" and self.slots[self._today()] >= CAP
        if cap_full and not preview:
            assert new.outcome == "cap_reached", new.outcome
            assert not new.is_billable
            assert response.status_code == 410
            return
        assert new.outcome == "accepted", new.outcome
        assert new.is_billable is (not preview)
        assert response.status_code == 302
        self.accepted.append((new.pk, offer_key))

    @precondition(lambda self: self.accepted)
    @rule(
        pick=st.integers(0, 1000),
        txn=st.integers(0, 4),
        event=st.sampled_from(["sale", "lead"]),
        amount=st.sampled_from(["0", "19.99", "250"]),
        currency=st.sampled_from(["", "USD", "eur", "GBP", "CHF"]),
    )
    def postback(self, pick: int, txn: int, event: str, amount: str, currency: str) -> None:
        click_id, offer_key = self.accepted[pick % len(self.accepted)]
        key = (offer_key, event, f"T{txn}")
        before = self._conversions().count()
        response = self._postback(
            offer_key,
            click_id=click_id,
            txn_id=key[2],
            event=event,
            amount=amount,
            **({"currency": currency} if currency else {}),
        )
        if currency == "CHF" and key not in self.seen:
            assert response.status_code == 422, response.content
            assert response.json()["error"]["code"] == "fx_rate_missing"
            assert self._conversions().count() == before
            return
        assert response.status_code == 200, response.content
        body = response.json()
        if key in self.seen:
            assert body["duplicate"] is True
            assert body["conversion_id"] == self.seen[key]
            return
        assert body["duplicate"] is False
        self.seen[key] = body["conversion_id"]
        if offer_key == "capped":
            if self.slots[self._today()] < CAP:
                self.slots[self._today()] += 1
                assert body["status"] == "pending", body
            else:
                assert body["status"] == "pending_review", body  # soft cap: held
                self.held += 1
        else:
            assert body["status"] == "pending", body

    @precondition(lambda self: self.seen)
    @rule(pick=st.integers(0, 1000), amount=st.sampled_from(["1", "999.99"]))
    def replay_postback(self, pick: int, amount: str) -> None:
        """A repeated txn_id (even with another amount) changes nothing."""
        keys = sorted(self.seen)
        offer_key, event, txn_id = keys[pick % len(keys)]
        click_id = next(c for c, o in self.accepted if o == offer_key)
        before = self._conversions().count()
        response = self._postback(
            offer_key, click_id=click_id, txn_id=txn_id, event=event, amount=amount
        )
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["duplicate"] is True
        assert body["conversion_id"] == self.seen[(offer_key, event, txn_id)]
        assert self._conversions().count() == before

    @precondition(lambda self: self.seen)
    @rule(pick=st.integers(0, 1000), approve=st.booleans())
    def review(self, pick: int, approve: bool) -> None:
        # In the order recorded: ids are random, so a pk order would differ between a run and
        # its replay (Hypothesis: FlakyStrategyDefinition).
        conversions = list(self._conversions().order_by("created_at", "pk"))
        target = conversions[pick % len(conversions)]
        if approve:
            allowed = target.status in ("pending", "pending_review", "approved")
            service = conversion_approve
        else:
            allowed = target.status not in NOT_REJECTABLE and target.payout_batch_id is None
            allowed = allowed or target.status == "rejected"
            service = conversion_reject
        try:
            result = service(actor=self.actor, conversion=target)
        except InvalidTransitionError:
            assert not allowed, (target.status, target.payout_batch_id)
            return
        assert allowed, (target.status, target.payout_batch_id)
        assert result.status == ("approved" if approve else "rejected")

    @rule()
    def generate_payouts(self) -> None:
        eligible = self._conversions().filter(status="approved", payout_batch__isnull=True)
        expected = eligible.count()
        payouts = payouts_generate(actor=self.actor)
        covered = self._conversions().filter(payout_batch__in=payouts).count()
        assert covered == expected

    @precondition(lambda self: Payout.objects.filter(brand=self.brand, status="pending").exists())
    @rule(pick=st.integers(0, 1000), void=st.booleans())
    def settle_payout(self, pick: int, void: bool) -> None:
        pending = list(
            Payout.objects.filter(brand=self.brand, status="pending").order_by("created_at", "pk")
        )
        payout = pending[pick % len(pending)]
        if void:
            payout_void(actor=self.actor, payout=payout)
        else:
            payout_mark_paid(actor=self.actor, payout=payout, method="wire", reference="R-1")

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def cap_never_exceeded(self) -> None:
        counters = OfferCapCounter.objects.filter(
            offer=self.offers["capped"], period=CapPeriod.DAY
        ).values_list("period_start", "count")
        assert all(count <= CAP for _, count in counters), list(counters)
        assert {day: count for day, count in counters if count} == +self.slots
        assert not OfferCapCounter.objects.filter(offer=self.offers["uncapped"]).exists()
        # Every conversion of the capped offer either took a slot or was held over the cap.
        capped = self._conversions().filter(offer=self.offers["capped"])
        assert capped.count() == self.slots.total() + self.held
        assert capped.filter(status_reason="cap_exceeded").count() <= self.held

    @invariant()
    def one_conversion_per_txn(self) -> None:
        groups = (
            self._conversions()
            .values("offer_id", "event_type", "txn_id")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
        )
        assert not groups.exists(), list(groups)
        ids = set(self._conversions().values_list("id", flat=True))
        assert ids == set(self.seen.values())

    @invariant()
    def payouts_add_up(self) -> None:
        for payout in Payout.objects.filter(brand=self.brand):
            covered = self._conversions().filter(payout_batch=payout)
            if payout.status == "void":
                assert not covered.exists()
                continue
            total = covered.aggregate(total=Sum("payout"))["total"] or Decimal("0")
            assert payout.amount == total, (payout.pk, payout.amount, total)
            statuses = set(covered.values_list("status", flat=True))
            expected = {"paid"} if payout.status == "paid" else {"approved"}
            assert statuses <= expected, (payout.status, statuses)
        # Paid conversions are always covered by a paid payout.
        assert not (
            self._conversions().filter(status="paid").exclude(payout_batch__status="paid").exists()
        )

    @invariant()
    def currencies_convert_exactly(self) -> None:
        for conversion in self._conversions():
            assert conversion.currency == "USD"
            assert conversion.sale_amount == (
                conversion.original_amount * conversion.fx_rate
            ).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            assert (conversion.original_currency == "USD") == (conversion.fx_rate == 1)
        for payout in Payout.objects.filter(brand=self.brand).select_related("partner"):
            expected = payout.partner.payout_currency or payout.currency
            assert payout.partner_currency == expected
            assert payout.partner_amount == (payout.amount * payout.fx_rate).quantize(
                Decimal("0.01"), rounding=ROUND_HALF_UP
            )

    @invariant()
    def rollups_equal_raw(self) -> None:
        incremental = {k: v for k, v in rollup_table(self.brand, self.tz).items() if v}
        assert incremental == raw_table(self.brand, self.tz)


@pytest.mark.django_db
def test_tracking_state_machine(db):
    run_state_machine_as_test(
        TrackingMachine,
        settings=settings(
            max_examples=15,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
