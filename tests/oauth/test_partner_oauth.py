"""OAuth "add MCP server by URL" for partners (docs/oauth.md, "Partners"), on the Django test
client through the real endpoints: the consent page names the client, the brand and the
partner; the token is bound to that partner (scope and grant user, both set at consent);
nobody gets one without the partner's portal session; it sees exactly a trkp_ key's tools;
the partner disconnects apps on the keys page; the brand pausing or rejecting the partner
ends the token at once; refresh rotates and a replayed code revokes, as for brand tokens."""

from __future__ import annotations

import json
import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from oauth2_provider.models import AccessToken, Grant

from audit.models import AuditEvent
from brands.models import StaffRole
from mcp_gateway.models import PartnerOAuthIdentity
from operations.catalog import PARTNER_OPERATIONS
from partner_portal.access import AFTER_SIGN_IN_KEY
from partners.models import PartnerStatus
from tests.factories import BrandFactory, PartnerFactory, StaffMembershipFactory
from tests.oauth.partner_flow import (
    authorization_request,
    code_of,
    consent,
    exchange,
    mcp,
    partner_tokens,
    refresh,
    register,
)
from tests.partner_portal.helpers import ask_for_link, link_path, links_in_outbox, sign_in

pytestmark = pytest.mark.django_db
PARTNER_TOOLS = {name for name, op in PARTNER_OPERATIONS.items() if op.tool}
READ_TOOLS = {name for name in PARTNER_TOOLS if not PARTNER_OPERATIONS[name].is_write}


@pytest.fixture
def acme(settings):
    settings.TRCKER_PORTAL_LINKS_PER_EMAIL = "1000/h"
    settings.TRCKER_PORTAL_LINKS_PER_IP = "1000/h"
    return BrandFactory(slug="acme", name="Acme Shop")


@pytest.fixture
def ann(acme):
    return PartnerFactory(brand=acme, slug="ann", name="Ann Reviews", email="ann@example.com")


@pytest.fixture
def bob(acme):
    return PartnerFactory(brand=acme, slug="bob", name="Bobby Deals", email="bob@example.com")


def tool_names(client, token: str) -> set[str]:
    body = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    return {tool["name"] for tool in mcp(client, token, body).json()["result"]["tools"]}


def call(client, token, name, arguments):
    body = {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }
    return mcp(client, token, body)


def test_the_consent_page_names_client_brand_and_partner_and_the_token_is_bound(client, ann):
    client_id = register(client, "Claude")
    sign_in(client, ann)
    request = authorization_request(client_id)
    page, answer = consent(client, request, brand="acme", access="read_write")
    summary = page.content.decode().split('id="consent-summary">', 1)[1].split("</p>", 1)[0]
    assert "<strong>Claude</strong> wants to read and change" in summary
    assert "<strong>Ann Reviews</strong>'s data at <strong>Acme Shop</strong>" in summary
    assert "127.0.0.1:45678" in page.content.decode()
    tokens = exchange(Client(), client_id, code_of(answer), request.verifier).json()
    assert set(tokens["scope"].split()) == {"mcp:read", "mcp:write", f"partner:acme:{ann.pk}"}
    assert tool_names(Client(), tokens["access_token"]) == PARTNER_TOOLS
    identity = PartnerOAuthIdentity.objects.get(partner=ann)
    user = identity.user
    assert (user.is_active, user.is_staff, user.has_usable_password()) == (False, False, False)
    event = AuditEvent.objects.get(action="partner_oauth.authorize")
    assert (event.actor_label, event.target_id) == (f"partner:{ann.pk}", client_id[:64])


def test_a_read_token_sees_the_read_tools_and_steps_up_for_a_write(client, ann):
    tokens = partner_tokens(ann)
    assert set(tokens["scope"].split()) == {"mcp:read", f"partner:acme:{ann.pk}"}
    assert tool_names(client, tokens["access_token"]) == READ_TOOLS
    refused = call(client, tokens["access_token"], "update_my_profile", {"website": "https://x.y"})
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused["WWW-Authenticate"]
    ann.refresh_from_db()
    assert ann.website != "https://x.y"


