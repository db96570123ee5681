"""RFC 6749 §4.1.2: an authorization code is used once, and presenting it again revokes the
tokens issued from it — the first access token and the whole rotated refresh-token family.
Driven through the real endpoints (registration, consent, token) with PKCE, on the Django
test client."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.utils import timezone
from oauth2_provider.models import AccessToken, Grant, RefreshToken

from brands.models import StaffRole
from mcp_gateway.models import SpentAuthorizationCode
from mcp_gateway.oauth import mcp_resource_url
from tests.factories import BrandFactory, StaffMembershipFactory

pytestmark = pytest.mark.django_db
CALLBACK = "http://127.0.0.1:45678/callback"
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


@pytest.fixture
def owner():
    brand = BrandFactory(slug="acme", name="Acme")
    return StaffMembershipFactory(brand=brand, role=StaffRole.OWNER).user


@pytest.fixture
def client_id(client):
    registered = client.post(
        "/oauth/register/",
        data=json.dumps(
            {
                "client_name": "Replay test client",
                "redirect_uris": [CALLBACK],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
            }
        ),
        content_type="application/json",
    )
    assert registered.status_code == 201, registered.content
    return registered.json()["client_id"]


def _hidden_inputs(html: str) -> dict[str, str]:
    return {
        name: unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)
    }


def _authorize(client, owner, client_id) -> tuple[str, str]:
    """Consent in the browser; returns (code, PKCE verifier)."""
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    client.force_login(owner)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": CALLBACK,
            "scope": "mcp:read",
            "state": "s1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "resource": mcp_resource_url(),
        }
    )
    consent = client.get(f"/oauth/authorize/?{query}")
    assert consent.status_code == 200, consent.content[:500]
    approved = client.post(
        f"/oauth/authorize/?{query}",
        data={
            **_hidden_inputs(consent.content.decode()),
            "brand": "acme",
            "access": "read",
            "allow": "Authorize",
        },
    )
    assert approved.status_code == 302, approved.content[:500]
    client.logout()  # the token endpoint is the client's, not the browser's
    return parse_qs(urlsplit(approved["Location"]).query)["code"][0], verifier


def _exchange(client, client_id, code, verifier):
    return client.post(
        "/oauth/token/",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "client_id": client_id,
            "code_verifier": verifier,
            "resource": mcp_resource_url(),
        },
    )


def _refresh(client, client_id, refresh_token):
    return client.post(
        "/oauth/token/",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
        },
    )


def _mcp_status(client, access_token: str) -> int:
    return client.post(
        "/api/mcp",
        data=json.dumps(PING),
        content_type="application/json",
        HTTP_ACCEPT="application/json, text/event-stream",
        HTTP_AUTHORIZATION=f"Bearer {access_token}",
    ).status_code


def test_a_code_is_good_for_60_seconds(client, owner, client_id, time_machine, settings):
    """AUTHORIZATION_CODE_EXPIRE_SECONDS on a stopped clock: a code exchanged in the last
    instant of its minute works, one exchanged at 60 s is refused."""
    assert settings.OAUTH2_PROVIDER["AUTHORIZATION_CODE_EXPIRE_SECONDS"] == 60
    issued = timezone.now()
    time_machine.move_to(issued, tick=False)
    code, verifier = _authorize(client, owner, client_id)
    late_code, late_verifier = _authorize(client, owner, client_id)

    time_machine.move_to(issued + timedelta(seconds=60, microseconds=-1), tick=False)
    in_time = _exchange(client, client_id, code, verifier)
    time_machine.move_to(issued + timedelta(seconds=60), tick=False)
    too_late = _exchange(client, client_id, late_code, late_verifier)

    assert in_time.status_code == 200, in_time.content
    assert too_late.status_code == 400
    assert json.loads(too_late.content)["error"] == "invalid_grant", too_late.content
    assert _mcp_status(client, in_time.json()["access_token"]) == 200  # expired is no replay


def test_a_replayed_code_is_refused_and_revokes_the_tokens_it_issued(client, owner, client_id):
    code, verifier = _authorize(client, owner, client_id)
    first = _exchange(client, client_id, code, verifier)
    assert first.status_code == 200, first.content
    tokens = first.json()
    assert _mcp_status(client, tokens["access_token"]) == 200

    replay = _exchange(client, client_id, code, verifier)

    assert replay.status_code == 400
    assert json.loads(replay.content)["error"] == "invalid_grant", replay.content
    assert _mcp_status(client, tokens["access_token"]) == 401
    assert _refresh(client, client_id, tokens["refresh_token"]).status_code == 400
    # Only the registration access token (RFC 7592) is left: it was not issued from the code.
    assert not AccessToken.objects.exclude(scope="oauth2_provider:registration").exists()
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    assert SpentAuthorizationCode.objects.get().replayed_at is not None


def test_a_replay_after_rotation_revokes_the_whole_family(client, owner, client_id):
    code, verifier = _authorize(client, owner, client_id)
    tokens = _exchange(client, client_id, code, verifier).json()
    rotated = _refresh(client, client_id, tokens["refresh_token"]).json()
    again = _refresh(client, client_id, rotated["refresh_token"]).json()
    assert _mcp_status(client, again["access_token"]) == 200

    assert _exchange(client, client_id, code, verifier).status_code == 400

    assert _mcp_status(client, again["access_token"]) == 401
    assert _refresh(client, client_id, again["refresh_token"]).status_code == 400


def test_the_code_is_remembered_by_hash_only(client, owner, client_id):
    code, verifier = _authorize(client, owner, client_id)
    _exchange(client, client_id, code, verifier)
    spent = SpentAuthorizationCode.objects.get()
    assert spent.code_hash == hashlib.sha256(code.encode()).hexdigest()
    assert code not in json.dumps(list(SpentAuthorizationCode.objects.values()), default=str)


def test_an_unknown_code_revokes_nothing(client, owner, client_id):
    code, verifier = _authorize(client, owner, client_id)
    tokens = _exchange(client, client_id, code, verifier).json()

    made_up = _exchange(client, client_id, "not-a-code-we-issued", verifier)

    assert made_up.status_code == 400
    assert _mcp_status(client, tokens["access_token"]) == 200


def test_a_replay_of_one_code_leaves_other_sessions_alone(client, owner, client_id):
    code_a, verifier_a = _authorize(client, owner, client_id)
    tokens_a = _exchange(client, client_id, code_a, verifier_a).json()
    code_b, verifier_b = _authorize(client, owner, client_id)
    tokens_b = _exchange(client, client_id, code_b, verifier_b).json()

    assert _exchange(client, client_id, code_a, verifier_a).status_code == 400

    assert _mcp_status(client, tokens_a["access_token"]) == 401
    assert _mcp_status(client, tokens_b["access_token"]) == 200


def test_two_exchanges_that_race_issue_nothing_usable(client, owner, client_id):
    """The loser of a race passed validation before the winner deleted the Grant: simulated
    by putting the Grant back between the two exchanges."""
    code, verifier = _authorize(client, owner, client_id)
    grant = Grant.objects.values().get(code=code)
    first = _exchange(client, client_id, code, verifier).json()
    Grant.objects.create(**grant)

    loser = _exchange(client, client_id, code, verifier)

    assert loser.status_code == 400
    assert loser.json()["error"] == "invalid_grant"
    assert _mcp_status(client, first["access_token"]) == 401
    # The loser's own pair was rolled back; only the registration access token is left.
    assert not AccessToken.objects.exclude(scope="oauth2_provider:registration").exists()
