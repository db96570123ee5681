"""The partner programme's settings (docs/partners.md, "Programme settings"): the default
hold before auto-approval, the closed list of payout methods, whether partners see rejection
reasons, and the minimum payout. One read and one write; the write is
``brands.services.brand_program_settings_update``, which the admin's brand page calls too.

The minimum payout used to be an operation of its own (get/set_payout_settings); it is one of
these settings now, so that no two operations change the same field."""

from __future__ import annotations

from audit.actor import Scope
from brands.selectors import brand_get_for_actor
from brands.serializers import ProgramSettingsInput, ProgramSettingsOutput
from brands.services import brand_program_settings_update
from core.serializers import StrictSerializer
from operations.declaration import READ, WRITE_UPDATE, Operation, RestRoute, ToolSpec

TAG = "program"
PATH = "program/settings/"


class NoArguments(StrictSerializer):
    pass


OPERATIONS = [
    Operation(
        name="get_program_settings",
        description="The partner programme's settings: default_hold_days (the auto-approval "
        "hold of offers without their own), payout_methods (the closed list partners choose "
        "from), partner_reasons_visible (whether partners see rejection and reversal reasons) "
        "and min_payout_amount (generate_payouts makes no payout below it).",
        input=NoArguments,
        run=brand_get_for_actor,
        output=ProgramSettingsOutput,
        scope=Scope.READ,
        rest=RestRoute("GET", PATH, "program-settings", TAG),
        tool=ToolSpec("Programme settings", READ),
    ),
    Operation(
        name="update_program_settings",
        description="Change the partner programme's settings; only the fields given change: "
        "default_hold_days (0–365, null: conversions wait for a person), payout_methods (the "
        'whole list, e.g. ["paypal", "wire"]; lowercase names), partner_reasons_visible '
        "(true/false), min_payout_amount (decimal string, 0 or more). Audited with each "
        "field's old and new value; dry_run shows the change without making it.",
        input=ProgramSettingsInput,
        run=brand_program_settings_update,
        output=ProgramSettingsOutput,
        scope=Scope.WRITE,
        rest=RestRoute("PATCH", PATH, "program-settings-update", TAG),
        tool=ToolSpec("Update programme settings", WRITE_UPDATE),
    ),
]
