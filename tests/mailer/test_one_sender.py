"""Only the worker talks to a mail server: no project module but ``mailer/sending.py`` imports
Django's mail API (``send_mail``, ``get_connection``, ``EmailMessage``…), so a new email
cannot be sent from a request by accident; it goes through ``mailer.services.email_enqueue``."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SKIP = {".venv", "tests", "node_modules", "migrations", "build", "tools"}


def mail_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("django.core.mail"):
            found.append(node.module or "")
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("django.core.mail")]
    return found


def test_only_the_worker_side_of_the_outbox_imports_the_mail_api():
    offenders = {}
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if SKIP & set(relative.parts):
            continue
        if (imports := mail_imports(path)) and relative != Path("mailer/sending.py"):
            offenders[str(relative)] = imports
    assert offenders == {}
    assert mail_imports(ROOT / "mailer" / "sending.py")  # the check sees imports at all
