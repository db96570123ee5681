"""Row locks for write services: lock first, then decide from what the lock returned.

Every state change in the domain follows one shape (Saleor's ``lock_objects``, Zulip's
``select_for_update`` before a transition):

1. lock the rows the change depends on (``SELECT … FOR UPDATE`` inside the service's
   transaction);
2. re-check their state *from the locked rows* — the instance the caller passed in was read
   before the lock and may be stale (another request approved, paused or paid it meanwhile);
3. write, audit, commit (which releases the locks).

Two rules make that safe:

- **Several rows are locked in primary-key order.** Two transactions that lock overlapping
  sets in different orders can each hold a row the other waits for: PostgreSQL breaks the
  deadlock by failing one of them. Locking in one global order (the primary key) means the
  later transaction simply waits for the earlier one.
- **A row that is gone, or belongs to another brand, is a ``NotFoundError``** with the same
  message either way (no telling tenants apart), never a ``DoesNotExist`` 500.

On SQLite ``FOR UPDATE`` is ignored (Django leaves it out); a write transaction there holds
the whole database, which serialises the same services.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Model, QuerySet

from core.errors import NotFoundError

_M = TypeVar("_M", bound=Model)
_Row = TypeVar("_Row")


def lock_in_pk_order(queryset: QuerySet[Any, _Row], *, of: Sequence[str] = ()) -> list[_Row]:
    """Lock every row of ``queryset`` in primary-key order and return them (instances, or
    whatever a ``values_list`` queryset yields). ``of`` limits the lock to the named tables,
    e.g. ``("self",)`` when the queryset joins rows that must stay unlocked."""
    return list(queryset.select_for_update(of=tuple(of)).order_by("pk"))


def lock_one(
    queryset: QuerySet[_M], *, not_found: tuple[str, object], of: Sequence[str] = ()
) -> _M:
    """Lock the one row ``queryset`` selects (filter it by primary key and brand) and return
    it freshly read, or raise ``NotFoundError(*not_found)``, e.g. ``("offer", offer.slug)``.
    Callers re-check the state on the returned row, never on the instance they were given."""
    try:
        return queryset.select_for_update(of=tuple(of)).get()
    except ObjectDoesNotExist:  # the base of every model's DoesNotExist
        raise NotFoundError(*not_found) from None
