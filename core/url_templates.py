"""Filling ``{PLACEHOLDER}`` URL templates. Every value is percent-encoded with no safe
characters, so a value can never add a path segment, a query parameter, credentials, a host
or a header (``@evil.com/``, ``../``, ``%0d%0a`` all arrive as inert text)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote, urlsplit, urlunsplit

PLACEHOLDER = re.compile(r"\{([A-Z][A-Z0-9_]*)\}")


def render_url_template(template: str, values: Mapping[str, object]) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        value = values[name]
        return quote("" if value is None else str(value), safe="")

    parts = urlsplit(template)
    # Only the path, query and fragment are filled; the scheme and authority are fixed by
    # the template itself, so no value can move the request to another host.
    return urlunsplit(
        (
            parts.scheme,
            parts.netloc,
            PLACEHOLDER.sub(fill, parts.path),
            PLACEHOLDER.sub(fill, parts.query),
            PLACEHOLDER.sub(fill, parts.fragment),
        )
    )


def add_query_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    pair = f"{quote(name, safe='')}={quote(value, safe='')}"
    query = f"{parts.query}&{pair}" if parts.query else pair
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
