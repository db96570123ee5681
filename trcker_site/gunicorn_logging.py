"""gunicorn's access log without postback credentials, and with the request id.

Credentials: gunicorn prints the request line (``%(r)s``) and can print the query (``%(q)s``),
the referrer and any header or environ value; a format string cannot drop one parameter, so
this logger class redacts ``secret=`` and ``sig=`` values (core.log_redaction) in every atom
before the line is formatted.

Request id: every access line ends with ``[req=<id>]``, the X-Request-ID the app answered
with (trcker_site/middleware.py), whatever access-log format is configured, so it can be
matched with the app's own lines for that request (``[req=…]`` in settings.LOGGING). A
format that already prints the response's X-Request-ID is left as it is.

Use: ``gunicorn --logger-class trcker_site.gunicorn_logging.RedactingLogger …`` (as
scripts/run-local.sh does; docs/security.md, "Secrets in logs")."""

from __future__ import annotations

import traceback
from typing import Any

from gunicorn.glogging import Logger

from core.log_redaction import redact

REQUEST_ID_ATOM = "{x-request-id}o"


class RedactingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        return {
            key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()
        }

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        # gunicorn's Logger.access, with the request id added to the configured format.
        if not self.access_log_enabled:
            return
        safe_atoms = self.atoms_wrapper_class(self.atoms(resp, req, environ, request_time))
        line_format = self.cfg.access_log_format
        if REQUEST_ID_ATOM not in line_format.lower():
            line_format += f" [req=%({REQUEST_ID_ATOM})s]"
        try:
            self.access_log.info(line_format, safe_atoms)
        except Exception:
            self.error(traceback.format_exc())
