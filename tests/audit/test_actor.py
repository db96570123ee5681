"""The named constructors of ``Actor``: one per way in, each pinning the label, kind, channel,
scopes and request facts that audit rows and tenant filters depend on (docs/data-model.md)."""

from dataclasses import dataclass

import pytest
from django.test import RequestFactory

from audit.actor import Actor, ActorKind, Channel, Scope

READ = frozenset({Scope.READ})
READ_WRITE = frozenset({Scope.READ, Scope.WRITE})
BRAND = {"brand_id": 7, "brand_slug": "acme"}


@dataclass
class User:
    pk: int
    username: str

    def get_username(self) -> str:
        return self.username


def request(user_agent: str = "agent/1.0", **extra: object):
    made = RequestFactory().get("/", HTTP_USER_AGENT=user_agent, REMOTE_ADDR="203.0.113.5", **extra)
    made.request_id = "req-1"
    return made


def facts(actor: Actor) -> tuple:
    return actor.ip, actor.user_agent, actor.request_id


@pytest.mark.parametrize("write", [True, False])
def test_api_key_on_rest_is_labelled_by_its_prefix(write):
    actor = Actor.for_api_key(
        key_id=3, prefix="abc123", write=write, channel=Channel.REST, request=request(), **BRAND
    )
    assert (actor.kind, actor.label, actor.channel) == (
        ActorKind.API_KEY,
        "api_key:abc123",
        Channel.REST,
    )
    assert actor.scopes == (READ_WRITE if write else READ)
    assert (actor.brand_id, actor.brand_slug, actor.api_key_id) == (7, "acme", 3)
    assert actor.detail == {"api_key": "abc123"}
    assert facts(actor) == ("203.0.113.5", "agent/1.0", "req-1")


def test_api_key_on_mcp_is_the_brands_synthetic_mcp_actor():
    actor = Actor.for_api_key(
        key_id=3, prefix="abc123", write=False, channel=Channel.MCP, request=request(), **BRAND
    )
    assert (actor.kind, actor.label, actor.channel) == (ActorKind.MCP, "mcp:acme", Channel.MCP)
    assert actor.scopes == READ
    assert actor.detail == {"api_key": "abc123"}


@pytest.mark.parametrize("write", [True, False])
def test_oauth_caller_is_the_synthetic_mcp_actor_with_who_and_which_client(write):
    actor = Actor.for_oauth(
        write=write,
        user_id=11,
        client_id="cli-9",
        subject="user:11",
        request=request(),
        **BRAND,
    )
    assert (actor.kind, actor.label, actor.channel) == (ActorKind.MCP, "mcp:acme", Channel.MCP)
    assert actor.scopes == (READ_WRITE if write else READ)
    assert (actor.user_id, actor.api_key_id) == (11, None)
    assert actor.detail == {"oauth_client": "cli-9", "user": "user:11", "oauth": True}
    assert facts(actor) == ("203.0.113.5", "agent/1.0", "req-1")


def test_anonymous_mcp_test_caller_reads_only():
    actor = Actor.for_mcp_test_anonymous(request=request(), **BRAND)
    assert (actor.kind, actor.label, actor.channel) == (ActorKind.MCP, "mcp:acme", Channel.MCP)
    assert actor.scopes == READ
    assert actor.detail == {"test_anonymous": True}


@pytest.mark.parametrize("write", [True, False])
def test_admin_user_is_labelled_by_user_id(write):
    actor = Actor.for_admin(User(5, "ann"), write=write, request=request(), **BRAND)
    assert (actor.kind, actor.label, actor.channel) == (ActorKind.USER, "user:5", Channel.ADMIN)
    assert actor.scopes == (READ_WRITE if write else READ)
    assert actor.user_id == 5
    assert actor.detail == {"username": "ann"}
    assert facts(actor) == ("203.0.113.5", "agent/1.0", "req-1")


def test_sso_login_is_a_system_actor_on_the_admin_channel():
    actor = Actor.for_sso(User(5, "ann"), request=request(), **BRAND)
    assert (actor.kind, actor.label, actor.channel) == (
        ActorKind.SYSTEM,
        "system:oidc",
        Channel.ADMIN,
    )
    assert actor.scopes == READ_WRITE
    assert actor.detail == {"username": "ann"}
    assert facts(actor) == ("203.0.113.5", "agent/1.0", "req-1")

    without_request = Actor.for_sso(User(5, "ann"), request=None, **BRAND)
    assert without_request.detail == {}
    assert facts(without_request) == (None, "", "")


