"""bulk_update_conversions: approve or reject by ids or by filter, at most 500 per call,
dry_run, one audit event per conversion, rows that cannot move reported per row, tenant
isolation and hostile input (REST POST conversions/bulk/; MCP parity in tests/mcp_gateway)."""

from decimal import Decimal

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from conversions.bulk import BULK_LIMIT, bulk_update_conversions
from conversions.models import Conversion, Payout, PostbackDelivery
from core.errors import NotFoundError, ValidationError
from tests.factories import OfferFactory, PartnerFactory

URL = "/api/v1/conversions/bulk/"


def make(brand, offer, partner, txn, *, status="pending", score=0, when=None, **fields):
    return Conversion.objects.create(
        brand=brand,
        offer=offer,
        partner=partner,
        created_at=when or timezone.now(),
        status=status,
        sale_amount=Decimal("50.00"),
        payout=Decimal("5.00"),
        revenue=Decimal("9.00"),
        currency="USD",
        txn_id=txn,
        fraud_score=score,
        **fields,
    )


@pytest.fixture
def world(brand):
    offer = OfferFactory(
        brand=brand, slug="shop", postback_url_template="https://adv.example.com/pb?c={CLICK_ID}"
    )
    partner = PartnerFactory(brand=brand, slug="abc")
    other_partner = PartnerFactory(brand=brand, slug="xyz")
    return offer, partner, other_partner


def audit_for(pks, action):
    return list(
        AuditEvent.objects.filter(action=action, target_id__in=pks).values_list(
            "target_id", flat=True
        )
    )


def test_approve_by_ids_one_audit_event_and_postback_each(actor, brand, world):
    offer, partner, _ = world
    rows = [make(brand, offer, partner, f"A{i}") for i in range(3)]
    held = make(brand, offer, partner, "H", status="pending_review", status_reason="fraud_review")
    pks = [row.pk for row in [*rows, held]]
    answer = bulk_update_conversions(actor=actor, action="approve", conversion_ids=pks)
    assert (answer["matched"], answer["processed"], answer["more_remain"]) == (4, 4, False)
    assert (answer["changed"], answer["refused"], answer["dry_run"]) == (4, 0, False)
    assert [r["conversion_id"] for r in answer["results"]] == sorted(pks)  # pk order
    assert set(Conversion.objects.filter(pk__in=pks).values_list("status", flat=True)) == {
        "approved"
    }
    held.refresh_from_db()
    assert held.status_reason == ""  # approving a hold clears its reason
    assert sorted(audit_for(pks, "conversion.approve")) == sorted(pks)  # one each
    assert PostbackDelivery.objects.filter(conversion_id__in=pks).count() == 4

    again = bulk_update_conversions(actor=actor, action="approve", conversion_ids=pks)
    assert (again["changed"], again["unchanged"]) == (0, 4)
    assert len(audit_for(pks, "conversion.approve")) == 4  # a repeat writes nothing
    assert PostbackDelivery.objects.filter(conversion_id__in=pks).count() == 4


def test_rows_that_cannot_move_are_reported_not_fatal(actor, brand, world):
    offer, partner, _ = world
    payout = Payout.objects.create(
        brand=brand,
        partner=partner,
        currency="USD",
        amount=Decimal("5.00"),
        period_end=timezone.now().date(),
    )
    in_payout = make(brand, offer, partner, "P1", status="approved", payout_batch=payout)
    paid = make(brand, offer, partner, "P2", status="paid")
    fine = make(brand, offer, partner, "P3")
    pks = [in_payout.pk, paid.pk, fine.pk]
    answer = bulk_update_conversions(
        actor=actor, action="reject", conversion_ids=pks, reason="chargeback"
    )
    by_id = {r["conversion_id"]: r for r in answer["results"]}
    assert (answer["changed"], answer["refused"]) == (1, 2)
    assert by_id[fine.pk]["outcome"] == "changed" and by_id[fine.pk]["status"] == "rejected"
    for pk, status in ((in_payout.pk, "approved"), (paid.pk, "paid")):
        assert by_id[pk]["outcome"] == "refused"
        assert by_id[pk]["error"] == "invalid_transition"
        assert Conversion.objects.get(pk=pk).status == status
    fine.refresh_from_db()
    assert fine.status_reason == "chargeback"
    assert audit_for(pks, "conversion.reject") == [fine.pk]


