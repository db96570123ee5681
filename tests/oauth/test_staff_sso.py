"""Staff single sign-on: a real browser-style login (authorization code + PKCE) against a real
OpenID Connect provider, through mozilla-django-oidc and BrandOIDCBackend, on a live server."""

from __future__ import annotations

import copy
import html
import re

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.test import Client

from audit.models import AuditEvent
from brands.models import StaffMembership, StaffRole
from brands.oidc import BrandOIDCBackend
from tests.factories import BrandFactory, StaffMembershipFactory, UserFactory

User = get_user_model()

BACKENDS = ["brands.oidc.BrandOIDCBackend", "django.contrib.auth.backends.ModelBackend"]
SSO_LINK = re.compile(r'<a class="button" href="(?P<href>[^"]+)">Sign in with single sign-on</a>')


def enable_sso_context(settings) -> None:
    templates = copy.deepcopy(settings.TEMPLATES)
    processors = templates[0]["OPTIONS"]["context_processors"]
    if "brands.context_processors.sso" not in processors:
        processors.append("brands.context_processors.sso")
    settings.TEMPLATES = templates


@pytest.fixture
def sso(settings, oidc_op):
    for name, value in oidc_op.mozilla_settings().items():
        setattr(settings, name, value)
    settings.AUTHENTICATION_BACKENDS = BACKENDS
    settings.LOGIN_REDIRECT_URL = "/admin/"
    settings.LOGIN_REDIRECT_URL_FAILURE = "/admin/login/"
    settings.TRCKER_OIDC_ENABLED = True
    settings.TRCKER_OIDC_ORG_CLAIM = "org"
    settings.TRCKER_OIDC_ROLE_CLAIM = "trcker_role"
    settings.TRCKER_OIDC_DEFAULT_ROLE = StaffRole.ANALYST
    enable_sso_context(settings)
    return oidc_op


def browser_login(live_server, op, login: str) -> tuple[requests.Session, requests.Response]:
    """Open the admin login page, click single sign-on, sign in at the OP as ``login``."""
    browser = requests.Session()
    page = browser.get(f"{live_server.url}/admin/login/?next=/admin/", timeout=10)
    link = SSO_LINK.search(page.text)
    assert link, "the admin login page offers no single sign-on link"
    at_op = browser.get(f"{live_server.url}{html.unescape(link['href'])}", timeout=10)
    assert at_op.url.startswith(op.issuer), at_op.url
    assert "code_challenge=" in at_op.history[0].headers["Location"]  # PKCE
    return browser, op.sign_in(browser, at_op, login)


def staff_roles(user) -> dict[str, str]:
    return {m.brand.slug: m.role for m in StaffMembership.objects.filter(user=user)}


@pytest.mark.urls("tests.oauth.urls")
@pytest.mark.django_db(transaction=True)
def test_sso_login_creates_staff_user_with_the_mapped_brand_role(live_server, sso):
    acme = BrandFactory(slug="acme", name="Acme Corp", external_org_id="acme-org")
    BrandFactory(slug="globex", name="Globex Inc", external_org_id="globex-org")
    BrandFactory(slug="initech", name="Initech LLC")

    browser, landed = browser_login(live_server, sso, "alice")

    assert landed.status_code == 200
    assert landed.url == f"{live_server.url}/admin/"
    brands_page = browser.get(f"{live_server.url}/admin/brands/brand/", timeout=10)
    assert brands_page.status_code == 200
    assert "Acme Corp" in brands_page.text
    assert "Globex Inc" not in brands_page.text
    assert "Initech LLC" not in brands_page.text

    user = User.objects.get(username="oidc:alice")
    assert user.is_staff
    assert not user.is_superuser
    assert user.email == "alice@acme.test"
    assert not user.has_usable_password()
    assert staff_roles(user) == {"acme": StaffRole.ADMIN}

    event = AuditEvent.objects.get(action="staff.set_role")
    assert event.actor_label == "system:oidc"
    assert event.brand_id == acme.pk
    assert event.channel == "admin"
    assert event.changes == {"user": [None, user.pk], "role": [None, StaffRole.ADMIN]}
    assert event.ip == "127.0.0.1"

    # Logging in again changes nothing, so it writes nothing.
    browser_login(live_server, sso, "alice")
    assert User.objects.filter(username__startswith="oidc:").count() == 1
    assert AuditEvent.objects.filter(action="staff.set_role").count() == 1


