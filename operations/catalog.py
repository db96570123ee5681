"""Every operation, in the order tools are listed: reads first, then writes.

``OPERATIONS`` are the brand's (/api/v1/, the MCP tools of a brand credential);
``PARTNER_OPERATIONS`` a partner's (/api/partner/v1/, the MCP tools of a ``trkp_`` key). The
two never mix in an interface; their names are unique across both, so a tool name says which
audience it belongs to and the OpenAPI operationIds never collide."""

from __future__ import annotations

from operations import (
    audit,
    conversions,
    fx,
    integrations,
    ledger,
    offers,
    partner_api,
    partner_sign_in,
    partners,
    program,
    reports,
    webhooks,
)
from operations.declaration import Operation, by_name

_ALL = [
    *reports.OPERATIONS,
    *offers.OPERATIONS,
    *partners.OPERATIONS,
    *conversions.OPERATIONS,
    *fx.OPERATIONS,
    *ledger.OPERATIONS,
    *program.OPERATIONS,
    *webhooks.OPERATIONS,
    *audit.OPERATIONS,
    *integrations.OPERATIONS,
    *partner_sign_in.OPERATIONS,
]


def _reads_first(operations: list[Operation]) -> list[Operation]:
    return sorted(operations, key=lambda operation: operation.scope != "read")


OPERATIONS: dict[str, Operation] = by_name(_reads_first(_ALL))
PARTNER_OPERATIONS: dict[str, Operation] = by_name(_reads_first(partner_api.OPERATIONS))
by_name([*OPERATIONS.values(), *PARTNER_OPERATIONS.values()])  # names unique across both
if any(operation.audience != "brand" for operation in OPERATIONS.values()) or any(
    operation.audience != "partner" for operation in PARTNER_OPERATIONS.values()
):
    raise ValueError("an operation is in the catalog of the other audience")