def test_postback_cleans_its_user_agent_which_no_edge_middleware_did():
    agent = "bad\x00agent\x7f/" + "x" * 600
    actor = Actor.for_postback(request=request(user_agent=agent), **BRAND)
    assert (actor.kind, actor.label, actor.channel) == (
        ActorKind.SYSTEM,
        "system:postback",
        Channel.POSTBACK,
    )
    assert actor.scopes == READ_WRITE
    assert actor.user_agent == ("badagent/" + "x" * 600)[:512]
    assert (actor.ip, actor.request_id) == ("203.0.113.5", "req-1")


def test_applicant_is_the_partner_application_system_actor():
    actor = Actor.for_applicant(request=request(user_agent="y" * 600), **BRAND)
    assert (actor.kind, actor.label, actor.channel) == (
        ActorKind.SYSTEM,
        "system:partner_application",
        Channel.APPLY,
    )
    assert facts(actor) == ("203.0.113.5", "y" * 512, "req-1")


def test_the_client_ip_is_the_one_the_middleware_resolved():
    made = request()
    made.client_ip = "198.51.100.2"  # set by the middleware from trusted proxies' headers
    actor = Actor.for_admin(User(5, "ann"), write=True, request=made, **BRAND)
    assert actor.ip == "198.51.100.2"


@pytest.mark.parametrize(
    ("label", "kind"),
    [
        ("system:cli", ActorKind.SYSTEM),
        ("user:4", ActorKind.USER),
        ("api_key:abc", ActorKind.API_KEY),
        ("mcp:acme", ActorKind.MCP),
        ("robot:1", ActorKind.SYSTEM),
    ],
)
def test_brand_creator_kind_comes_from_the_label(label, kind):
    actor = Actor.for_brand_creator(label, channel=Channel.CLI, **BRAND)
    assert (actor.kind, actor.label, actor.channel) == (kind, label, Channel.CLI)
    assert actor.scopes == READ_WRITE


def test_system_actor():
    actor = Actor.system(name="seed_demo", **BRAND)
    assert (actor.kind, actor.label, actor.channel) == (
        ActorKind.SYSTEM,
        "system:seed_demo",
        Channel.CLI,
    )
    assert actor.scopes == READ_WRITE
    assert facts(actor) == (None, "", "")


@pytest.mark.parametrize("write", [True, False])
@pytest.mark.parametrize("channel", [Channel.REST, Channel.MCP])
def test_partner_key_is_labelled_by_its_partner_on_every_channel(write, channel):
    actor = Actor.for_partner_key(
        key_id=4,
        prefix="pk1234",
        partner_id=31,
        write=write,
        channel=channel,
        request=request(),
        **BRAND,
    )
    assert (actor.kind, actor.label, actor.channel) == (ActorKind.PARTNER, "partner:31", channel)
    assert (actor.partner_id, actor.api_key_id, actor.is_partner) == (31, 4, True)
    assert actor.scopes == (READ_WRITE if write else READ)
    assert actor.detail == {"partner_api_key": "pk1234"}
    assert facts(actor) == ("203.0.113.5", "agent/1.0", "req-1")


def test_partner_session_is_the_partner_on_the_portal_channel():
    actor = Actor.for_partner_session(
        partner_id=31, email="ann@example.com", request=request(), **BRAND
    )
    assert (actor.kind, actor.label, actor.channel) == (
        ActorKind.PARTNER,
        "partner:31",
        Channel.PORTAL,
    )
    assert (actor.partner_id, actor.scopes, actor.is_partner) == (31, READ_WRITE, True)
    assert actor.detail == {"email": "ann@example.com"}
    assert facts(actor) == ("203.0.113.5", "agent/1.0", "req-1")
    read_only = Actor.for_partner_session(
        partner_id=31, email="a@b.c", user_id=9, write=False, request=request(), **BRAND
    )
    assert (read_only.scopes, read_only.user_id, read_only.detail["user"]) == (READ, 9, 9)


def test_brand_actors_are_not_partners():
    actor = Actor.for_api_key(
        key_id=3, prefix="abc", write=True, channel=Channel.REST, request=request(), **BRAND
    )
    assert (actor.is_partner, actor.partner_id) == (False, None)
