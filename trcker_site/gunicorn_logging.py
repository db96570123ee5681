"""gunicorn's access log without postback credentials. gunicorn prints the request line
(``%(r)s``) and can print the query (``%(q)s``), the referrer and any header or environ value;
a format string cannot drop one parameter, so this logger class redacts ``secret=`` and
``sig=`` values (core.log_redaction) in every atom before the line is formatted.

Use: ``gunicorn --logger-class trcker_site.gunicorn_logging.RedactingLogger …`` (as
scripts/run-local.sh does; docs/security.md, "Secrets in logs")."""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from core.log_redaction import redact


class RedactingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        return {
            key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()
        }
