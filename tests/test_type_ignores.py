"""The type-ignore rule (scripts/check_type_ignores.py, run by `make typecheck`): every
``# type: ignore`` names its error codes and gives a reason on the same line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "check_type_ignores.py"


def check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argv, no shell
        [sys.executable, str(SCRIPT), str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_tree_keeps_the_rule():
    result = check(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "line",
    [
        "x: int = f()  # type: ignore",
        "x: int = f()  # type: ignore[]  # the codes are missing",
        "x: int = f()  # type: ignore[assignment]",
        "x: int = f()  # type: ignore[assignment]  #",
        "x: int = f()  # type: ignore[assignment]  # ?",
        "x: int = f()  # noqa: E501  # type: ignore[assignment]",
    ],
)
def test_an_ignore_without_codes_or_reason_is_listed(tmp_path, line):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "mod.py").write_text(f"from lib import f\n\n{line}\n")
    result = check(tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith("app/mod.py:3: type: ignore without")


@pytest.mark.parametrize(
    "source",
    [
        "x: int = f()  # type: ignore[assignment]  # the library ships no hints\n",
        "x: int = f()  # type: ignore[assignment, misc]  # two codes, one reason\n",
        # Words in a string are not a comment.
        'DOC = "write # type: ignore[code]  # why"\n',
    ],
)
def test_an_ignore_with_codes_and_a_reason_passes(tmp_path, source):
    (tmp_path / "mod.py").write_text(f"from lib import f\n\n{source}")
    result = check(tmp_path)
    assert result.returncode == 0, result.stdout


def test_hidden_and_dependency_directories_are_not_read(tmp_path):
    for folder in (".venv/lib", "node_modules/pkg"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "mod.py").write_text("x = 1  # type: ignore\n")
    assert check(tmp_path).returncode == 0
