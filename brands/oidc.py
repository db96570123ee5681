"""Staff single sign-on through the operator's OpenID Connect provider (mozilla-django-oidc).

Who someone is comes from the IdP's ``sub``; which brands they work for comes from its
organization claim, matched against ``Brand.external_org_id``; their role from a role claim.
Membership changes go through ``staff_membership_set`` like every other write, so each one is
audited (``system:oidc`` on channel admin).

Settings: ``TRCKER_OIDC_ORG_CLAIM`` (default ``org``), ``TRCKER_OIDC_ROLE_CLAIM`` (default
``trcker_role``), ``TRCKER_OIDC_DEFAULT_ROLE`` (default ``analyst``), plus the library's own
``OIDC_*`` settings.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User  # settings.AUTH_USER_MODEL
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.db import transaction
from django.db.models import Field, QuerySet
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from audit.actor import Actor
from brands.models import Brand, StaffMembership, StaffRole
from brands.services import staff_membership_set
from core.errors import ConflictError

logger = logging.getLogger(__name__)

# The prefix keeps SSO accounts apart from local ones: Django's username validator refuses
# ":", so no account created through the admin or createsuperuser can be taken over by an
# IdP user whose sub happens to equal its name.
USERNAME_PREFIX = "oidc:"


def _setting(name: str, default: str) -> str:
    return getattr(settings, name, "") or default


def org_values(claims: dict[str, Any]) -> list[str]:
    """The organization claim as a list: IdPs send a string or a list of strings."""
    raw = claims.get(_setting("TRCKER_OIDC_ORG_CLAIM", "org"))
    values = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    return [value for value in values if isinstance(value, str) and value]


def brands_for_claims(claims: dict[str, Any]) -> list[Brand]:
    orgs = org_values(claims)
    if not orgs:
        return []
    return list(Brand.objects.filter(external_org_id__in=orgs).order_by("pk"))


def default_role() -> str:
    role = _setting("TRCKER_OIDC_DEFAULT_ROLE", StaffRole.ANALYST)
    if role not in StaffRole.values:
        raise ImproperlyConfigured(
            f"TRCKER_OIDC_DEFAULT_ROLE must be one of {', '.join(StaffRole.values)}."
        )
    return role


def claimed_role(claims: dict[str, Any]) -> str | None:
    """The role the IdP asserts, or None when it asserts none we know."""
    name = _setting("TRCKER_OIDC_ROLE_CLAIM", "trcker_role")
    raw = claims.get(name)
    if isinstance(raw, list) and len(raw) == 1:
        raw = raw[0]
    if raw is None:
        return None
    if isinstance(raw, str) and raw in StaffRole.values:
        return raw
    logger.warning("OIDC role claim %r has an unknown value; ignoring it", name)
    return None


class BrandOIDCBackend(OIDCAuthenticationBackend):  # type: ignore[misc]  # the library ships no hints
    UserModel: type[User]  # set by the library's __init__ (get_user_model())

    def get_username(self, claims: dict[str, Any]) -> str:
        return f"{USERNAME_PREFIX}{claims['sub']}"

    def get_userinfo(self, access_token: str, id_token: str, payload: Any) -> dict[str, Any]:
        userinfo: dict[str, Any] = super().get_userinfo(access_token, id_token, payload)
        if not payload:
            return userinfo
        # OIDC Core §5.3.2: a userinfo answer for another subject must not be used (token
        # substitution). Claims only in the verified id_token (some IdPs put custom claims
        # such as the organization there and not in userinfo) fill the gaps.
        if userinfo.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("The userinfo subject differs from the id_token subject.")
        return {**payload, **userinfo}

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            logger.warning("OIDC login refused: no sub claim")
            return False
        username_field = self.UserModel._meta.get_field(self.UserModel.USERNAME_FIELD)
        max_length = username_field.max_length if isinstance(username_field, Field) else None
        if max_length is not None and len(USERNAME_PREFIX + sub) > max_length:
            logger.warning("OIDC login refused: sub is too long for a username")
            return False
        if not brands_for_claims(claims):
            # sub is an opaque IdP identifier, safe in logs; it is what the operator needs
            # to find the account at the IdP.
            logger.warning(
                "OIDC login refused for sub %r: organization claim %r matches no brand",
                sub,
                _setting("TRCKER_OIDC_ORG_CLAIM", "org"),
            )
            return False
        return True

    def filter_users_by_claims(self, claims: dict[str, Any]) -> QuerySet[User]:
        # Never by email: an IdP may let users set any address, and a matching email would
        # hand over an existing account.
        sub = claims.get("sub")
        if not sub:
            return self.UserModel.objects.none()
        return self.UserModel.objects.filter(
            **{self.UserModel.USERNAME_FIELD: self.get_username(claims)}
        )

    def create_user(self, claims: dict[str, Any]) -> User:
        with transaction.atomic():
            user = self.UserModel.objects.create_user(
                self.get_username(claims), email=self._email(claims), is_staff=True
            )
            self._sync_memberships(user, claims)
        return user

    def update_user(self, user: User, claims: dict[str, Any]) -> User:
        if not user.is_active:
            # The callback refuses inactive users; a deactivated account gets no new roles.
            return user
        email = self._email(claims)
        if email and user.email != email:
            user.email = email
            user.save(update_fields=["email"])
        self._sync_memberships(user, claims)
        return user

    @staticmethod
    def _email(claims: dict[str, Any]) -> str:
        email = claims.get("email")
        return email if isinstance(email, str) else ""

    def _actor(self, brand: Brand, user: User) -> Actor:
        return Actor.for_sso(
            user,
            brand_id=brand.pk,
            brand_slug=brand.slug,
            request=getattr(self, "request", None),
        )

    def _sync_memberships(self, user: User, claims: dict[str, Any]) -> None:
        """Grant or change the user's role in every brand the IdP lists.

        A role claim is authoritative and applied on every login. Without one, the default
        role is given to new memberships only, so a role an owner set in the admin is not
        reset at the next login. Memberships of brands the IdP no longer lists are left
        alone: the IdP is the source of who may log in, not of who must be removed, and
        removal (with its last-owner rule) stays an owner's audited decision in the admin.
        """
        role = claimed_role(claims)
        fallback = default_role()
        current = dict(StaffMembership.objects.filter(user=user).values_list("brand_id", "role"))
        for brand in brands_for_claims(claims):
            wanted = role or (fallback if brand.pk not in current else None)
            if wanted is None or current.get(brand.pk) == wanted:
                continue
            try:
                staff_membership_set(actor=self._actor(brand, user), user=user, role=wanted)
            except ConflictError as exc:
                # The IdP demoting a brand's last owner would lock everyone out of its staff
                # settings; keep the role and let the login proceed.
                logger.warning(
                    "OIDC role for %s in brand %s not applied: %s",
                    user.get_username(),
                    brand.slug,
                    exc.message,
                )
