"""The file-size rule: no Python file over 500 lines outside migrations and tests, unless its
module docstring says why it is one unit ("One unit: <reason>").

A long file is usually two things that grew together; splitting it is the default, and a file
that really is one thing says so where the next reader looks first. Run from `make lint` and
CI: `python scripts/check_file_sizes.py [ROOT]` prints each offender and exits 1.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

MAX_LINES = 500
# The reason must follow the marker on the same line: "One unit: the JSON-RPC state machine…".
MARKER = re.compile(r"One unit:[ \t]*\S")
# Generated or test code, and what the project does not own.
SKIPPED_DIRS = {"migrations", "tests", ".venv", "node_modules", ".git", "build", "var"}


def python_files(root: Path) -> list[Path]:
    return sorted(
        path
        for path in root.rglob("*.py")
        if not SKIPPED_DIRS.intersection(path.relative_to(root).parts[:-1])
    )


def offenders(root: Path) -> list[tuple[Path, int]]:
    found = []
    for path in python_files(root):
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines <= MAX_LINES:
            continue
        docstring = ast.get_docstring(ast.parse(text, filename=str(path))) or ""
        if not MARKER.search(docstring):
            found.append((path.relative_to(root), lines))
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent
    found = offenders(root)
    for path, lines in found:
        sys.stdout.write(
            f"{path}: {lines} lines (limit {MAX_LINES}); split it, or say why it is one unit "
            f'in its module docstring ("One unit: <reason>")\n'
        )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
