"""Hold period and auto-approval (issue 15): pending, unflagged conversions are approved by
the worker once their offer's hold_days (else the brand's default_hold_days) have passed, in
one audited batch per run, through the approve service a person uses."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import time_machine
from django.db import connection, transaction
from django.db.models import Sum

from audit.models import AuditEvent
from brands.services import brand_program_settings_update
from conversions.auto_approval import conversions_auto_approve, due_conversions
from conversions.ledger_models import LedgerEntry
from conversions.models import Conversion, DailyRollup
from conversions.services import conversion_approve
from core.errors import ValidationError
from tests.conftest import issue_key, make_actor
from tests.conversions.factories_flow import accepted_click, record
from tests.factories import BrandFactory, OfferFactory, PartnerFactory
from tests.mcp_gateway.helpers import Mcp, structured
from workers.loop import Worker

T0 = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def setup(brand):
    offer = OfferFactory(brand=brand, slug="held", hold_days=7, min_conversion_seconds=0)
    partner = PartnerFactory(brand=brand, slug="abc-123")
    return brand, offer, partner


def sale(brand, offer, partner, txn_id: str, *, at: dt.datetime = T0) -> Conversion:
    with time_machine.travel(at, tick=False):
        click = accepted_click(brand, offer, partner, seconds_ago=60)
        return record(brand, offer, click=click, txn_id=txn_id)


def run_worker_at(when: dt.datetime) -> Worker:
    worker = Worker(name="test")
    with time_machine.travel(when, tick=False):
        worker.run_once(queues_only=False)
    return worker


def status(conversion: Conversion) -> str:
    conversion.refresh_from_db()
    return conversion.status


def test_a_conversion_is_approved_by_the_worker_once_its_hold_has_passed(setup):
    brand, offer, partner = setup
    conversion = sale(brand, offer, partner, "H-1")
    run_worker_at(T0 + dt.timedelta(days=7, minutes=-1))
    assert status(conversion) == "pending"
    worker = run_worker_at(T0 + dt.timedelta(days=7, minutes=1))
    assert status(conversion) == "approved"
    assert worker.totals["conversions auto-approved"] == 1
    assert conversion.approved_at == T0 + dt.timedelta(days=7, minutes=1)
    # The person's approve service ran: rollups moved like any approval.
    rollup = DailyRollup.objects.filter(offer=offer).aggregate(
        pending=Sum("pending_count"), approved=Sum("approved_count")
    )
    assert rollup == {"pending": 0, "approved": 1}
    # ... and the ledger's commission entry, written by the approve service itself.
    [entry] = LedgerEntry.objects.filter(conversion=conversion)
    assert (entry.kind, entry.amount, entry.created_by) == (
        "commission",
        conversion.payout,
        "system:auto-approval",
    )
    # Audited: the conversion's own event by the worker, and one event for the batch.
    event = AuditEvent.objects.get(action="conversion.approve", target_id=conversion.pk)
    assert (event.actor_kind, event.actor_label, event.channel) == (
        "system",
        "system:auto-approval",
        "worker",
    )
    batch = AuditEvent.objects.get(action="conversion.auto_approve")
    assert event.actor_detail == {"batch_id": batch.target_id, "rule": "hold_days"}
    assert batch.target_type == "auto_approval"
    assert batch.changes == {"approved": [None, 1], "conversion_ids": [None, [conversion.pk]]}


def test_no_hold_anywhere_means_a_person_approves(brand):
    offer = OfferFactory(brand=brand, min_conversion_seconds=0)
    conversion = sale(brand, offer, PartnerFactory(brand=brand), "N-1")
    run_worker_at(T0 + dt.timedelta(days=400))
    assert status(conversion) == "pending"
    assert not AuditEvent.objects.filter(action="conversion.auto_approve").exists()


def test_the_brand_default_applies_to_offers_without_their_own_hold(brand):
    brand.default_hold_days = 3
    brand.save()
    partner = PartnerFactory(brand=brand)
    default = OfferFactory(brand=brand, min_conversion_seconds=0)
    longer = OfferFactory(brand=brand, min_conversion_seconds=0, hold_days=10)
    immediate = OfferFactory(brand=brand, min_conversion_seconds=0, hold_days=0)
    by_default = sale(brand, default, partner, "D-1")
    by_offer = sale(brand, longer, partner, "D-2")
    at_once = sale(brand, immediate, partner, "D-3")
    run_worker_at(T0 + dt.timedelta(minutes=1))
    assert [status(c) for c in (by_default, by_offer, at_once)] == [
        "pending",
        "pending",
        "approved",
    ]
    run_worker_at(T0 + dt.timedelta(days=3, minutes=1))
    assert [status(c) for c in (by_default, by_offer)] == ["approved", "pending"]
    run_worker_at(T0 + dt.timedelta(days=10, minutes=1))
    assert status(by_offer) == "approved"


def test_held_flagged_test_and_moved_conversions_stay_where_they_are(setup):
    brand, offer, partner = setup
    flagged = sale(brand, offer, partner, "F-1")
    Conversion.objects.filter(pk=flagged.pk).update(fraud_flagged=True)  # monitor mode's flag
    review = sale(brand, offer, partner, "F-2")
    Conversion.objects.filter(pk=review.pk).update(
        status="pending_review", status_reason="fraud_review"
    )
    test = sale(brand, offer, partner, "F-3")
    Conversion.objects.filter(pk=test.pk).update(is_test=True)
    rejected = sale(brand, offer, partner, "F-4")
    Conversion.objects.filter(pk=rejected.pk).update(status="rejected")
    approved_by_hand = sale(brand, offer, partner, "F-5")
    conversion_approve(actor=make_actor(brand), conversion=approved_by_hand)
    assert conversions_auto_approve(now=T0 + dt.timedelta(days=30)) == 0
    assert [status(c) for c in (flagged, review, test, rejected, approved_by_hand)] == [
        "pending",
        "pending_review",
        "pending",
        "rejected",
        "approved",
    ]
    assert AuditEvent.objects.filter(action="conversion.approve").count() == 1


def test_runs_are_bounded_and_idempotent(setup):
    brand, offer, partner = setup
    conversions = [sale(brand, offer, partner, f"B-{n}") for n in range(5)]
    later = T0 + dt.timedelta(days=8)
    assert len(due_conversions(brand, now=later)) == 5
    assert conversions_auto_approve(now=later, limit=2) == 2
    assert conversions_auto_approve(now=later, limit=2) == 2
    assert conversions_auto_approve(now=later, limit=2) == 1
    assert conversions_auto_approve(now=later, limit=2) == 0
    assert all(status(c) == "approved" for c in conversions)
    assert AuditEvent.objects.filter(action="conversion.approve").count() == 5
    batches = AuditEvent.objects.filter(action="conversion.auto_approve").order_by("id")
    assert [event.changes["approved"][1] for event in batches] == [2, 2, 1]
    # Oldest first; each batch its own id.
    assert len({event.target_id for event in batches}) == 3


def test_each_brand_is_its_own_batch_and_sees_only_its_own(setup):
    brand, offer, partner = setup
    other = BrandFactory(slug="globex", default_hold_days=1)
    theirs = sale(other, OfferFactory(brand=other), PartnerFactory(brand=other), "O-1")
    ours = sale(brand, offer, partner, "O-2")
    assert conversions_auto_approve(now=T0 + dt.timedelta(days=8)) == 2
    assert status(theirs) == status(ours) == "approved"
    batches = AuditEvent.objects.filter(action="conversion.auto_approve")
    assert sorted(event.brand_id for event in batches) == sorted([brand.pk, other.pk])
    for event in batches:
        assert Conversion.objects.get(pk=event.changes["conversion_ids"][1][0]).brand_id == (
            event.brand_id
        )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_conversion_locked_elsewhere_is_skipped_not_waited_for_or_approved_twice():
    brand = BrandFactory(slug="race")
    offer = OfferFactory(brand=brand, hold_days=1, min_conversion_seconds=0)
    partner = PartnerFactory(brand=brand)
    locked, free = (sale(brand, offer, partner, f"L-{n}") for n in range(2))
    holding, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        try:
            with transaction.atomic():
                Conversion.objects.select_for_update().get(pk=locked.pk)
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert holding.wait(10)
    try:
        # Another worker (or a person) holds `locked`: this run takes the other, at once.
        assert conversions_auto_approve(now=T0 + dt.timedelta(days=2)) == 1
    finally:
        release.set()
        holder.join(10)
    assert (status(locked), status(free)) == ("pending", "approved")
    assert conversions_auto_approve(now=T0 + dt.timedelta(days=2)) == 1
    assert status(locked) == "approved"
    assert AuditEvent.objects.filter(action="conversion.approve").count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_approve_each_conversion_once():
    brand = BrandFactory(slug="race2")
    offer = OfferFactory(brand=brand, hold_days=1, min_conversion_seconds=0)
    partner = PartnerFactory(brand=brand)
    conversions = [sale(brand, offer, partner, f"W-{n}") for n in range(30)]
    results: list[int] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait(10)
            results.append(conversions_auto_approve(now=T0 + dt.timedelta(days=2), limit=30))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(results) == 30
    assert all(status(c) == "approved" for c in conversions)
    assert AuditEvent.objects.filter(action="conversion.approve").count() == 30


# --- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [-1, 366, "7d", 1.5, True, 10**12])
def test_hold_days_out_of_range_is_refused_over_rest(api, brand, value):
    offer = OfferFactory(brand=brand, slug="held")
    response = api.patch("/api/v1/offers/held/", {"hold_days": value}, format="json")
    assert response.status_code in (400, 422), response.json()
    offer.refresh_from_db()
    assert offer.hold_days is None


def test_hold_days_over_rest_and_mcp_and_the_effective_hold(api, brand):
    brand.default_hold_days = 21
    brand.save()
    OfferFactory(brand=brand, slug="held")
    shown = api.get("/api/v1/offers/held/").json()
    assert (shown["hold_days"], shown["effective_hold_days"]) == (None, 21)
    patched = api.patch("/api/v1/offers/held/", {"hold_days": 0}, format="json").json()
    assert (patched["hold_days"], patched["effective_hold_days"]) == (0, 0)
    result = Mcp(issue_key(brand)).call(
        "update_offer", {"offer_id": "held", "hold_days": None, "attribution_window_days": 60}
    )
    assert result["isError"] is False, result
    answer = structured(result)
    assert (answer["hold_days"], answer["effective_hold_days"]) == (None, 21)
    assert answer["attribution_window_days"] == 60


def test_program_settings_keep_or_clear_the_default_hold(brand):
    actor = make_actor(brand)
    brand_program_settings_update(actor=actor, default_hold_days=5)
    brand_program_settings_update(actor=actor, partner_reasons_visible=False)  # omitted: kept
    brand.refresh_from_db()
    assert brand.default_hold_days == 5
    brand_program_settings_update(actor=actor, default_hold_days=None)  # null: no auto-approval
    brand.refresh_from_db()
    assert brand.default_hold_days is None
    with pytest.raises(ValidationError):
        brand_program_settings_update(actor=actor, default_hold_days=366)
