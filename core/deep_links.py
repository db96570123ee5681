"""Deep links: a tracking link's ``url=`` that lands the visitor on another page of a site the
offer allows (docs/partners.md, "Deep links").

The offer keeps a list of hosts (``Offer.deep_link_hosts``): an exact host (``shop.example.com``)
or every subdomain of one (``*.example.com``, which does not match ``example.com`` itself).
``DeepLinkPolicy`` is that list parsed once (the click handler keeps it in its cached offer
config); ``DeepLinkPolicy.target`` decides on one requested URL and answers the URL to send the
visitor to, or None (the click then goes to the offer's destination, as without ``url=``).

Never an open redirect: the answer is rebuilt from parts this module checked, and anything it
cannot read exactly as a browser would is refused rather than repaired:

- only ``https`` (and ``http`` when the offer's own destination is ``http``);
- the authority is the host alone: no user info (``https://allowed.com@evil.com``), no port,
  no IP literal, no trailing dot, no percent-escape; host names are ASCII (an
  internationalised host is written in its ``xn--`` form, in the URL and in the list);
- no backslash (a browser reads ``\\`` as ``/``, Python does not), no whitespace or control
  character (``urlsplit`` silently drops tabs and newlines), at most ``DEEP_LINK_MAX`` characters;
- the path, query and fragment are kept, characters outside printable ASCII percent-encoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

DEEP_LINK_MAX = 2048
HOSTS_MAX = 50
# One DNS label: letters, digits and inner hyphens, at most 63 characters.
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
HOST_RE = re.compile(rf"^(?=.{{1,253}}$)(?:{_LABEL}\.)+{_LABEL}$")
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
# Printable ASCII a path, query or fragment may carry as it is ({} for placeholders).
_KEEP = "!#$%&'()*+,-./:;=?@[]_~{}"


class DeepLinkHostError(ValueError):
    """An allowlist entry that is not a host name or a ``*.`` host pattern."""


def normalise_host_entry(entry: str) -> str:
    """One allowlist entry, lower-cased, an internationalised host in its ``xn--`` form."""
    text = str(entry).strip().lower()
    wildcard = text.startswith("*.")
    host = text[2:] if wildcard else text
    try:
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise DeepLinkHostError(entry) from None
    if not HOST_RE.match(ascii_host) or ascii_host.replace(".", "").isdigit():
        raise DeepLinkHostError(entry)
    return f"*.{ascii_host}" if wildcard else ascii_host


@dataclass(frozen=True, slots=True)
class DeepLinkPolicy:
    exact: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()  # ".example.com" for "*.example.com"
    allow_http: bool = False

    @classmethod
    def parse(cls, hosts: list[str], *, destination_url: str) -> DeepLinkPolicy:
        """The stored list (normalised on save) as sets; an entry that slipped past the save
        checks is ignored rather than trusted."""
        exact: set[str] = set()
        suffixes: set[str] = set()
        for entry in hosts or ():
            try:
                host = normalise_host_entry(entry)
            except DeepLinkHostError:
                continue
            if host.startswith("*."):
                suffixes.add(host[1:])
            else:
                exact.add(host)
        return cls(
            exact=frozenset(exact),
            suffixes=tuple(sorted(suffixes)),
            allow_http=destination_url.lower().startswith("http:"),
        )

    @property
    def enabled(self) -> bool:
        return bool(self.exact or self.suffixes)

    def allows_host(self, host: str) -> bool:
        return host in self.exact or any(host.endswith(suffix) for suffix in self.suffixes)

    def target(self, raw: str) -> str | None:
        """The URL to send the visitor to for ``url=raw``, or None: not allowed."""
        if not raw or not self.enabled or len(raw) > DEEP_LINK_MAX or _BAD_CHARS.search(raw):
            return None
        try:
            parts = urlsplit(raw)
        except ValueError:
            return None
        scheme = parts.scheme  # urlsplit lower-cases it
        if scheme != "https" and not (scheme == "http" and self.allow_http):
            return None
        host = parts.netloc.lower()
        if not host.isascii() or not HOST_RE.match(host) or not self.allows_host(host):
            return None
        path = quote(parts.path, safe=_KEEP)
        if path and not path.startswith("/"):
            return None
        url = f"{scheme}://{host}{path or '/'}"
        if parts.query:
            url += "?" + quote(parts.query, safe=_KEEP)
        if parts.fragment:
            url += "#" + quote(parts.fragment, safe=_KEEP)
        return url if len(url) <= DEEP_LINK_MAX else None