def test_a_write_token_acts_as_the_partner_and_is_audited_so(client, ann):
    tokens = partner_tokens(ann, write=True)
    answer = call(
        client, tokens["access_token"], "update_my_profile", {"website": "https://ann.example"}
    )
    assert answer.json()["result"]["isError"] is False, answer.content
    ann.refresh_from_db()
    assert ann.website == "https://ann.example"
    event = AuditEvent.objects.filter(action__startswith="partner.").latest("id")
    assert event.actor_label == f"partner:{ann.pk}"
    assert event.actor_detail["oauth_client"] == tokens["client_id"]
    assert event.channel == "mcp"
    balance = call(client, tokens["access_token"], "get_my_balance", {}).json()["result"]
    assert balance["isError"] is False


def test_a_brand_tool_is_unknown_to_a_partner_token(client, ann):
    tokens = partner_tokens(ann, write=True)
    answer = call(client, tokens["access_token"], "list_partners", {}).json()
    assert "result" not in answer and answer["error"]["code"] == -32602


def test_nobody_signed_in_gets_the_login_with_the_partner_way_in(client, ann):
    request = authorization_request(register(client))
    login = client.get(request.path)
    assert login.status_code == 302 and "/admin/login/" in login["Location"]
    page = client.get(login["Location"]).content.decode()
    (start,) = re.findall(r'<a class="button" href="(/oauth/partner/\?next=[^"]+)"', page)
    assert parse_qs(urlsplit(unescape(start)).query)["next"] == [request.path]

    form = client.get(unescape(start))
    assert form.status_code == 200 and 'name="brand"' in form.content.decode()
    sent = client.post("/oauth/partner/", {"brand": "acme", "next": request.path})
    assert sent.status_code == 302 and sent["Location"] == "/p/acme/login/"
    # The portal's own sign-in, by the emailed link, in this browser: back to the request.
    mail.outbox.clear()
    assert ask_for_link(client, "acme", ann.email).status_code == 302
    (token,) = links_in_outbox()
    signed_in = client.post(link_path("acme", token))
    assert signed_in.status_code == 302 and signed_in["Location"] == request.path
    assert client.get(request.path).status_code == 200  # the partner consent now
    # Once: the next sign-in goes home.
    assert AFTER_SIGN_IN_KEY not in client.session or not client.session[AFTER_SIGN_IN_KEY]


def test_a_signed_in_partner_starting_again_goes_straight_back(client, ann):
    sign_in(client, ann)
    request = authorization_request(register(client))
    answer = client.post("/oauth/partner/", {"brand": "acme", "next": request.path})
    assert answer.status_code == 302 and answer["Location"] == request.path


@pytest.mark.parametrize(
    "next_value",
    [
        "https://evil.example/oauth/authorize/?x=1",
        "//evil.example/oauth/authorize/?x=1",
        "/\\evil.example/oauth/authorize/?x=1",
        "/oauth/authorize/\\?x=1",
        "/admin/",
        "/oauth/authorize/",
        "/p/acme/",
        "javascript:alert(1)",
        "/oauth/authorize/?x=1\r\nLocation: https://evil.example/",
    ],
)
def test_the_way_back_is_never_an_open_redirect(client, ann, next_value):
    assert client.get("/oauth/partner/", {"next": next_value}).status_code == 400
    refused = client.post("/oauth/partner/", {"brand": "acme", "next": next_value})
    assert refused.status_code == 400
    # Even a value planted in the session (it never gets there) is checked again on use.
    session = client.session
    session[AFTER_SIGN_IN_KEY] = {str(ann.brand_id): next_value}
    session.save()
    mail.outbox.clear()
    ask_for_link(client, "acme", ann.email)
    (token,) = links_in_outbox()
    assert client.post(link_path("acme", token))["Location"] == "/p/acme/"


def test_no_consent_without_the_partners_session(client, ann):
    client_id = register(client)
    request = authorization_request(client_id)
    page = Client()
    sign_in(page, ann)
    form = page.get(request.path)
    fields = {"partner": "acme", "access": "read", "allow": "Authorize"}
    # The same form, posted by a browser that is not signed in: the login page, no code.
    stranger = Client()
    answer = stranger.post(request.path, fields)
    assert answer.status_code == 302 and "/admin/login/" in answer["Location"]
    # Posted cross-site into the partner's browser: refused by CSRF.
    csrf_checked = Client(enforce_csrf_checks=True)
    csrf_checked.cookies = page.cookies  # the partner's signed-in session, no CSRF token
    assert csrf_checked.post(request.path, fields).status_code == 403
    assert form.status_code == 200
    assert not Grant.objects.exists()