def test_by_filter_only_rows_the_action_can_move(actor, brand, world):
    offer, partner, other_partner = world
    old = timezone.now() - timezone.timedelta(days=3)
    risky_old = make(brand, offer, partner, "F1", score=80, when=old)
    make(brand, offer, partner, "F2", score=80)  # recorded after the cut-off
    make(brand, offer, partner, "F3", score=10, when=old)  # below the range
    make(brand, offer, other_partner, "F4", score=90, when=old)  # another partner
    make(brand, offer, partner, "F5", score=85, when=old, status="paid")  # cannot move
    answer = bulk_update_conversions(
        actor=actor,
        action="reject",
        partner_id="abc",
        min_fraud_score=50,
        max_fraud_score=100,
        recorded_before=timezone.now() - timezone.timedelta(days=1),
    )
    assert (answer["matched"], answer["changed"]) == (1, 1)
    assert [r["conversion_id"] for r in answer["results"]] == [risky_old.pk]
    assert Conversion.objects.filter(status="rejected").count() == 1


def test_at_most_500_per_call_and_the_rest_on_the_next(actor, brand, world):
    offer, partner, _ = world
    now = timezone.now()
    Conversion.objects.bulk_create(
        Conversion(
            brand=brand,
            offer=offer,
            partner=partner,
            created_at=now,
            currency="USD",
            txn_id=f"B{i}",
            status="pending",
        )
        for i in range(BULK_LIMIT + 1)
    )
    first = bulk_update_conversions(actor=actor, action="approve", status="pending")
    assert (first["matched"], first["processed"], first["more_remain"]) == (501, 500, True)
    assert first["changed"] == 500 == len(first["results"])
    assert AuditEvent.objects.filter(action="conversion.approve").count() == 500
    second = bulk_update_conversions(actor=actor, action="approve", status="pending")
    assert (second["matched"], second["processed"], second["more_remain"]) == (1, 1, False)
    assert not Conversion.objects.filter(status="pending").exists()


def test_dry_run_answers_per_row_and_writes_nothing(actor, brand, world):
    offer, partner, _ = world
    rows = [make(brand, offer, partner, f"D{i}") for i in range(2)]
    paid = make(brand, offer, partner, "D9", status="paid")
    pks = [row.pk for row in [*rows, paid]]
    audit_before = AuditEvent.objects.count()
    answer = bulk_update_conversions(
        actor=actor, action="approve", conversion_ids=pks, dry_run=True
    )
    assert answer["dry_run"] is True
    assert (answer["changed"], answer["refused"]) == (2, 1)
    assert {r["status"] for r in answer["results"] if r["outcome"] == "changed"} == {"approved"}
    assert AuditEvent.objects.count() == audit_before
    assert set(Conversion.objects.filter(pk__in=pks).values_list("status", flat=True)) == {
        "pending",
        "paid",
    }
    assert not PostbackDelivery.objects.exists()


def test_another_brands_conversions_are_not_found_and_untouched(actor, other_brand, world):
    offer, partner, _ = world
    mine = make(actor_brand := offer.brand, offer, partner, "T1")
    foreign_offer = OfferFactory(brand=other_brand, slug="shop")
    foreign_partner = PartnerFactory(brand=other_brand, slug="abc")
    foreign = make(other_brand, foreign_offer, foreign_partner, "T2")
    answer = bulk_update_conversions(
        actor=actor, action="reject", conversion_ids=[mine.pk, foreign.pk]
    )
    by_id = {r["conversion_id"]: r for r in answer["results"]}
    assert (answer["matched"], answer["changed"], answer["not_found"]) == (1, 1, 1)
    assert by_id[foreign.pk]["outcome"] == "not_found" and by_id[foreign.pk]["status"] is None
    foreign.refresh_from_db()
    assert foreign.status == "pending"
    assert not AuditEvent.objects.filter(target_id=foreign.pk).exists()
    # A filter naming another brand's partner is "not found", and touches nothing there.
    PartnerFactory(brand=other_brand, slug="only-there")
    with pytest.raises(NotFoundError):
        bulk_update_conversions(actor=actor, action="reject", partner_id="only-there")
    # Filter mode never reaches another brand's rows either.
    everything = bulk_update_conversions(actor=actor, action="approve", max_fraud_score=100)
    assert everything["matched"] == 0
    foreign.refresh_from_db()
    assert (foreign.status, actor_brand.pk != other_brand.pk) == ("pending", True)


