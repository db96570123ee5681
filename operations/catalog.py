"""Every operation, in the order tools are listed: reads first, then writes."""

from __future__ import annotations

from operations import audit, conversions, offers, partners, reports
from operations.declaration import Operation, by_name

_ALL = [
    *reports.OPERATIONS,
    *offers.OPERATIONS,
    *partners.OPERATIONS,
    *conversions.OPERATIONS,
    *audit.OPERATIONS,
]
OPERATIONS: dict[str, Operation] = by_name(
    sorted(_ALL, key=lambda operation: operation.scope != "read")
)
