"""What the partner.applied and partner.approved webhooks carry (docs/webhooks.md)."""

from __future__ import annotations

from typing import Any

from partners.models import Partner

FIELDS = ("name", "email", "website", "status", "applied_at", "approved_at")


def partner_data(partner: Partner, **extra: Any) -> dict[str, Any]:
    return {
        "partner_id": partner.slug,
        **{name: getattr(partner, name) for name in FIELDS},
        **extra,
    }
