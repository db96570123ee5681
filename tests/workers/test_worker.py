"""The worker's other queue (the MCP tool-call log), what health shows of the queues, and the
run_workers command, on the real Redis and database."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from audit.actor import Actor
from audit.models import AuditEvent
from core.queue_redis import configuration_problems, queue_client
from mcp_gateway.models import McpToolCall
from mcp_gateway.services import TOOL_CALLS, tool_call_record
from tests.conftest import issue_key
from tests.factories import BrandFactory, OfferFactory
from tests.live_server import free_port
from tests.mcp_gateway.helpers import Mcp
from workers.loop import Worker

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_tool_calls_are_queued_by_the_request_and_written_by_the_worker():
    brand = BrandFactory(slug="acme")
    OfferFactory(brand=brand)
    mcp = Mcp(issue_key(brand))
    mcp.call("list_offers", {"limit": 2})
    mcp.call("pause_offer", {"offer_id": "nope"})
    assert not McpToolCall.objects.exists()  # queued, not written by the request
    assert TOOL_CALLS.depth(queue_client()) == 2

    Worker(name="w").run_until_idle(queues_only=True)

    calls = list(McpToolCall.objects.order_by("created_at", "pk"))
    assert [(c.tool, c.outcome, c.is_error, c.actor_label) for c in calls] == [
        ("list_offers", "ok", False, "mcp:acme"),
        ("pause_offer", "not_found", True, "mcp:acme"),
    ]
    assert calls[0].arguments == {"limit": 2}
    assert calls[0].created_at <= calls[1].created_at  # the time of the call, not the write
    assert TOOL_CALLS.depth(queue_client()) == 0


def test_hostile_tool_arguments_are_logged_through_the_queue_not_dead_lettered():
    brand = BrandFactory(slug="acme")
    Mcp(issue_key(brand)).call(
        "get_offer_config", {"offer_id": "a\x00b\ud800", "n": float("nan"), "k\x00": [1]}
    )
    Worker(name="w").run_until_idle(queues_only=True)
    (logged,) = McpToolCall.objects.filter(tool="get_offer_config")
    assert logged.arguments == {"offer_id": "a\ufffdb?", "n": "nan", "k\ufffd": [1]}
    assert TOOL_CALLS.dead_count(queue_client()) == 0


def test_a_tool_call_row_the_database_refuses_is_dead_lettered_alone():
    brand = BrandFactory()
    gone = BrandFactory()
    for target in (brand, gone, brand):
        tool_call_record(
            actor=Actor.system(brand_id=target.pk, brand_slug=target.slug, name="test"),
            tool="list_offers",
            arguments={},
            secret_arguments=frozenset(),
            outcome="ok",
            is_error=False,
            duration_ms=1,
        )
    AuditEvent.objects.filter(brand=gone).delete()
    gone.delete()  # its queued row now names a brand that does not exist

    Worker(name="w").run_until_idle(queues_only=True)

    assert McpToolCall.objects.filter(brand=brand).count() == 2
    (dead,) = TOOL_CALLS.dead_letters(queue_client())
    assert dead.fields["reason"].startswith("refused by the database")


def test_health_shows_each_queue_and_warns_about_configuration_and_dead_letters(client):
    brand = BrandFactory()
    queue_client().xadd(TOOL_CALLS.key, {"r": "not json"})
    Worker(name="w").run_until_idle(queues_only=True)  # dead-letters it
    queue_client().xadd(TOOL_CALLS.key, {"r": "waiting"})  # and one waiting
    del brand

    body = client.get("/api/health").json()

    queue = body["checks"]["queue"]
    assert queue["ok"] is True
    assert queue["streams"]["tool-calls"]["waiting"] == 1
    assert queue["streams"]["tool-calls"]["dead_letters"] == 1
    assert queue["streams"]["clicks"] == {"waiting": 0, "dead_letters": 0, "oldest_seconds": 0.0}
    assert "queue: 1 dead letter(s) to inspect (docs/operations.md)" in body["warnings"]
    # The suite's Redis runs without AOF (it keeps nothing on disk): health must say so.
    problems = configuration_problems()
    assert [f"queue: {p}" for p in problems] == [w for w in body["warnings"] if "dead" not in w]
    assert any("appendonly is off" in p for p in problems) == (
        not int(queue_client().info("persistence")["aof_enabled"])
    )


def test_health_fails_when_the_queue_redis_does_not_answer(client, settings):
    settings.TRCKER_QUEUE_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["checks"]["queue"] == {"ok": False, "error": "ConnectionError"}


def test_run_workers_once_reports_what_it_did(capsys):
    brand = BrandFactory()
    queue_client().xadd(TOOL_CALLS.key, {"r": "bad"})
    OfferFactory(brand=brand)
    call_command("run_workers", "--once", "--name", "cli")
    out = capsys.readouterr().out
    assert "tool-calls dead-lettered: 1" in out
