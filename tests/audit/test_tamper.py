"""Tampering with the audit table behind the application's back is detected by verify.

Each test plays someone with database access (plain UPDATE/DELETE/INSERT, no audit key)."""

import hashlib
import hmac
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from audit.chain import GENESIS_HASH, canonical_json, stored_content_payload
from audit.keys import current_key, key_id_of
from audit.models import AuditChainHead, AuditEvent
from audit.selectors import audit_chain_verify
from audit.services import audit_chain_link, audit_record
from offers.services import offer_update
from tests.audit.test_chain import write_events
from tests.conftest import make_actor


def _chain(brand_id):
    return list(AuditEvent.objects.filter(brand_id=brand_id, seq__isnull=False).order_by("seq"))


def test_the_hashes_follow_the_documented_scheme(actor, offer, settings):
    # given a configured key (docs/data-model.md states this exact form)
    settings.TRCKER_AUDIT_KEY = "k" * 40
    write_events(actor, offer, 2)
    first, second = _chain(actor.brand_id)
    key = b"k" * 40
    content = json.dumps(
        stored_content_payload(second), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    expected_content = hmac.new(
        key, b"trcker.audit.content.v1\n" + content.encode(), hashlib.sha256
    ).hexdigest()
    expected_link = hmac.new(
        key,
        f"trcker.audit.link.v1\n{first.hash}\n2\n{expected_content}".encode(),
        hashlib.sha256,
    ).hexdigest()
    assert second.content_hash == expected_content
    assert second.hash == expected_link
    assert second.prev_hash == first.hash
    assert first.prev_hash == GENESIS_HASH
    kid = hashlib.sha256(key).hexdigest()[:16]
    assert (second.content_key_id, second.link_key_id) == (kid, kid)
    assert "seq" not in stored_content_payload(second)


def test_an_edited_unlinked_event_is_reported(actor, offer, capsys):
    # given a write the linker has not reached yet
    offer_update(actor=actor, offer=offer, name="Renamed")
    event = AuditEvent.objects.get(brand_id=actor.brand_id)
    assert event.seq is None
    # when its content is edited before it is linked
    AuditEvent.objects.filter(pk=event.pk).update(changes={"name": ["x", "innocent"]})
    # then verify names it, though it has no seq yet
    broken = audit_chain_verify(brand_id=actor.brand_id)
    assert (broken.seq, broken.event_id, broken.reason) == (
        None,
        event.pk,
        "content does not match its hash",
    )
    with pytest.raises(CommandError):
        call_command("verify_audit", "--brand", actor.brand_slug)
    out = capsys.readouterr().out
    assert f"BROKEN  {actor.brand_slug}: unlinked (event id {event.pk})" in out


def test_linking_an_edited_event_does_not_launder_it(actor, offer):
    offer_update(actor=actor, offer=offer, name="Renamed")
    event = AuditEvent.objects.get(brand_id=actor.brand_id)
    AuditEvent.objects.filter(pk=event.pk).update(actor_label="user:someone-else")
    # when the linker chains it afterwards
    assert audit_chain_link(actor.brand_id) == 1
    # then the link is sound but the content still fails its hash
    broken = audit_chain_verify(brand_id=actor.brand_id)
    assert (broken.seq, broken.reason) == (1, "content does not match its hash")


def test_an_edited_linked_event_is_reported(actor, offer):
    write_events(actor, offer, 4)
    victim = _chain(actor.brand_id)[1]
    AuditEvent.objects.filter(pk=victim.pk).update(ip="198.51.100.1")
    broken = audit_chain_verify(brand_id=actor.brand_id)
    assert (broken.seq, broken.event_id, broken.reason) == (
        2,
        victim.pk,
        "content does not match its hash",
    )


def test_a_rehashed_edit_without_the_key_is_reported(actor, offer):
    # given an edit whose content hash is recomputed as a plain SHA-256 (no key)
    write_events(actor, offer, 3)
    victim = _chain(actor.brand_id)[1]
    victim.changes = {"name": ["a", "b"]}
    forged = hashlib.sha256(canonical_json(stored_content_payload(victim))).hexdigest()
    AuditEvent.objects.filter(pk=victim.pk).update(changes=victim.changes, content_hash=forged)
    broken = audit_chain_verify(brand_id=actor.brand_id)
    assert (broken.seq, broken.reason) == (2, "content does not match its hash")


def test_a_deleted_linked_event_in_the_middle_is_reported(actor, offer):
    write_events(actor, offer, 4)
    victim = _chain(actor.brand_id)[1]
    AuditEvent.objects.filter(pk=victim.pk).delete()
    broken = audit_chain_verify(brand_id=actor.brand_id)
    assert (broken.seq, broken.reason) == (2, "missing or reordered event")


def test_a_linked_event_unlinked_again_is_reported(actor, offer):
    # The role may UPDATE seq (the linker needs it); clearing one is a gap in the chain.
    write_events(actor, offer, 3)
    victim = _chain(actor.brand_id)[1]
    AuditEvent.objects.filter(pk=victim.pk).update(seq=None)
    broken = audit_chain_verify(brand_id=actor.brand_id)
    assert (broken.seq, broken.reason) == (2, "missing or reordered event")


def test_a_forged_unlinked_event_is_reported(actor, offer):
    write_events(actor, offer, 1)
    real = _chain(actor.brand_id)[0]
    forged = AuditEvent.objects.create(
        brand_id=actor.brand_id,
        created_at=real.created_at,
        actor_kind="user",
        actor_label="user:1",
        action="offer.delete",
        target_type="offer",
        target_id="spring-sale",
        channel="admin",
        content_hash=hashlib.sha256(b"anything").hexdigest(),
        content_key_id=real.content_key_id,
    )
    broken = audit_chain_verify(brand_id=actor.brand_id)
    assert (broken.seq, broken.event_id, broken.reason) == (
        None,
        forged.pk,
        "content does not match its hash",
    )


def _recompute_whole_chain(brand_id, *, content, link, key_id):
    """What an attacker does after editing: rehash every row and move the head."""
    prev = GENESIS_HASH
    for event in _chain(brand_id):
        event.content_hash = content(canonical_json(stored_content_payload(event)))
        event.prev_hash = prev
        event.hash = link(f"{prev}\n{event.seq}\n{event.content_hash}".encode())
        event.content_key_id = event.link_key_id = key_id
        prev = event.hash
        event.save()
    AuditChainHead.objects.filter(brand_id=brand_id).update(hash=prev)


def _edit_second_event(brand_id):
    AuditEvent.objects.filter(pk=_chain(brand_id)[1].pk).update(changes={"name": ["Old", "Forged"]})


def test_a_chain_recomputed_with_plain_sha256_is_reported(actor, offer):
    write_events(actor, offer, 3)
    _edit_second_event(actor.brand_id)

    def plain(data):
        return hashlib.sha256(data).hexdigest()

    _recompute_whole_chain(actor.brand_id, content=plain, link=plain, key_id=current_key().key_id)
    broken = audit_chain_verify(brand_id=actor.brand_id)
    assert (broken.seq, broken.reason) == (1, "content does not match its hash")


def test_a_chain_recomputed_with_a_guessed_key_is_reported(actor, offer):
    write_events(actor, offer, 3)
    _edit_second_event(actor.brand_id)

    def wrong(data):
        return hmac.new(b"not the key", data, hashlib.sha256).hexdigest()

    # claiming the real key's id, which is public in every row
    _recompute_whole_chain(actor.brand_id, content=wrong, link=wrong, key_id=current_key().key_id)
    broken = audit_chain_verify(brand_id=actor.brand_id)
    assert (broken.seq, broken.reason) == (1, "content does not match its hash")


def test_links_recomputed_without_the_key_are_reported(actor, offer):
    # given the content hashes left alone and only the links redone (say, to drop a row)
    write_events(actor, offer, 3)
    AuditEvent.objects.filter(pk=_chain(actor.brand_id)[1].pk).delete()
    prev = GENESIS_HASH
    for seq, event in enumerate(_chain(actor.brand_id), start=1):
        event.seq, event.prev_hash = seq, prev
        event.hash = hashlib.sha256(f"{prev}\n{seq}\n{event.content_hash}".encode()).hexdigest()
        prev = event.hash
        event.save()
    AuditChainHead.objects.filter(brand_id=actor.brand_id).update(seq=2, hash=prev)
    broken = audit_chain_verify(brand_id=actor.brand_id)
    assert (broken.seq, broken.reason) == (1, "link does not match its hash")


def test_an_unknown_key_id_is_reported(actor, offer):
    write_events(actor, offer, 2)
    AuditEvent.objects.filter(pk=_chain(actor.brand_id)[1].pk).update(link_key_id="0" * 16)
    broken = audit_chain_verify(brand_id=actor.brand_id)
    assert (broken.seq, broken.reason) == (2, f"unknown key id {'0' * 16!r}")


def test_a_removed_head_is_reported(actor, offer):
    write_events(actor, offer, 2)
    AuditChainHead.objects.filter(brand_id=actor.brand_id).delete()
    broken = audit_chain_verify(brand_id=actor.brand_id)
    assert broken.reason == "chain head is missing"


def test_rotation_old_rows_verify_while_the_old_key_is_listed(actor, offer, settings):
    # given two events made under the old key, and one written under it but linked later
    settings.TRCKER_AUDIT_KEY = "old-" + "o" * 40
    settings.TRCKER_AUDIT_PREVIOUS_KEYS = []
    write_events(actor, offer, 2)
    offer_update(actor=actor, offer=offer, name="Written before the rotation")
    # when the key is rotated: new key current, old key listed as previous
    settings.TRCKER_AUDIT_KEY = "new-" + "n" * 40
    settings.TRCKER_AUDIT_PREVIOUS_KEYS = ["old-" + "o" * 40]
    write_events(actor, offer, 2)
    # then new rows use the new key, old rows keep theirs, and the whole chain verifies
    old_id, new_id = key_id_of(("old-" + "o" * 40).encode()), current_key().key_id
    rows = [(e.content_key_id, e.link_key_id) for e in _chain(actor.brand_id)]
    assert rows == [(old_id, old_id)] * 2 + [(old_id, new_id)] + [(new_id, new_id)] * 2
    assert audit_chain_verify(brand_id=actor.brand_id) is None
    # and once the old key is dropped from the list, its rows are reported, not trusted
    settings.TRCKER_AUDIT_PREVIOUS_KEYS = []
    broken = audit_chain_verify(brand_id=actor.brand_id)
    assert (broken.seq, broken.reason) == (1, f"unknown key id {old_id!r}")


def test_an_unlinked_event_under_an_unlisted_key_is_reported(actor, offer, settings):
    settings.TRCKER_AUDIT_KEY = "old-" + "o" * 40
    offer_update(actor=actor, offer=offer, name="Renamed")
    settings.TRCKER_AUDIT_KEY = "new-" + "n" * 40
    broken = audit_chain_verify(brand_id=actor.brand_id)
    assert broken.seq is None
    assert broken.reason.startswith("unknown key id")


def test_without_a_configured_key_one_is_derived_from_secret_key(settings):
    settings.TRCKER_AUDIT_KEY = ""
    settings.SECRET_KEY = "s3cret"
    derived = hmac.new(b"s3cret", b"trcker.audit", hashlib.sha256).hexdigest()
    assert current_key().secret == derived.encode()
    settings.SECRET_KEY = "another"
    assert current_key().secret != derived.encode()


@pytest.mark.parametrize(
    "ip",
    ["2001:0DB8:0000:0000:0000:0000:0000:0001", "::ffff:192.0.2.1", "192.0.2.7", None],
)
def test_content_hashes_survive_the_database_round_trip(brand, ip):
    # IPv6 is stored compressed, JSON comes back with keys reordered (jsonb), decimals as text
    from dataclasses import replace

    from django.db import transaction

    actor = replace(make_actor(brand), ip=ip, user_agent="Mozilla/5.0 \u00e9\u4e2d")
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="offer.update",
            target_type="offer",
            target_id="x",
            changes={"z": [1, 2.5], "a": [Decimal("1.10"), None], "nested": {"b": 1, "a": [{}]}},
        )
    assert audit_chain_verify(brand_id=brand.pk) is None
    audit_chain_link(brand.pk)
    assert audit_chain_verify(brand_id=brand.pk) is None


def test_deploy_check_warns_while_the_audit_key_is_derived(settings):
    from audit.checks import audit_key_configured

    settings.TRCKER_AUDIT_KEY = ""
    assert [w.id for w in audit_key_configured(None)] == ["audit.W001"]
    settings.TRCKER_AUDIT_KEY = "operator-key"
    assert audit_key_configured(None) == []
