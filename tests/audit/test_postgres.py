"""PostgreSQL-only: verify under concurrent writes, and the documented grants of the app role."""

import re
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from audit.services import audit_chain_link, audit_record
from offers.services import offer_update

DATA_MODEL = Path(__file__).resolve().parents[2] / "docs" / "data-model.md"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_verify_while_writes_and_links_flow_never_reports_a_break(actor, offer):
    # given writers committing audited events and a linker chaining them, all the time
    stop = threading.Event()
    errors = []

    def keep_writing(n):
        try:
            i = 0
            while not stop.is_set():
                offer_update(actor=actor, offer=offer, name=f"Writer {n} #{i}")
                i += 1
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    def keep_linking():
        try:
            while not stop.is_set():
                audit_chain_link(actor.brand_id)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=keep_writing, args=(n,)) for n in range(3)]
    threads.append(threading.Thread(target=keep_linking))
    for thread in threads:
        thread.start()
    # when verify runs over and over meanwhile
    results = []
    try:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            results.append(audit_chain_verify(brand_id=actor.brand_id))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    # then it never reports a break on this healthy system
    assert errors == []
    assert [r for r in results if r is not None] == []
    assert len(results) > 20
    events = AuditEvent.objects.filter(brand_id=actor.brand_id)
    assert events.filter(seq__isnull=False).count() > 20
    audit_chain_link(actor.brand_id)
    assert audit_chain_verify(brand_id=actor.brand_id) is None


def documented_grants(role: str) -> list[str]:
    """The GRANT statements of docs/data-model.md's app-role block, for ``role``."""
    text = DATA_MODEL.read_text()
    block = re.search(r"<!-- audit-grants -->\s*```sql\n(.*?)```", text, re.DOTALL)
    assert block, "docs/data-model.md lost its audit grants block"
    statements = [s.strip() for s in block.group(1).split(";") if s.strip()]
    statements = [re.sub(r"--[^\n]*\n", "", s).strip() for s in statements]
    assert all(s.startswith("GRANT ") and s.endswith(" TO trcker_app") for s in statements)
    return [s.replace(" TO trcker_app", f" TO {role}") for s in statements]


@pytest.mark.postgres
def test_a_role_with_exactly_the_documented_grants_writes_and_links_but_cannot_edit(actor):
    role = f"trcker_audit_test_{uuid.uuid4().hex[:10]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")
        for statement in documented_grants(role):
            cursor.execute(statement)
        cursor.execute(f"SET ROLE {role}")
        try:
            # when the app, as that role, writes events and the linker chains them
            with transaction.atomic():
                for n in range(3):
                    audit_record(
                        actor=actor,
                        action="offer.update",
                        target_type="offer",
                        target_id=f"o{n}",
                        changes={"name": ["a", f"b{n}"]},
                    )
            assert audit_chain_link(actor.brand_id) == 3
            assert audit_chain_verify(brand_id=actor.brand_id) is None
            with transaction.atomic():
                audit_record(actor=actor, action="offer.pause", target_type="offer", target_id="o")
            assert audit_chain_link(actor.brand_id) == 1
            # then editing what an event says, or deleting one, is refused by the database
            for statement in (
                "UPDATE audit_auditevent SET changes = '{}'",
                "UPDATE audit_auditevent SET content_hash = ''",
                "UPDATE audit_auditevent SET actor_label = 'someone else'",
                "DELETE FROM audit_auditevent",
                "DELETE FROM audit_auditchainhead",
            ):
                with (
                    pytest.raises(DatabaseError, match="permission denied"),
                    transaction.atomic(),
                ):
                    cursor.execute(statement)
        finally:
            cursor.execute("RESET ROLE")
            cursor.execute(f"DROP OWNED BY {role}")
            cursor.execute(f"DROP ROLE {role}")
    assert list(
        AuditEvent.objects.filter(brand_id=actor.brand_id).order_by("seq").values_list("seq")
    ) == [(1,), (2,), (3,), (4,)]
    assert audit_chain_verify(brand_id=actor.brand_id) is None
