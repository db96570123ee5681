"""core.locking: rows locked in primary-key order whatever order the caller asks for, and a
missing or foreign row as NotFoundError. The deadlock tests need PostgreSQL's row locks."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import OperationalError, connection, transaction

from core.errors import NotFoundError
from core.locking import lock_in_pk_order, lock_one
from partners.models import Partner
from tests.factories import BrandFactory, PartnerFactory
from tests.pg_locks import sessions_waiting_on_locks

ROWS = 5


def _race(lock_ascending, lock_descending):
    """Two transactions lock the same rows, one asking for ascending and one for descending
    order, while a third holds the middle row. Both get as far as the held row and wait; then
    it is released. Locking in the order asked, each now holds a row the other needs."""
    brand = BrandFactory()
    pks = [PartnerFactory(brand=brand, slug=f"p{i}").pk for i in range(ROWS)]
    rows = Partner.objects.filter(pk__in=pks)
    middle = sorted(pks)[ROWS // 2]
    locked_by = {}

    def run(name, lock):
        try:
            with transaction.atomic():
                locked_by[name] = [row.pk for row in lock(rows)]
            return "ok"
        except OperationalError as exc:
            return "deadlock" if "deadlock" in str(exc) else repr(exc)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool, transaction.atomic():
        Partner.objects.select_for_update().get(pk=middle)  # the gate
        futures = [
            pool.submit(run, "ascending", lock_ascending),
            pool.submit(run, "descending", lock_descending),
        ]
        deadline = time.monotonic() + 10
        while sessions_waiting_on_locks() < 2:
            assert time.monotonic() < deadline, "the two lockers never both waited"
            assert not any(f.done() for f in futures), [f.result() for f in futures if f.done()]
            time.sleep(0.01)
    # The gate's transaction has committed: the two go on.
    return sorted(f.result() for f in futures), locked_by, sorted(pks)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_locking_in_the_order_asked_deadlocks():
    """The control: without the helper, the setup below really does deadlock."""
    outcomes, _, _ = _race(
        lambda rows: list(rows.select_for_update().order_by("pk")),
        lambda rows: list(rows.select_for_update().order_by("-pk")),
    )
    assert outcomes == ["deadlock", "ok"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_lock_in_pk_order_never_deadlocks_whatever_order_is_asked():
    outcomes, locked_by, pks = _race(
        lambda rows: lock_in_pk_order(rows.order_by("pk")),
        lambda rows: lock_in_pk_order(rows.order_by("-pk")),
    )
    assert outcomes == ["ok", "ok"]
    # Both got every row, in primary-key order: the later one waited for the earlier one.
    assert locked_by == {"ascending": pks, "descending": pks}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_row_changed_while_waiting_for_the_lock_is_read_as_changed():
    """Re-check after the lock: what lock_one returns is the row as the holder left it."""
    partner = PartnerFactory(name="Before")
    holding, release = threading.Event(), threading.Event()

    def holder():
        try:
            with transaction.atomic():
                Partner.objects.select_for_update().get(pk=partner.pk)
                holding.set()
                release.wait(10)
                Partner.objects.filter(pk=partner.pk).update(name="After")
        finally:
            connection.close()

    def release_once_blocked():
        # Let the holder write only once lock_one is waiting for its row (or after 3 s, if
        # lock_one never waits: then it read the row without locking it).
        try:
            deadline = time.monotonic() + 3
            while sessions_waiting_on_locks() < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            release.set()
            connection.close()

    threads = [threading.Thread(target=holder), threading.Thread(target=release_once_blocked)]
    threads[0].start()
    try:
        assert holding.wait(10)
        threads[1].start()
        with transaction.atomic():
            locked = lock_one(Partner.objects.filter(pk=partner.pk), not_found=("partner", "x"))
    finally:
        release.set()
        for thread in threads:
            if thread.is_alive() or thread.ident:
                thread.join()
    assert partner.name == "Before"
    assert locked.name == "After"


@pytest.mark.django_db
def test_lock_one_says_not_found_for_a_missing_or_foreign_row():
    brand, other = BrandFactory(), BrandFactory()
    theirs = PartnerFactory(brand=other, slug="theirs")

    for queryset in (
        Partner.objects.filter(pk=theirs.pk, brand=brand),
        Partner.objects.filter(pk=theirs.pk + 1000),
    ):
        with transaction.atomic(), pytest.raises(NotFoundError) as error:
            lock_one(queryset, not_found=("partner", "theirs"))
        assert error.value.message == "No partner with id theirs in this brand."

    with transaction.atomic():
        assert (
            lock_one(
                Partner.objects.filter(pk=theirs.pk, brand=other), not_found=("partner", "theirs")
            )
            == theirs
        )


@pytest.mark.django_db
def test_lock_in_pk_order_returns_the_rows_in_primary_key_order():
    brand = BrandFactory()
    pks = sorted(PartnerFactory(brand=brand).pk for _ in range(3))
    with transaction.atomic():
        assert [p.pk for p in lock_in_pk_order(Partner.objects.order_by("-pk"))] == pks
        assert lock_in_pk_order(Partner.objects.values_list("pk", flat=True)) == pks