def test_a_client_cannot_ask_for_a_partner_scope(client, ann, bob):
    client_id = register(client)
    sign_in(client, ann)
    for scope in (f"mcp:read partner:acme:{ann.pk}", f"mcp:read partner:acme:{bob.pk}"):
        request = authorization_request(client_id, scope=scope)
        answer = client.get(request.path)
        assert answer.status_code == 302, answer.content[:300]
        assert parse_qs(urlsplit(answer["Location"]).query)["error"] == ["invalid_scope"]
    assert not Grant.objects.exists()


def test_a_tampered_consent_cannot_pick_another_brand_or_write_unasked(client, ann):
    globex = BrandFactory(slug="globex", name="Globex")
    PartnerFactory(brand=globex, slug="ann", email=ann.email)
    client_id = register(client)
    sign_in(client, ann)  # to acme only
    request = authorization_request(client_id, scope="mcp:read")
    _, answer = consent(client, request, brand="globex")
    assert answer.status_code == 200 and "Select a valid choice" in answer.content.decode()
    _, answer = consent(client, request, brand="acme", access="read_write")
    assert answer.status_code == 200  # write was not asked for: not offered
    assert not Grant.objects.exists()


def test_refresh_rotates_and_cannot_widen_the_scope(client, ann, bob):
    tokens = partner_tokens(ann)
    client_id = tokens["client_id"]
    wider = refresh(client, client_id, tokens["refresh_token"], "mcp:read mcp:write")
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    other = refresh(client, client_id, tokens["refresh_token"], f"mcp:read partner:acme:{bob.pk}")
    assert other.status_code == 400
    rotated = refresh(client, client_id, tokens["refresh_token"])
    assert rotated.status_code == 200, rotated.content
    assert set(rotated.json()["scope"].split()) == {"mcp:read", f"partner:acme:{ann.pk}"}
    assert mcp(client, rotated.json()["access_token"]).status_code == 200
    assert refresh(client, client_id, tokens["refresh_token"]).status_code == 400  # reused