def test_service_refuses_ambiguous_or_missing_selection(actor, world):
    with pytest.raises(ValidationError):
        bulk_update_conversions(actor=actor, action="approve")  # never "everything"
    with pytest.raises(ValidationError):
        bulk_update_conversions(
            actor=actor, action="approve", conversion_ids=["conv_a"], status="pending"
        )
    with pytest.raises(ValidationError):
        bulk_update_conversions(actor=actor, action="approve", status="pending", reason="x")


def test_rest_bulk_and_its_hostile_input(api, read_api, brand, world):
    offer, partner, _ = world
    row = make(brand, offer, partner, "R1")
    ok = api.post(URL, {"action": "approve", "conversion_ids": [row.pk]}, format="json")
    assert ok.status_code == 200, ok.json()
    assert ok.json()["results"][0]["outcome"] == "changed"
    refused = read_api.post(URL, {"action": "approve", "status": "pending"}, format="json")
    assert refused.status_code == 403
    hostile = [
        {"action": "delete", "status": "pending"},
        {"action": "approve"},
        {"action": "approve", "conversion_ids": []},
        {"action": "approve", "conversion_ids": ["conv_x' OR 1=1 --"]},
        {"action": "approve", "conversion_ids": "conv_abc"},
        {"action": "approve", "conversion_ids": [f"conv_{i}" for i in range(BULK_LIMIT + 1)]},
        {"action": "approve", "conversion_ids": [row.pk], "status": "pending"},
        {"action": "approve", "min_fraud_score": 70, "max_fraud_score": 20},
        {"action": "approve", "min_fraud_score": 101},
        {"action": "approve", "status": "pending", "reason": "not for approve"},
        {"action": "reject", "status": "pending", "reason": "x" * 501},
        {"action": "approve", "status": "pending", "dry_run": "maybe"},
        {"action": "approve", "status": "pending", "brand_id": 1},
        {"action": "approve", "offer_id": "../../etc"},
        {"action": "approve", "recorded_before": "yesterday"},
    ]
    for body in hostile:
        response = api.post(URL, body, format="json")
        assert response.status_code == 422, (body, response.json())
        assert response.json()["error"]["code"] == "invalid_input", body
    assert Conversion.objects.filter(status="pending").count() == 0  # only R1 ever existed
    assert AuditEvent.objects.filter(action="conversion.approve").count() == 1


def test_a_dry_run_says_so_over_rest_and_mcp_and_writes_nothing(api, brand, world):
    from tests.conftest import issue_key
    from tests.mcp_gateway.helpers import Mcp, structured

    offer, partner, _ = world
    row = make(brand, offer, partner, "W1")
    body = {"action": "approve", "conversion_ids": [row.pk], "dry_run": True}
    rest = api.post(URL, body, format="json")
    assert rest.status_code == 200, rest.json()
    answer = rest.json()
    assert answer["dry_run"] is True  # the envelope must not call it a real write
    assert (answer["changed"], answer["results"][0]["status"]) == (1, "approved")
    assert [change["action"] for change in answer["changes"]] == ["conversion.approve"]
    mcp = structured(Mcp(issue_key(brand)).call("bulk_update_conversions", body))
    assert (mcp["dry_run"], mcp["changed"]) == (True, 1)
    row.refresh_from_db()
    assert row.status == "pending"
    assert not AuditEvent.objects.filter(target_id=row.pk).exists()
    assert not PostbackDelivery.objects.exists()
