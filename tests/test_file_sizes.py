"""The file-size rule (scripts/check_file_sizes.py): no Python file over 500 lines outside
migrations and tests unless its module docstring says why it is one unit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "check_file_sizes.py"


def check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argv, no shell
        [sys.executable, str(SCRIPT), str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write(root: Path, relative: str, docstring: str | None, lines: int) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    head = [f'"""{docstring}"""'] if docstring is not None else []
    body = [f"x{n} = {n}" for n in range(lines - len(head))]
    path.write_text("\n".join(head + body) + "\n")


def test_the_tree_keeps_the_rule():
    result = check(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_long_files_without_a_reason_are_listed(tmp_path):
    write(tmp_path, "app/long.py", "Writes for things.", 501)
    write(tmp_path, "app/no_docstring.py", None, 600)
    write(tmp_path, "app/empty_reason.py", "One unit:\n\nNothing said.", 501)
    write(tmp_path, "app/comment_only.py", "Writes.", 501)
    (tmp_path / "app/comment_only.py").write_text(
        "# One unit: a comment is not the docstring\n"
        + (tmp_path / "app/comment_only.py").read_text()
    )
    write(tmp_path, "app/at_limit.py", "Writes.", 500)
    write(tmp_path, "app/one_unit.py", "Protocol.\n\nOne unit: the JSON-RPC state machine.", 700)
    write(tmp_path, "app/migrations/0001_initial.py", None, 900)
    write(tmp_path, "tests/test_big.py", None, 900)
    write(tmp_path, "app/tests/test_nested.py", None, 900)

    result = check(tmp_path)

    assert result.returncode == 1
    listed = sorted(line.split(":")[0] for line in result.stdout.splitlines())
    assert listed == [
        "app/comment_only.py",
        "app/empty_reason.py",
        "app/long.py",
        "app/no_docstring.py",
    ]
    assert "app/long.py: 501 lines (limit 500)" in result.stdout


def test_a_tree_within_the_rule_passes(tmp_path):
    write(tmp_path, "app/at_limit.py", "Writes.", 500)
    write(tmp_path, "app/one_unit.py", "Protocol.\n\nOne unit: the JSON-RPC state machine.", 700)

    result = check(tmp_path)

    assert (result.returncode, result.stdout) == (0, "")
