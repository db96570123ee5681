import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from audit.models import AuditChainHead, AuditEvent
from audit.selectors import audit_chain_verify
from audit.services import audit_chain_link, audit_chain_link_all, audit_record
from offers.services import offer_pause, offer_resume, offer_update
from tests.conftest import make_actor


def write_events(actor, offer, n=4):
    for i in range(n):
        offer_update(actor=actor, offer=offer, name=f"Name {i}")
    audit_chain_link(actor.brand_id)


@pytest.mark.django_db(transaction=True)
def test_audit_record_refuses_to_run_outside_a_transaction(actor, offer):
    # given autocommit mode (no atomic block; a transactional test does not wrap one)
    # when/then: an audit row outside the write's transaction could survive a rolled-back write
    with pytest.raises(RuntimeError, match="inside the audited write"):
        audit_record(actor=actor, action="offer.update", target=offer)


def test_chain_links_each_event_to_the_previous_one(actor, offer):
    write_events(actor, offer, 3)
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
    assert audit_chain_link_all() == 3
    assert list(AuditEvent.objects.filter(brand=other_brand).values_list("seq", flat=True)) == [1]
    assert sorted(
        AuditEvent.objects.filter(brand_id=actor.brand_id).values_list("seq", flat=True)
    ) == [1, 2]


def test_verify_audit_passes_on_an_untouched_chain(actor, offer, capsys):
    write_events(actor, offer)
    call_command("verify_audit")
    assert f"ok      {actor.brand_slug}" in capsys.readouterr().out


def test_verify_audit_reports_the_event_whose_stored_byte_changed(actor, offer, capsys):
    write_events(actor, offer, 4)
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
    write_events(actor, offer, 3)
    AuditEvent.objects.filter(brand_id=actor.brand_id, seq=2).delete()
    broken = audit_chain_verify(brand_id=actor.brand_id)
    assert broken is not None
    assert broken.seq == 2
    assert broken.reason == "missing or reordered event"


def test_verify_reports_a_truncated_tail(actor, offer):
    write_events(actor, offer, 3)
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


def test_events_are_written_unlinked_and_linked_once_in_write_order(actor, offer):
    # given two writes: their rows exist at once, outside the chain until linked
    offer_pause(actor=actor, offer=offer)
    offer_resume(actor=actor, offer=offer)
    pending = list(AuditEvent.objects.filter(brand_id=actor.brand_id).order_by("id"))
    assert [(e.seq, e.hash) for e in pending] == [(None, ""), (None, "")]
    # when the linker runs twice, with a third write between the runs
    assert audit_chain_link(actor.brand_id) == 2
    offer_pause(actor=actor, offer=offer)
    assert audit_chain_link(actor.brand_id) == 1
    assert audit_chain_link(actor.brand_id) == 0
    # then the chain holds each row once, in the order written
    linked = list(AuditEvent.objects.filter(brand_id=actor.brand_id).order_by("seq"))
    assert [(e.seq, e.action) for e in linked] == [
        (1, "offer.pause"),
        (2, "offer.resume"),
        (3, "offer.pause"),
    ]
    assert linked[2].prev_hash == linked[1].hash
    assert audit_chain_verify(brand_id=actor.brand_id) is None


def test_readers_of_the_log_never_link(actor, offer):
    from audit.selectors import audit_event_get_for_actor, audit_event_list

    # given a write the linker has not reached yet
    offer_pause(actor=actor, offer=offer)
    # when every reader reads it (list, detail, the operator's verify)
    events = list(audit_event_list(actor=actor))
    assert [(e.seq, e.action) for e in events] == [(None, "offer.pause")]
    assert audit_event_get_for_actor(actor=actor, event_id=events[0].pk).seq is None
    assert audit_chain_verify(brand_id=actor.brand_id) is None
    # then it is still unlinked: readers show what is there, they never write
    stored = AuditEvent.objects.get(pk=events[0].pk)
    assert (stored.seq, stored.prev_hash, stored.hash, stored.link_key_id) == (None, "", "", "")
    assert not AuditChainHead.objects.filter(brand_id=actor.brand_id).exists()


def test_the_rest_list_shows_an_unlinked_event_with_seq_null(actor, offer, api):
    offer_pause(actor=actor, offer=offer)
    body = api.get("/api/v1/audit-events/?action=offer.pause").json()
    assert [(e["seq"], e["hash"]) for e in body["results"]] == [(None, "")]
    assert not AuditEvent.objects.filter(seq__isnull=False).exists()


def test_the_postback_worker_links_pending_events(actor, offer):
    offer_pause(actor=actor, offer=offer)
    call_command("deliver_postbacks", "--once", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert AuditEvent.objects.get(brand_id=actor.brand_id).seq == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_of_one_brand_form_one_unbroken_chain(actor, offer):
    # given 4 threads each making 10 audited writes to the same brand, with linkers running
    # concurrently with the writers (as the worker and readers do)
    def write(n):
        try:
            for i in range(10):
                offer_update(actor=actor, offer=offer, name=f"Thread {n} write {i}")
                if i % 3 == 0:
                    audit_chain_link(actor.brand_id)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, range(4)))
    audit_chain_link(actor.brand_id)
    # then all 40 are linked with seq 1..40 and the chain verifies
    seqs = sorted(AuditEvent.objects.filter(brand_id=actor.brand_id).values_list("seq", flat=True))
    assert seqs == list(range(1, 41))
    assert audit_chain_verify(brand_id=actor.brand_id) is None