@pytest.mark.urls("tests.oauth.urls")
@pytest.mark.django_db(transaction=True)
def test_sso_login_is_refused_when_no_brand_has_the_users_org(live_server, sso):
    BrandFactory(slug="acme", external_org_id="acme-org")

    browser, landed = browser_login(live_server, sso, "carol")  # org "initech-org"

    assert landed.url.startswith(f"{live_server.url}/admin/login/")
    assert not User.objects.filter(username="oidc:carol").exists()
    assert not AuditEvent.objects.filter(action="staff.set_role").exists()
    admin = browser.get(f"{live_server.url}/admin/", timeout=10)
    assert admin.url.startswith(f"{live_server.url}/admin/login/")  # not logged in


@pytest.mark.urls("tests.oauth.urls")
@pytest.mark.django_db(transaction=True)
def test_sso_without_role_claim_defaults_new_memberships_and_keeps_existing_ones(live_server, sso):
    acme = BrandFactory(slug="acme", external_org_id="acme-org")
    BrandFactory(slug="globex", external_org_id="globex-org")
    other = BrandFactory(slug="initech")
    # dave logged in before, and owners have since made him owner of acme and added him to a
    # brand the IdP does not list.
    dave = UserFactory(username="oidc:dave", email="old@example.test")
    StaffMembershipFactory(user=dave, brand=acme, role=StaffRole.OWNER)
    StaffMembershipFactory(user=dave, brand=other, role=StaffRole.ANALYST)

    _, landed = browser_login(live_server, sso, "dave")  # org ["acme-org", "globex-org"]

    assert landed.url == f"{live_server.url}/admin/"
    dave.refresh_from_db()
    assert dave.email == "dave@example.test"
    assert staff_roles(dave) == {
        "acme": StaffRole.OWNER,  # no role claim: an admin-set role is not reset
        "globex": StaffRole.ANALYST,  # new membership: the default role
        "initech": StaffRole.ANALYST,  # not listed by the IdP: left alone
    }
    events = AuditEvent.objects.filter(action="staff.set_role")
    assert [(e.brand.slug, e.actor_label) for e in events] == [("globex", "system:oidc")]


@pytest.mark.urls("tests.oauth.urls")
@pytest.mark.django_db
def test_password_login_still_works_with_sso_enabled(sso):
    brand = BrandFactory(slug="acme", name="Acme Corp")
    user = StaffMembershipFactory(brand=brand, user=UserFactory(username="pat")).user

    client = Client()
    page = client.get("/admin/login/")
    assert b"Sign in with single sign-on" in page.content
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": user.username, "password": "pw-for-tests-only", "next": "/admin/"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/admin/"


# --- the login page without a live server -------------------------------------------------------


@pytest.mark.urls("tests.oauth.urls")
@pytest.mark.django_db
def test_login_page_offers_sso_only_when_enabled(client, settings):
    enable_sso_context(settings)

    settings.TRCKER_OIDC_ENABLED = False
    page = client.get("/admin/login/?next=/admin/offers/")
    assert b"single sign-on" not in page.content
    assert b'id="login-form"' in page.content

    settings.TRCKER_OIDC_ENABLED = True
    page = client.get("/admin/login/?next=/admin/offers/")
    link = SSO_LINK.search(page.content.decode())
    assert link
    assert html.unescape(link["href"]) == "/oidc/authenticate/?next=/admin/offers/"
    assert b'id="login-form"' in page.content


