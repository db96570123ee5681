"""REST and MCP reach the same domain functions: the same input through each interface, on two
identical brands, gives the same output and the same audit trail."""

import re

import pytest

from audit.models import AuditEvent
from mcp_gateway.tools import TOOLS
from operations.catalog import OPERATIONS
from operations.declaration import PATH_ARGUMENT
from tests.conftest import client_with_key, issue_key
from tests.factories import BrandFactory
from tests.mcp_gateway.helpers import Mcp, structured
from tests.mcp_gateway.world import build_world, every_tool_call

ID = re.compile(r"\b(clk|conv|pay|led|inv)_[A-Za-z0-9]+\b")


def rest_call(name, args):
    """The REST twin of a tool call, derived from the operation's declaration: the route's path
    arguments go into the URL, everything else into the query (GET) or the JSON body."""
    route = OPERATIONS[name].rest
    assert route is not None, f"{name} is a tool without a REST route"
    rest = dict(args)
    url = "/api/v1/" + PATH_ARGUMENT.sub(lambda match: str(rest.pop(match.group(1))), route.path)
    return route.method.lower(), url, rest


def normalise(value, brand_slug):
    if isinstance(value, dict):
        if value.get("target_type") in ("delivery", "webhook"):  # serial ids differ by brand
            value = {k: v for k, v in value.items() if k != "target_id"}
        return {
            k: normalise(v, brand_slug)
            for k, v in value.items()
            if not k.endswith("_at")
            and k
            not in {
                "id",
                "delivery_id",
                "attempt_id",  # a serial id, like delivery_id
                "webhook_id",
                "signing_secret",
                "seq",
                "hash",
                "prev_hash",
                "postback_secret",
                "request_id",
                "actor",
                "invited_by",  # an actor label: mcp:<brand> or api_key:<prefix>
                "actor_kind",
                "actor_detail",
                "channel",
                "user_agent",
                "ip",
                "period_start",
                "previous_secret_valid_until",
            }
        }
    if isinstance(value, list):
        return [normalise(v, brand_slug) for v in value]
    if isinstance(value, str):
        return ID.sub(r"\1_X", value.replace(brand_slug, "BRAND"))
    return value


def rest_payload(operation, response):
    data = response.json()
    if operation.shape != "one":
        data["items"] = data.pop("results")
        data.pop("next", None), data.pop("previous", None)
    return data


def test_every_tool_has_an_example_call(db):
    """Each tool below runs through both interfaces: a tool without an example fails here."""
    examples = [name for name, _ in every_tool_call(build_world(BrandFactory(slug="any")))]
    assert sorted(examples) == sorted(tool.name for tool in TOOLS)


@pytest.mark.parametrize("name", [tool.name for tool in TOOLS])
def test_rest_and_mcp_give_the_same_answer_and_audit(db, name):
    mcp_world = build_world(BrandFactory(slug="via-mcp"))
    rest_world = build_world(BrandFactory(slug="via-rest"))
    mcp_args = dict(every_tool_call(mcp_world))[name]
    rest_args = dict(every_tool_call(rest_world))[name]
    mcp_out = structured(Mcp(issue_key(mcp_world.brand)).call(name, mcp_args))
    method, path, body = rest_call(name, rest_args)
    api = client_with_key(issue_key(rest_world.brand))
    response = (
        getattr(api, method)(path, body, format="json")
        if method != "get"
        else api.get(path, body or {})
    )
    assert response.status_code in (200, 201), (name, response.content)
    rest_out = rest_payload(OPERATIONS[name], response)
    mcp_out.pop("next_cursor", None)
    assert normalise(mcp_out, "via-mcp") == normalise(rest_out, "via-rest"), name
    last = {
        brand: list(
            AuditEvent.objects.filter(brand=brand).order_by("-id").values("action", "changes")[:1]
        )
        for brand in (mcp_world.brand, rest_world.brand)
    }
    assert normalise(last[mcp_world.brand], "via-mcp") == normalise(
        last[rest_world.brand], "via-rest"
    ), name
