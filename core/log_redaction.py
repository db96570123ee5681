"""Keeps credentials out of logs wherever a URL or query string is logged — gunicorn's access
log (``trcker_site.gunicorn_logging``) and Django's own loggers (``RedactSecretsFilter``):

- the value of a ``secret`` or ``sig`` query parameter (the paste-a-URL integration sends the
  offer's secret itself as ``?secret=``), of an invitation's ``invite`` and of the ``code`` an
  OpenID provider sends back to the portal, replaced by ``[redacted]``;
- the token of a portal sign-in link (``/p/<brand>/login/link/<token>/``): it is a path
  segment, and the confirmation page's GET (a mail scanner's too) is logged while the link is
  still valid.

Parameter names are compared after percent-decoding, as Django decodes them: ``s%65cret=`` is
the same parameter to the postback endpoint, so it must be the same to the redactor. Framework-
free (no Django import) so the gunicorn master can load it before Django is set up."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote_plus

REDACTED_PARAMS = frozenset({"secret", "sig", "invite", "code"})
REDACTED = "[redacted]"
# name=value inside a query string: after ?, &, ; or the start of the text; the value runs to
# the next separator, whitespace (the end of a request line) or quote.
_PAIR = re.compile(r"(^|[?&;])([^=&;?#\s\"']+)=([^&;#\s\"']*)")


def _redact_pair(match: re.Match[str]) -> str:
    prefix, name, _value = match.groups()
    if unquote_plus(name).strip().lower() in REDACTED_PARAMS:
        return f"{prefix}{name}={REDACTED}"
    return match.group(0)


# The one secret carried in a path: whatever follows /login/link/ up to the next separator.
_LINK_TOKEN = re.compile(r"(/login/link/)[^/?#\s\"']+")


def redact(text: str) -> str:
    if "/login/link/" in text:
        text = _LINK_TOKEN.sub(rf"\g<1>{REDACTED}", text)
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
