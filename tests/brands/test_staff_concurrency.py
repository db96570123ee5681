"""Two owners demoting themselves at the same moment: one succeeds, the other is told it is the
last owner; never both (a brand with no owner) and never a deadlock. Needs PostgreSQL."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import OperationalError, connection, transaction

from brands.models import StaffMembership, StaffRole
from brands.services import staff_membership_set
from core.errors import ConflictError
from tests.conftest import make_actor
from tests.factories import BrandFactory, StaffMembershipFactory
from tests.pg_locks import sessions_waiting_on_locks


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_owners_stepping_down_at_once_leave_one_owner():
    brand = BrandFactory()
    first = StaffMembershipFactory(brand=brand, role=StaffRole.OWNER)
    second = StaffMembershipFactory(brand=brand, role=StaffRole.OWNER)
    actor = make_actor(brand)

    def step_down(membership):
        try:
            staff_membership_set(actor=actor, user=membership.user, role=StaffRole.ADMIN)
            return "ok"
        except ConflictError as exc:
            return exc.code
        except OperationalError as exc:
            return "deadlock" if "deadlock" in str(exc) else repr(exc)
        finally:
            connection.close()

    # The gate holds both memberships, so both callers start before either can finish: each
    # would take its own row and then want the other's, unless something orders them.
    with ThreadPoolExecutor(max_workers=2) as pool, transaction.atomic():
        list(StaffMembership.objects.select_for_update().filter(brand=brand).order_by("pk"))
        futures = [pool.submit(step_down, first), pool.submit(step_down, second)]
        deadline = time.monotonic() + 10
        while sessions_waiting_on_locks() < 2:
            assert time.monotonic() < deadline, "the two callers never both waited"
            assert not any(f.done() for f in futures), [f.result() for f in futures if f.done()]
            time.sleep(0.01)
    outcomes = sorted(f.result() for f in futures)
    assert outcomes == ["last_owner", "ok"]
    assert StaffMembership.objects.filter(brand=brand, role=StaffRole.OWNER).count() == 1
