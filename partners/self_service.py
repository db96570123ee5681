"""A partner's view of themselves: the reads and writes a partner actor (a ``trkp_`` key or a
portal session) makes on their own partner row and the offers they may promote.

Scoping is by construction: every function starts from ``partner_self``, which reads the row
the actor names (``actor.partner_id`` in ``actor.brand_id``) and refuses any other actor, so
no argument can point a partner at another partner's data."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.db import transaction
from django.db.models import Q

from audit.actor import Actor
from audit.services import audit_record
from brands.fx import payout_currency_choices
from core.deep_links import DEEP_LINK_MAX, DeepLinkPolicy
from core.errors import NotFoundError, PermissionDeniedError, ValidationError
from core.links import tracking_link
from core.locking import lock_one
from offers.models import Offer, OfferStatus
from partners.models import Partner
from partners.selectors import partner_offer_list
from partners.services import partner_update

# What a partner may change of their own row. The email stays the brand's to change: the
# portal's sign-in link is sent to it, so a leaked write key must not be able to redirect it.
PARTNER_SELF_FIELDS = ("name", "website", "postback_url_template")
PAYOUT_DETAILS_MAX = 500


def partner_self(*, actor: Actor) -> Partner:
    """The partner the actor is. Only a partner actor has one: a brand actor reaching a
    partner-side read is a programming error, refused rather than answered brand-wide."""
    if not actor.is_partner or actor.partner_id is None:
        raise PermissionDeniedError(
            "Only a partner credential reaches this.", code="partner_credential_required"
        )
    try:
        return Partner.objects.select_related("brand").get(
            brand_id=actor.brand_id, pk=actor.partner_id
        )
    except Partner.DoesNotExist:
        raise NotFoundError("partner", actor.partner_id) from None


def partner_visible_offer(*, actor: Actor, offer_id: str) -> Offer:
    """An offer of the brand the partner may see: a public one, or a private one that lists
    them. Any other offer, of this brand or another, is "not found"."""
    partner = partner_self(actor=actor)
    offer = (
        Offer.objects.filter(brand_id=actor.brand_id, slug=offer_id)
        .filter(Q(is_private=False) | Q(allowed_partners=partner))
        .first()
    )
    if offer is None:
        raise NotFoundError("offer", offer_id)
    return offer


def partner_offer_links(*, actor: Actor) -> list[dict[str, Any]]:
    """The active offers the partner may send traffic to, each with their tracking link (the
    click handler's rule: public offers and private ones that list them)."""
    partner = partner_self(actor=actor)
    return [
        {
            "offer_id": offer.slug,
            "name": offer.name,
            "currency": offer.currency,
            "tracking_link": tracking_link(
                brand_slug=actor.brand_slug, offer_slug=offer.slug, partner_slug=partner.slug
            ),
            "deep_link_hosts": list(offer.deep_link_hosts),
        }
        for offer in partner_offer_list(actor=actor, partner=partner)
    ]


SUB_NAMES = ("sub1", "sub2", "sub3", "sub4", "sub5")


def deep_link_refusal(offer: Offer) -> str:
    """Why a deep link is refused for this offer, in words a partner can act on."""
    if not offer.deep_link_hosts:
        return "This offer takes no deep links: its links land on the offer's own page."
    return f"This offer's links may land only on {', '.join(offer.deep_link_hosts)} (https)."


def partner_build_link(
    *, actor: Actor, offer_id: str, url: str = "", **subs: str
) -> dict[str, Any]:
    """The partner's tracking link for one active offer they may promote, with sub ids and a
    deep link (``url``) checked as the click handler will check it (``core.deep_links``): a
    landing page the offer does not allow is refused here rather than silently sent to the
    offer's destination later."""
    partner = partner_self(actor=actor)
    offer = partner_visible_offer(actor=actor, offer_id=offer_id)
    if offer.status != OfferStatus.ACTIVE:
        raise NotFoundError("offer", offer_id)
    params = {name: subs[name] for name in SUB_NAMES if subs.get(name)}
    deep_link = ""
    if url:
        policy = DeepLinkPolicy.parse(offer.deep_link_hosts, destination_url=offer.destination_url)
        deep_link = policy.target(url[: DEEP_LINK_MAX + 1]) or ""
        if not deep_link:
            message = deep_link_refusal(offer)
            raise ValidationError(message, code="deep_link_not_allowed", fields={"url": [message]})
        params["url"] = deep_link
    link = tracking_link(
        brand_slug=actor.brand_slug, offer_slug=offer.slug, partner_slug=partner.slug
    )
    return {
        "offer_id": offer.slug,
        "tracking_link": f"{link}?{urlencode(params)}" if params else link,
        "deep_link": deep_link,
    }


def partner_profile_update(*, actor: Actor, **fields: Any) -> Partner:
    """Change the partner's own name, website or outbound postback URL, through the one
    partner write (``partner_update``: locked, validated, the postback URL SSRF-checked,
    audited as ``partner:<id>``)."""
    actor.require_write()
    partner = partner_self(actor=actor)
    return partner_update(
        actor=actor,
        partner=partner,
        **{name: value for name, value in fields.items() if name in PARTNER_SELF_FIELDS},
    )


def payout_details_hint(partner: Partner) -> str:
    """What a read shows of the payout details: their last four characters, never the rest
    (a leaked read key must not hand out an account number)."""
    details = partner.payout_details.strip()
    if not details:
        return ""
    return f"…{details[-4:]}" if len(details) > 8 else "…"


@transaction.atomic
def partner_payout_details_update(
    *,
    actor: Actor,
    payout_method: str | None = None,
    payout_details: str | None = None,
    payout_currency: str | None = None,
) -> Partner:
    """The partner's payout method (one of the brand's closed list, ``Brand.payout_methods``),
    the details it needs (an account, an address; encrypted at rest) and the currency they are
    paid in (one of ``brands.fx.payout_currency_choices``; empty: each payout's own currency).
    Audited as ``partner.payout_details_update`` with the method, the currency and only
    whether the details changed."""
    actor.require_write()
    partner = partner_self(actor=actor)
    locked = lock_one(
        Partner.objects.filter(pk=partner.pk, brand_id=actor.brand_id).select_related("brand"),
        not_found=("partner", partner.slug),
        of=("self",),
    )
    methods = locked.brand.payout_methods
    changes: dict[str, list[Any]] = {}
    if payout_method is not None:
        method = payout_method.strip().lower()
        if method and method not in methods:
            choices = ", ".join(methods) if methods else "none yet: ask the brand"
            raise ValidationError(
                f"payout_method must be one of this brand's methods ({choices}).",
                code="unknown_payout_method",
                fields={"payout_method": [f"One of: {choices}."]},
            )
        if method != locked.payout_method:
            changes["payout_method"] = [locked.payout_method, method]
            locked.payout_method = method
    if payout_details is not None:
        details = payout_details.strip()
        if len(details) > PAYOUT_DETAILS_MAX or "\x00" in details:
            raise ValidationError(
                f"payout_details takes at most {PAYOUT_DETAILS_MAX} characters of text.",
                fields={"payout_details": ["Too long, or not text."]},
            )
        if details != locked.payout_details:
            # Never the details themselves in the audit log: only that they changed.
            changes["payout_details"] = [
                "set" if locked.payout_details else "",
                "set" if details else "",
            ]
            locked.payout_details = details
    if payout_currency is not None:
        code = payout_currency.strip().upper()
        if code != locked.payout_currency:
            currencies = payout_currency_choices(brand=locked.brand)
            if code and code not in currencies:
                raise ValidationError(
                    f"payout_currency must be one of the currencies this brand can pay in "
                    f"({', '.join(currencies)}), or empty for each payout's own currency.",
                    code="unknown_payout_currency",
                    fields={"payout_currency": [f"One of: {', '.join(currencies)}."]},
                )
            changes["payout_currency"] = [locked.payout_currency, code]
            locked.payout_currency = code
    if changes:
        locked.save(
            update_fields=["payout_method", "payout_details", "payout_currency", "updated_at"]
        )
        audit_record(
            actor=actor, action="partner.payout_details_update", target=locked, changes=changes
        )
    return locked
