import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from audit.services import audit_record
from offers.services import offer_pause, offer_resume, offer_update
from tests.conftest import make_actor


def _write_events(actor, offer, n=4):
    for i in range(n):
        offer_update(actor=actor, offer=offer, name=f"Name {i}")


@pytest.mark.django_db(transaction=True)
def test_audit_record_refuses_to_run_outside_a_transaction(actor, offer):
    # given autocommit mode (no atomic block; a transactional test does not wrap one)
    # when/then: an audit row outside the write's transaction could survive a rolled-back write
    with pytest.raises(RuntimeError, match="inside the audited write"):
        audit_record(actor=actor, action="offer.update", target=offer)


def test_chain_links_each_event_to_the_previous_one(actor, offer):
    _write_events(actor, offer, 3)
    events = list(AuditEvent.objects.filter(brand_id=actor.brand_id).order_by("seq"))
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == "0" * 64
    assert events[1].prev_hash == events[0].hash
    assert events[2].prev_hash == events[1].hash
    assert audit_chain_verify(brand_id=actor.brand_id) is None


def test_chains_of_two_brands_are_independent(actor, offer, other_brand):
    from tests.factories import OfferFactory

    other_actor = make_actor(other_brand)
    other_offer = OfferFactory(brand=other_brand)
    offer_pause(actor=actor, offer=offer)
    offer_pause(actor=other_actor, offer=other_offer)
    offer_resume(actor=actor, offer=offer)
    assert list(AuditEvent.objects.filter(brand=other_brand).values_list("seq", flat=True)) == [1]
    assert sorted(
        AuditEvent.objects.filter(brand_id=actor.brand_id).values_list("seq", flat=True)
    ) == [1, 2]


def test_verify_audit_passes_on_an_untouched_chain(actor, offer, capsys):
    _write_events(actor, offer)
    call_command("verify_audit")
    assert f"ok      {actor.brand_slug}" in capsys.readouterr().out


def test_verify_audit_reports_the_event_whose_stored_byte_changed(actor, offer, capsys):
    _write_events(actor, offer, 4)
    victim = AuditEvent.objects.filter(brand_id=actor.brand_id).order_by("seq")[2]
    # when one stored byte of the third event changes (behind the application's back)
    table = AuditEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET user_agent = %s WHERE id = %s",  # noqa: S608 - fixed table name
            ["pytesT", victim.pk],
        )
    # then verify_audit fails and names exactly that link
    with pytest.raises(CommandError):
        call_command("verify_audit", "--brand", actor.brand_slug)
    out = capsys.readouterr().out
    assert f"BROKEN  {actor.brand_slug}: seq 3 (event id {victim.pk})" in out
    assert "content does not match its hash" in out


def test_verify_reports_a_deleted_event(actor, offer):
    _write_events(actor, offer, 3)
    AuditEvent.objects.filter(brand_id=actor.brand_id, seq=2).delete()
    broken = audit_chain_verify(brand_id=actor.brand_id)
    assert broken is not None
    assert broken.seq == 2
    assert broken.reason == "missing or reordered event"


def test_verify_reports_a_truncated_tail(actor, offer):
    _write_events(actor, offer, 3)
    AuditEvent.objects.filter(brand_id=actor.brand_id, seq=3).delete()
    broken = audit_chain_verify(brand_id=actor.brand_id)
    assert broken is not None
    assert broken.reason == "events after the last one were removed"


def test_audit_row_rolls_back_with_the_write(actor, offer):
    before = AuditEvent.objects.count()

    class RollbackError(Exception):
        pass

    def write_then_fail():
        with transaction.atomic():
            offer_update(actor=actor, offer=offer, name="Never committed")
            raise RollbackError

    with pytest.raises(RollbackError):
        write_then_fail()
    assert AuditEvent.objects.count() == before
    offer.refresh_from_db()
    assert offer.name != "Never committed"