def test_a_replayed_code_revokes_the_partners_tokens(client, ann):
    client_id = register(client)
    browser = Client()
    sign_in(browser, ann)
    request = authorization_request(client_id)
    _, answer = consent(browser, request, brand="acme")
    code = code_of(answer)
    tokens = exchange(client, client_id, code, request.verifier).json()
    assert mcp(client, tokens["access_token"]).status_code == 200
    replay = exchange(client, client_id, code, request.verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert mcp(client, tokens["access_token"]).status_code == 401
    assert refresh(client, client_id, tokens["refresh_token"]).status_code == 400


def test_scope_and_grant_user_must_agree(client, ann, bob):
    tokens = partner_tokens(ann)
    row = AccessToken.objects.get(scope__contains=f"partner:acme:{ann.pk}")
    row.scope = f"mcp:read partner:acme:{bob.pk}"  # as if forged into the database
    row.save()
    refused = mcp(client, tokens["access_token"])
    assert refused.status_code == 401
    assert "not bound to one partner" in refused.json()["error"]["message"]


@pytest.mark.parametrize("status", [PartnerStatus.PAUSED, PartnerStatus.REJECTED])
def test_the_brand_pausing_or_rejecting_the_partner_ends_the_token_at_once(client, ann, status):
    tokens = partner_tokens(ann)
    ann.status = status
    ann.save(update_fields=["status"])
    assert mcp(client, tokens["access_token"]).status_code == 401
    ann.status = PartnerStatus.ACTIVE
    ann.save(update_fields=["status"])
    assert mcp(client, tokens["access_token"]).status_code == 200


def test_a_paused_partner_cannot_consent(client, ann):
    client_id = register(client)
    sign_in(client, ann)
    ann.status = PartnerStatus.PAUSED
    ann.save(update_fields=["status"])
    _, answer = consent(client, authorization_request(client_id), brand="acme")
    assert answer.status_code == 200 and "is paused" in answer.content.decode()
    assert not Grant.objects.exists()


def test_deny_sends_access_denied_and_makes_no_account(client, ann):
    client_id = register(client)
    sign_in(client, ann)
    _, answer = consent(client, authorization_request(client_id), brand="acme", allow=False)
    assert answer.status_code == 302
    assert parse_qs(urlsplit(answer["Location"]).query)["error"] == ["access_denied"]
    assert not PartnerOAuthIdentity.objects.exists()


def test_the_partner_sees_and_disconnects_apps_and_no_one_else_can(client, ann, bob):
    tokens = partner_tokens(ann, write=True)
    assert mcp(client, tokens["access_token"]).status_code == 200
    sign_in(client, ann)
    page = client.get("/p/acme/keys/").content.decode()
    assert "Partner test client" in page and "Read and write" in page
    app_id = AccessToken.objects.get(scope__contains="partner:").application_id
    bobs = Client()
    sign_in(bobs, bob)
    assert "Partner test client" not in bobs.get("/p/acme/keys/").content.decode()
    assert bobs.post(f"/p/acme/keys/apps/{app_id}/revoke/").status_code == 404
    assert mcp(client, tokens["access_token"]).status_code == 200

    answer = client.post(f"/p/acme/keys/apps/{app_id}/revoke/")
    assert answer.status_code == 302
    assert mcp(client, tokens["access_token"]).status_code == 401
    assert refresh(client, tokens["client_id"], tokens["refresh_token"]).status_code == 400
    assert "No connected apps" in client.get("/p/acme/keys/").content.decode()
    event = AuditEvent.objects.get(action="partner_oauth.revoke")
    assert event.actor_label == f"partner:{ann.pk}"
    assert client.post(f"/p/acme/keys/apps/{app_id}/revoke/").status_code == 404


def test_staff_signed_in_get_the_brand_consent_as_before(client, ann):
    owner = StaffMembershipFactory(brand=ann.brand, role=StaffRole.OWNER).user
    client_id = register(client)
    sign_in(client, ann)
    client.force_login(owner)
    page = client.get(authorization_request(client_id).path).content.decode()
    assert 'name="brand"' in page and 'name="partner"' not in page
    assert get_user_model().objects.filter(partner_oauth__isnull=False).count() == 0


def test_a_browser_signed_in_to_two_brands_chooses_the_partner_account(client, ann):
    globex = BrandFactory(slug="globex", name="Globex Corp")
    ann_g = PartnerFactory(brand=globex, slug="ann-g", name="Ann G", email=ann.email)
    client_id = register(client)
    sign_in(client, ann)
    sign_in(client, ann_g)
    request = authorization_request(client_id, scope="mcp:read")
    page, answer = consent(client, request, brand="globex")
    html = page.content.decode()
    assert "Ann Reviews at Acme Shop" in html and "Ann G at Globex Corp" in html
    tokens = exchange(Client(), client_id, code_of(answer), request.verifier).json()
    assert set(tokens["scope"].split()) == {"mcp:read", f"partner:globex:{ann_g.pk}"}
    body = {"jsonrpc": "2.0", "id": 4, "method": "tools/call"}
    body["params"] = {"name": "get_my_profile", "arguments": {}}
    profile = json.loads(mcp(client, tokens["access_token"], body).content)
    assert profile["result"]["isError"] is False
    assert "ann-g" in json.dumps(profile) and "Ann Reviews" not in json.dumps(profile)


def test_one_grant_account_per_partner_whatever_the_clients(client, ann, bob):
    first, second = partner_tokens(ann), partner_tokens(ann)
    bobs = partner_tokens(bob)
    assert PartnerOAuthIdentity.objects.filter(partner=ann).count() == 1
    users = {
        AccessToken.objects.get(
            scope__contains=f"partner:acme:{p.pk}", application__client_id=c
        ).user_id
        for p, c in ((ann, first["client_id"]), (ann, second["client_id"]))
    }
    assert users == {PartnerOAuthIdentity.objects.get(partner=ann).user_id}
    assert PartnerOAuthIdentity.objects.get(partner=bob).user_id not in users
    sign_in(client, ann)
    page = client.get("/p/acme/keys/").content.decode()
    assert page.count("Disconnect</button>") == 2 and bobs["client_id"] not in page
