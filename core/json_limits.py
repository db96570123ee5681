"""JSON parsing with a bound on nesting depth, for every endpoint that parses a request body
(MCP, the REST parser, the inbound postback).

``json.loads`` recurses once per nesting level and raises RecursionError (a 500) on a body of
100,000 ``[``; a body nested 900 levels parses, and then whatever walks it recursively
(serializers, ``json.dumps`` of an echo, audit ``changes``) may blow up instead. So the depth is
measured on the bytes before parsing, without recursion and in C loops (``bytes.translate``,
``replace``, ``split``, ``accumulate``), at a cost per byte below json.loads' own:

1. Escapes are removed (``\\\\`` pairs, then ``\\"``), so every remaining quote delimits a
   string; every byte but quotes, brackets, ``,`` and ``:`` is dropped, ``{}`` become ``[]``.
2. Strings are now empty (``""``) unless they held brackets; empty ones are deleted (two
   strings are never adjacent in JSON: a separator or bracket always stands between them),
   and the few left are cut out by splitting on quotes.
3. The depth of the bracket skeleton is measured (see _depth).
A body with no more opening brackets than the limit is passed after two counts.
"""

from __future__ import annotations

import json
import operator
import re
from itertools import accumulate
from typing import Any

MAX_DEPTH = 32

# Kept by the first translate: quotes, brackets (both kinds as "[" and "]"), separators.
_STRUCTURE = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{},:')
_RUNS = re.compile(rb"\[+|\]+")
_WS = re.compile(r"[ \t\n\r]*")  # JSON whitespace
# Passes of innermost-pair deletion tried before the remainder is measured run by run.
_CHEAP_PASSES = 4


class JsonTooLong(ValueError):  # noqa: N818 - named for what the caller reports
    """A top-level array holds more elements than allowed (an oversize JSON-RPC batch)."""

    def __init__(self, max_items: int) -> None:
        super().__init__(f"JSON array longer than {max_items} elements.")
        self.max_items = max_items


class JsonTooDeep(ValueError):  # noqa: N818 - named for what the caller reports
    """The document nests arrays/objects deeper than allowed."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"JSON nested deeper than {max_depth} levels.")
        self.max_depth = max_depth


def check_depth(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> None:
    """Raise JsonTooDeep when ``raw`` nests deeper than ``max_depth`` (checked without
    parsing; invalid JSON that is not too deep passes, for the parser to refuse)."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return  # fewer opening brackets than the limit: cannot be deeper
    if b"\\" in data:
        # Left to right, as a parser pairs them: "\\\\" is two escaped backslashes.
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = data.translate(_STRUCTURE, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in skeleton:
        skeleton = b"".join(skeleton.split(b'"')[0::2])  # outside strings: even pieces
    if _depth(skeleton.translate(None, b",:")) > max_depth:
        raise JsonTooDeep(max_depth)


def _depth(brackets: bytes) -> int:
    """An upper bound of the nesting a parser reaches in ``brackets`` (only ``[`` and ``]``),
    exact for balanced input. Each pass deletes every innermost pair (memchr speed), which
    lowers every remaining group's height by exactly one; a real document is usually empty
    after a few. What is left is measured by runs: runs of opens and closes alternate, so the
    deepest point is the largest running sum of the run lengths with the closes negated. Runs
    left after k passes are at most about one per k+1 brackets of the original."""
    passes = 0
    while brackets and passes < _CHEAP_PASSES:
        reduced = brackets.replace(b"[]", b"")
        if len(reduced) == len(brackets):
            break
        brackets, passes = reduced, passes + 1
    if not brackets:
        return passes
    lengths = list(map(len, _RUNS.findall(brackets)))
    closes = slice(1, None, 2) if brackets[:1] == b"[" else slice(0, None, 2)
    lengths[closes] = map(operator.neg, lengths[closes])
    return passes + max(0, *accumulate(lengths))


def loads_bounded(
    raw: bytes | str, *, max_depth: int = MAX_DEPTH, max_items: int | None = None, **kwargs: Any
) -> Any:
    """``json.loads(raw, **kwargs)`` after check_depth: JsonTooDeep (a ValueError) when too deep,
    ValueError/UnicodeDecodeError when not JSON, as json.loads raises them. With ``max_items``,
    a top-level array longer than that is JsonTooLong, raised as soon as the element past the
    limit is reached: the elements after it are never parsed."""
    check_depth(raw, max_depth=max_depth)
    try:
        if max_items is None:
            return json.loads(raw, **kwargs)
        return _loads_short_array(raw, max_items, **kwargs)
    except RecursionError:  # a gap in check_depth must still never be a 500
        raise JsonTooDeep(max_depth) from None


def _skip_ws(text: str, index: int) -> int:
    """The index past the JSON whitespace at ``index``."""
    match = _WS.match(text, index)
    assert match is not None  # _WS matches the empty string too
    return match.end()


def _loads_short_array(raw: bytes | str, max_items: int, **kwargs: Any) -> Any:
    """json.loads, except that a top-level array is read one element at a time (the JSON
    grammar of ``[ value , … ]`` with JSON whitespace), stopping past ``max_items``."""
    if isinstance(raw, bytes | bytearray):
        text = bytes(raw).decode(json.detect_encoding(raw), "surrogatepass")  # as json.loads
    else:
        text = raw
    index = _skip_ws(text, 0)
    if not text.startswith("[", index):
        return json.loads(text, **kwargs)
    decoder = json.JSONDecoder(**kwargs)
    items: list[Any] = []
    index = _skip_ws(text, index + 1)
    if not text.startswith("]", index):
        while True:
            if len(items) == max_items:
                raise JsonTooLong(max_items)
            item, index = decoder.raw_decode(text, index)
            items.append(item)
            index = _skip_ws(text, index)
            if text.startswith(",", index):
                index = _skip_ws(text, index + 1)
            elif text.startswith("]", index):
                break
            else:
                raise json.JSONDecodeError("Expecting ',' delimiter", text, index)
    if _skip_ws(text, index + 1) != len(text):
        raise json.JSONDecodeError("Extra data", text, index + 1)
    return items
