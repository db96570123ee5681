"""Keeps postback credentials out of logs: the value of a ``secret`` or ``sig`` query parameter
(the paste-a-URL integration sends the offer's secret itself as ``?secret=``) is replaced by
``[redacted]`` wherever a URL or query string is logged — gunicorn's access log
(``trcker_site.gunicorn_logging``) and Django's own loggers (``RedactSecretsFilter``).

Parameter names are compared after percent-decoding, as Django decodes them: ``s%65cret=`` is
the same parameter to the postback endpoint, so it must be the same to the redactor. Framework-
free (no Django import) so the gunicorn master can load it before Django is set up."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote_plus

REDACTED_PARAMS = frozenset({"secret", "sig"})
REDACTED = "[redacted]"
# name=value inside a query string: after ?, &, ; or the start of the text; the value runs to
# the next separator, whitespace (the end of a request line) or quote.
_PAIR = re.compile(r"(^|[?&;])([^=&;?#\s\"']+)=([^&;#\s\"']*)")


def _redact_pair(match: re.Match[str]) -> str:
    prefix, name, _value = match.groups()
    if unquote_plus(name).strip().lower() in REDACTED_PARAMS:
        return f"{prefix}{name}={REDACTED}"
    return match.group(0)


def redact(text: str) -> str:
    if "=" not in text:
        return text
    return _PAIR.sub(_redact_pair, text)


def _redact_value(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactSecretsFilter(logging.Filter):
    """Redacts the formatted message (and any traceback text) of every record it sees. Django
    logs request paths and, for runserver, the whole request line; a filter on the handler sees
    all of them whatever logger they came from."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
