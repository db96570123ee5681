"""Facts about a visitor derived from the request: country, device class, bot and preview
detection, network origin. All offline, all cached per process (parsing a user agent is the
most expensive step of a click)."""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import crawleruseragents
import iporigin
import iptocc
from django.conf import settings
from ua_parser import parse as parse_user_agent

from offers.models import DeviceClass

if TYPE_CHECKING:
    import maxminddb

logger = logging.getLogger(__name__)

# Link unfurlers and previewers: they follow links to render cards, not people clicking.
PREVIEW_AGENTS = re.compile(
    r"slackbot-linkexpanding|slack-imgproxy|facebookexternalhit|facebot|twitterbot|"
    r"linkedinbot|discordbot|whatsapp|telegrambot|skypeuripreview|embedly|pinterestbot|"
    r"redditbot|mastodon|iframely|google-pagerenderer|applebot|vkshare|bitlybot",
    re.IGNORECASE,
)
NON_BROWSER_AGENTS = re.compile(
    r"^(curl|wget|python-requests|python-urllib|python-httpx|aiohttp|go-http-client|java/|"
    r"okhttp|libwww-perl|httpie|node-fetch|axios|postmanruntime|insomnia)|headlesschrome|"
    r"phantomjs|selenium|puppeteer|playwright",
    re.IGNORECASE,
)
TABLET_HINT = re.compile(r"ipad|tablet|kindle|silk|playbook|(android(?!.*mobile))", re.IGNORECASE)
MOBILE_HINT = re.compile(
    r"mobi|iphone|ipod|android.*mobile|windows phone|blackberry", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class UserAgentInfo:
    device_class: str  # desktop, mobile, tablet, or "" when unknown (bots, empty)
    is_bot: bool
    is_preview: bool
    is_empty: bool


@lru_cache(maxsize=16384)
def classify_user_agent(user_agent: str) -> UserAgentInfo:
    ua = user_agent.strip()
    if not ua:
        return UserAgentInfo(device_class="", is_bot=False, is_preview=False, is_empty=True)
    is_preview = bool(PREVIEW_AGENTS.search(ua))
    is_bot = is_preview or bool(NON_BROWSER_AGENTS.search(ua)) or crawleruseragents.is_crawler(ua)
    if is_bot:
        return UserAgentInfo(device_class="", is_bot=True, is_preview=is_preview, is_empty=False)
    parsed = parse_user_agent(ua)
    family = (parsed.device.family if parsed.device else "") or ""
    if family == "Spider":
        return UserAgentInfo(device_class="", is_bot=True, is_preview=False, is_empty=False)
    if TABLET_HINT.search(ua) or "tablet" in family.lower():
        device = DeviceClass.TABLET
    elif MOBILE_HINT.search(ua):
        device = DeviceClass.MOBILE
    else:
        device = DeviceClass.DESKTOP
    return UserAgentInfo(device_class=str(device), is_bot=False, is_preview=False, is_empty=False)


def is_prefetch(meta: dict[str, str]) -> bool:
    purpose = (meta.get("HTTP_SEC_PURPOSE") or meta.get("HTTP_PURPOSE") or "").lower()
    return "prefetch" in purpose or "prerender" in purpose


@lru_cache(maxsize=1)
def _geoip_reader() -> maxminddb.Reader | None:
    path = settings.TRCKER_GEOIP_PATH
    if not path:
        return None
    try:
        import maxminddb

        return maxminddb.open_database(path)
    except Exception:
        logger.exception("TRCKER_GEOIP_PATH %s could not be opened; using iptocc", path)
        return None


@lru_cache(maxsize=65536)
def country_for_ip(ip: str | None) -> str:
    """ISO country of an address: the operator's GeoIP2 database when configured, else the
    RIR-assigned country from iptocc. "" when unknown (private, malformed)."""
    if not ip:
        return ""
    reader = _geoip_reader()
    if reader is not None:
        try:
            record = reader.get(ip)
        except ValueError:
            return ""
        if isinstance(record, dict):
            country = record.get("country") or record.get("registered_country") or {}
            code = country.get("iso_code") if isinstance(country, dict) else None
            if code:
                return str(code).upper()
    try:
        return (iptocc.country_code(ip) or "").upper()
    except (ValueError, TypeError):
        return ""


def visitor_country(*, ip: str | None, meta: dict[str, str], via_trusted_proxy: bool) -> str:
    if via_trusted_proxy:
        header = "HTTP_" + settings.TRCKER_COUNTRY_HEADER.upper().replace("-", "_")
        value = (meta.get(header) or "").strip().upper()
        if len(value) == 2 and value.isalpha() and value not in {"XX", "T1"}:
            return value
    return country_for_ip(ip)


@lru_cache(maxsize=65536)
def network_kind(ip: str | None) -> str:
    """hosting / vpn / tor / crawler / "" (residential or unknown), from iporigin's table."""
    if not ip:
        return ""
    try:
        if not ipaddress.ip_address(ip).is_global:
            return ""
        origin = iporigin.classify(ip)
    except ValueError:
        return ""
    kind = getattr(origin, "kind", None) if origin else None
    return "" if kind in (None, "", "unknown") else str(kind)
