"""Every ``# type: ignore`` names the errors it silences and says why, on the same line:

    x = untyped()  # type: ignore[no-any-return]  # the library ships no hints

mypy already refuses one without error codes (``ignore-without-code``) and one that silences
nothing (``warn_unused_ignores``); the reason is this script's. Run by ``make typecheck``
and tests/test_type_ignores.py. Usage: ``check_type_ignores.py [ROOT]`` (default: the project);
prints each offending line and exits 1 when there is one.
"""

from __future__ import annotations

import io
import re
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path

# Directories that hold no code of ours.
SKIP_DIRS = {"node_modules", "__pycache__", "build", "dist"}

IGNORE = re.compile(r"#\s*type:\s*ignore\b(?P<codes>\[[^\]]*\])?(?P<rest>.*)$")
# After the codes: another comment with some words in it.
REASON = re.compile(r"^\s*#\s*\S.*[A-Za-z]{2}")


def problems_in(source: str) -> Iterator[tuple[int, str]]:
    """(line, what is wrong) for each ignore comment of ``source``. Comments only, read with
    the tokenizer: the words in a string (like the examples in this file) do not count."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    for token in tokens:
        if token.type != tokenize.COMMENT:
            continue
        found = IGNORE.search(token.string)
        if found is None:
            continue
        if not found["codes"] or found["codes"] == "[]":
            yield token.start[0], "type: ignore without an error code"
        elif not REASON.match(found["rest"]):
            yield token.start[0], "type: ignore without a reason (`# type: ignore[code]  # why`)"


def python_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts[:-1]
        if any(part.startswith(".") or part in SKIP_DIRS for part in parts):
            continue
        yield path


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent
    failures = 0
    for path in python_files(root):
        try:
            found = list(problems_in(path.read_text(encoding="utf-8")))
        except (SyntaxError, tokenize.TokenError, UnicodeDecodeError) as exc:
            sys.stdout.write(f"{path.relative_to(root)}: cannot be read ({exc})\n")
            failures += 1
            continue
        for line, message in found:
            sys.stdout.write(f"{path.relative_to(root)}:{line}: {message}\n")
            failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
