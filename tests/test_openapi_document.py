"""The OpenAPI document is generated from the operation declarations without a warning, and
names every routed operation by its operationId."""

from __future__ import annotations

import json

from django.core.management import call_command

from operations.catalog import OPERATIONS, PARTNER_OPERATIONS


def test_the_document_builds_without_warnings_and_validates(tmp_path):
    target = tmp_path / "openapi.json"
    # --fail-on-warn raises on any drf-spectacular warning or error (unresolvable type, name
    # collision, missing path parameter type); --validate checks the document against the spec.
    call_command(
        "spectacular",
        "--fail-on-warn",
        "--validate",
        "--format",
        "openapi-json",
        "--file",
        str(target),
    )
    document = json.loads(target.read_text())
    operation_ids = {
        operation["operationId"]
        for path_item in document["paths"].values()
        for operation in path_item.values()
    }
    # The brand's operations (/api/v1/) and the partner's (/api/partner/v1/) share the document.
    catalog = {**OPERATIONS, **PARTNER_OPERATIONS}
    routed = {name for name, operation in catalog.items() if operation.rest}
    assert routed <= operation_ids
    # The two CSV downloads are the only routes that are not operations.
    assert operation_ids - routed == {"payouts_statement_csv", "partner_payout_statement_csv"}
