"""Hypothesis fuzzing of /api/mcp: whatever arrives, the answer is never a 500, and it is
either an empty 202, or JSON that is a valid JSON-RPC response (or array of them)."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import issue_key
from tests.mcp_gateway.helpers import Mcp

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
methods = st.sampled_from(
    [
        "initialize",
        "ping",
        "tools/list",
        "tools/call",
        "prompts/list",
        "prompts/get",
        "server/discover",
        "notifications/initialized",
        "resources/list",
        "",
        "x" * 300,
    ]
)
tool_names = st.sampled_from(
    ["list_offers", "get_offer_config", "create_offer", "pause_offer", "nope", ""]
)
messages = st.fixed_dictionaries(
    {"jsonrpc": st.sampled_from(["2.0", "1.0", 2]), "method": methods},
    optional={
        "id": st.one_of(
            st.none(), st.integers(), st.text(max_size=8), st.booleans(), st.floats(allow_nan=False)
        ),
        "params": st.one_of(
            json_values,
            st.fixed_dictionaries({"name": tool_names, "arguments": json_values}),
            st.fixed_dictionaries(
                {"protocolVersion": st.text(max_size=12), "capabilities": json_values}
            ),
        ),
    },
)
bodies = st.one_of(
    messages.map(json.dumps),
    st.lists(messages, max_size=5).map(json.dumps),
    json_values.map(json.dumps),
    st.binary(max_size=64).map(lambda b: b.decode("latin-1")),
)
versions = st.sampled_from(
    [None, "2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28", "bogus"]
)


def _valid_response(item):
    assert item["jsonrpc"] == "2.0"
    assert "id" in item
    assert ("result" in item) != ("error" in item)
    if "error" in item:
        assert isinstance(item["error"]["code"], int)
        assert isinstance(item["error"]["message"], str)


@pytest.mark.django_db
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies, version=versions)
def test_mcp_never_500s_and_always_speaks_json_rpc(brand, offer, body, version):
    mcp = Mcp(issue_key(brand, read_only=True), version=version)
    response = mcp.post(None, raw=body.encode("utf-8", "surrogatepass"))
    assert response.status_code < 500, (body, response.content[:300])
    if response.status_code == 202:
        assert response.content == b""
        return
    payload = json.loads(response.content)
    for item in payload if isinstance(payload, list) else [payload]:
        _valid_response(item)
