"""Deployment check: the audit key must be the operator's own, not derived from SECRET_KEY."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def audit_key_configured(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.TRCKER_AUDIT_KEY:
        return []
    # Derived from SECRET_KEY, rotating one silently rotates the other (and the derived key
    # sits wherever SECRET_KEY does); production holds a separate, long-lived audit key.
    return [
        checks.Warning(
            "TRCKER_AUDIT_KEY is not set: the audit chain key is derived from SECRET_KEY.",
            hint="Set TRCKER_AUDIT_KEY to a long random secret (docs/data-model.md, "
            '"Audit keys") before running migrations in production.',
            id="audit.W001",
        )
    ]
