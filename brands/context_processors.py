"""Template context for the admin login page."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def sso(request: HttpRequest) -> dict[str, bool]:
    """Whether to offer "Sign in with single sign-on" (the OIDC URLs exist only when it is on)."""
    return {"trcker_sso_enabled": bool(getattr(settings, "TRCKER_OIDC_ENABLED", False))}