# --- backend rules that need no provider --------------------------------------------------------


@pytest.fixture
def backend(settings):
    settings.OIDC_OP_TOKEN_ENDPOINT = "https://idp.test/token"
    settings.OIDC_OP_USER_ENDPOINT = "https://idp.test/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = "https://idp.test/jwks"
    settings.OIDC_RP_CLIENT_ID = "trcker"
    settings.OIDC_RP_CLIENT_SECRET = "secret"
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    return BrandOIDCBackend()


@pytest.mark.django_db
def test_claims_need_a_sub_and_an_org_of_a_known_brand(backend):
    BrandFactory(slug="acme", external_org_id="acme-org")
    BrandFactory(slug="no-idp")

    assert backend.verify_claims({"sub": "u1", "org": "acme-org"})
    assert backend.verify_claims({"sub": "u1", "org": ["nope", "acme-org"]})
    assert not backend.verify_claims({"org": "acme-org"})
    assert not backend.verify_claims({"sub": "u1"})
    assert not backend.verify_claims({"sub": "u1", "org": ""})
    assert not backend.verify_claims({"sub": "u1", "org": "initech-org"})
    assert not backend.verify_claims({"sub": "x" * 200, "org": "acme-org"})


@pytest.mark.django_db
def test_users_are_matched_on_sub_never_on_email(backend):
    BrandFactory(slug="acme", external_org_id="acme-org")
    local = UserFactory(username="alice", email="alice@acme.test")

    claims = {"sub": "alice", "email": "alice@acme.test", "org": "acme-org"}
    assert list(backend.filter_users_by_claims(claims)) == []
    created = backend.create_user(claims)

    assert created.pk != local.pk
    assert created.username == "oidc:alice"
    assert list(backend.filter_users_by_claims(claims)) == [created]


@pytest.mark.django_db
def test_role_claim_cannot_demote_a_brands_last_owner(backend):
    acme = BrandFactory(slug="acme", external_org_id="acme-org")
    user = backend.create_user({"sub": "o1", "org": "acme-org", "trcker_role": "owner"})
    assert staff_roles(user) == {"acme": StaffRole.OWNER}

    updated = backend.update_user(user, {"sub": "o1", "org": "acme-org", "trcker_role": "analyst"})

    assert updated == user
    assert staff_roles(user) == {"acme": StaffRole.OWNER}
    assert AuditEvent.objects.filter(brand=acme, action="staff.set_role").count() == 1


@pytest.mark.django_db
def test_role_claim_changes_role_and_unknown_values_are_ignored(backend):
    BrandFactory(slug="acme", external_org_id="acme-org")
    user = backend.create_user({"sub": "a1", "org": "acme-org", "trcker_role": "superuser"})
    assert staff_roles(user) == {"acme": StaffRole.ANALYST}

    backend.update_user(user, {"sub": "a1", "org": "acme-org", "trcker_role": ["admin"]})

    assert staff_roles(user) == {"acme": StaffRole.ADMIN}
    assert AuditEvent.objects.filter(action="staff.set_role").count() == 2


def test_userinfo_for_another_subject_is_refused(backend, monkeypatch):
    monkeypatch.setattr(
        "mozilla_django_oidc.auth.OIDCAuthenticationBackend.get_userinfo",
        lambda self, *args: {"sub": "mallory", "org": "acme-org"},
    )

    with pytest.raises(SuspiciousOperation):
        backend.get_userinfo("at", "idt", {"sub": "alice"})

    monkeypatch.setattr(
        "mozilla_django_oidc.auth.OIDCAuthenticationBackend.get_userinfo",
        lambda self, *args: {"sub": "alice", "email": "a@x.test"},
    )
    merged = backend.get_userinfo("at", "idt", {"sub": "alice", "org": "acme-org"})
    assert merged["org"] == "acme-org"
    assert merged["email"] == "a@x.test"
