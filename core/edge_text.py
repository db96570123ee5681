"""Text from outside (visitors, partners, advertisers), made safe once, at the edge.

Every free-text value the public endpoints store (user agents, referrers, sub ids) passes
through ``clean_text`` before it is queued or written, and every slug taken from a URL passes
``is_slug`` before it is looked up. PostgreSQL refuses a NUL in a text value outright, and a
refused write at the edge either wedges a queue or turns a visitor's typo into a 5xx; control
characters are never meaningful in these fields and only make logs and admin pages lie.

Framework-free on purpose, like ``core.errors``: both the click and the postback
endpoints call it, and the unit tests need nothing but Python.
"""

from __future__ import annotations

import re

# C0 controls (NUL included), DEL, C1 controls and UTF-16 surrogates. A surrogate in a Python
# str is always a lone one (a valid pair is decoded to one code point), and it is the only
# thing a str can hold that UTF-8 cannot encode.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")

# The language of brands.models.SLUG_VALIDATOR, which every brand, offer and partner slug
# passes on save (tests/test_edge_text.py keeps the two in step). Anything else cannot name a
# stored row, so it is answered "unknown" without asking the database.
SLUG_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")


def clean_text(value: str, *, max_length: int) -> str:
    """``value`` without control characters and unencodable code points, at most
    ``max_length`` characters. Clipped after cleaning, so removed characters do not eat
    into the budget of the ones kept."""
    if _UNSAFE.search(value) is not None:
        value = _UNSAFE.sub("", value)
    return value[:max_length]


def is_slug(value: str) -> bool:
    # fullmatch, not match with "$": "$" also matches before a trailing newline.
    return SLUG_PATTERN.fullmatch(value) is not None
