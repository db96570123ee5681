"""Public URLs Trcker hands out, built deterministically from TRCKER_PUBLIC_URL."""

from __future__ import annotations

from urllib.parse import quote

from django.conf import settings


def public_url(path: str) -> str:
    return f"{settings.TRCKER_PUBLIC_URL}{path}"


def tracking_link(*, brand_slug: str, offer_slug: str, partner_slug: str) -> str:
    return public_url(f"/c/{quote(brand_slug)}/{quote(offer_slug)}/{quote(partner_slug)}")


def tracking_link_template(*, brand_slug: str, offer_slug: str) -> str:
    return public_url(f"/c/{quote(brand_slug)}/{quote(offer_slug)}/{{PARTNER_ID}}")


def inbound_postback_url(*, brand_slug: str, offer_slug: str) -> str:
    # The URL the brand gives its advertiser/store backend; the advertiser fills the macros.
    return public_url(
        f"/api/postback/{quote(brand_slug)}/{quote(offer_slug)}"
        "?click_id={click_id}&txn_id={txn_id}&amount={amount}&currency={currency}&event={event}"
    )
