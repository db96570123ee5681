"""A newcomer's first hour (issue 13): after `make run`, `python manage.py …` works in a fresh
shell as the README writes it, and `make run`'s MCP endpoint takes a browser on localhost as
well as on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.live_server import ROOT, app_env

# What `manage.py shell -c` prints: the settings a command runs with.
SHOW_SETTINGS = (
    "from django.conf import settings as s; "
    "print(s.SECRET_KEY, s.TRCKER_PUBLIC_URL, s.DEBUG, s.ALLOWED_HOSTS, sep='|')"
)


def fresh_shell_env(**extra: str) -> dict[str, str]:
    """A new terminal's environment: none of the settings `make run` exported."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}
    env.update(extra)
    return env


def make_run_leftovers(directory: Path) -> Path:
    """What scripts/run-local.sh leaves in var/ for a run on port 8123."""
    directory.mkdir(mode=0o700)
    (directory / "secret_key").write_text("key-make-run-generated-into-var\n")
    (directory / "local.env").write_text(
        "DEBUG=0\n"
        "ALLOWED_HOSTS=127.0.0.1,localhost\n"
        "TRCKER_PUBLIC_URL=http://127.0.0.1:8123\n"
        f"DATABASE_URL=sqlite:///{directory / 'db.sqlite3'}\n"
    )
    return directory


def manage(python: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own command, fixed arguments
        [python, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_python_without_django_runs_the_command_with_make_runs_settings(tmp_path):
    # The interpreter the venv was made from: what `python` is in a fresh shell.
    base_python = getattr(sys, "_base_executable", "") or "python3"
    probe = subprocess.run(  # noqa: S603 - the test's own interpreter
        [base_python, "-c", "import django"], capture_output=True, timeout=60
    )
    if probe.returncode == 0:
        pytest.skip(f"{base_python} can import Django: nothing to re-execute")
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv in the project (make run / make test build it)")
    local = make_run_leftovers(tmp_path / "var")

    done = manage(
        base_python,
        fresh_shell_env(TRCKER_LOCAL_DIR=str(local)),
        "shell",
        "-v",
        "0",
        "-c",
        SHOW_SETTINGS,
    )

    assert done.returncode == 0, done.stderr
    # Standard output is the command's answer only (create_api_key prints only the key): no
    # log line of a library starting up.
    assert done.stdout.splitlines() == [
        "key-make-run-generated-into-var|http://127.0.0.1:8123|False|['127.0.0.1', 'localhost']"
    ]


def test_the_environment_wins_over_make_runs_file(tmp_path):
    local = make_run_leftovers(tmp_path / "var")
    env = fresh_shell_env(TRCKER_LOCAL_DIR=str(local), TRCKER_PUBLIC_URL="https://t.example")

    done = manage(sys.executable, env, "shell", "-v", "0", "-c", SHOW_SETTINGS)

    assert done.returncode == 0, done.stderr
    key, public_url, *_ = done.stdout.strip().split("|")
    assert (key, public_url) == ("key-make-run-generated-into-var", "https://t.example")


def test_with_secret_key_in_the_environment_nothing_local_is_read(tmp_path):
    local = make_run_leftovers(tmp_path / "var")
    env = fresh_shell_env(TRCKER_LOCAL_DIR=str(local), SECRET_KEY="key-from-the-environment")

    done = manage(sys.executable, env, "shell", "-v", "0", "-c", SHOW_SETTINGS)

    assert done.returncode == 0, done.stderr
    # Neither the key file nor local.env: the URL is the settings' own default.
    assert done.stdout.strip() == "key-from-the-environment|http://127.0.0.1:8000|False|[]"


@pytest.mark.parametrize(
    "command",
    [("check",), ("makemigrations", "--check", "--dry-run"), ("showmigrations",)],
    ids=" ".join,
)
def test_without_make_run_and_without_secret_key_the_settings_still_refuse(tmp_path, command):
    env = fresh_shell_env(TRCKER_LOCAL_DIR=str(tmp_path / "never-ran"))

    done = manage(sys.executable, env, *command)

    assert done.returncode != 0
    # The settings' own explanation, whichever command runs first into them (Django defers a
    # settings error, and some commands then fail on "Models aren't loaded yet").
    assert "SECRET_KEY must be set when DEBUG is off" in done.stderr
    assert "AppRegistryNotReady" not in done.stderr


# --- make run's MCP endpoint and browser origins ---------------------------------------------


def test_make_runs_mcp_takes_127_0_0_1_and_localhost_origins(app_server):
    # What scripts/run-local.sh sets (and no TRCKER_MCP_ALLOWED_ORIGINS): the origin check
    # compares with the settings, whichever port this test server got.
    env = app_env(TRCKER_PUBLIC_URL="http://127.0.0.1:8000", ALLOWED_HOSTS="127.0.0.1,localhost")
    env.pop("TRCKER_MCP_ALLOWED_ORIGINS", None)
    server = app_server(env=env, workers=1)

    def status_with(origin: str) -> int:
        return requests.post(
            server.url("/api/mcp"),
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"Origin": origin},
            timeout=10,
        ).status_code

    # Past the origin check, a request without a key is a 401; a refused origin is a 403.
    for allowed in ("http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"):
        assert status_with(allowed) == 401, allowed
    for refused in ("http://localhost:8001", "https://localhost:8000", "http://evil.example"):
        assert status_with(refused) == 403, refused
