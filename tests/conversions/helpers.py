"""Helpers for tracking tests: real HTTP requests through Django's test client."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import parse_qs, quote, urlsplit

from django.test import Client

from conversions.models import Click

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"
    " (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605"
    ".1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


def click(
    client: Client,
    brand: str,
    offer: str,
    partner: str,
    *,
    ua: str = CHROME,
    ip: str = "81.2.69.142",
    **params: str,
):
    return client.get(f"/c/{brand}/{offer}/{partner}", params, HTTP_USER_AGENT=ua, REMOTE_ADDR=ip)


def click_id_from(response) -> str:
    location = response["Location"]
    query = parse_qs(urlsplit(location).query)
    for name in ("click_id", "c"):  # the factories' destination uses c={CLICK_ID}
        if name in query and query[name][0].startswith("clk_"):
            return query[name][0]
    return Click.objects.latest("created_at").id


def signature(secret: str, timestamp: int, canonical: bytes) -> str:
    # Written out independently of the code under test.
    return hmac.new(
        secret.encode(), str(timestamp).encode() + b"." + canonical, hashlib.sha256
    ).hexdigest()


def now_ts() -> int:
    return int(time.time())


def signed_query(secret: str, params: dict[str, str]) -> dict[str, str]:
    """``params`` plus ``ts`` and ``sig``: docs/tracking.md "Proving origin", query-string
    form, written out independently of the code under test."""
    ts = now_ts()
    canonical = "&".join(
        f"{quote(k, safe='-._~')}={quote(v, safe='-._~')}" for k, v in sorted(params.items())
    )
    return {**params, "ts": str(ts), "sig": signature(secret, ts, canonical.encode())}
