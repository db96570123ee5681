"""The partner lifecycle's emails, queued in the transaction of the write that causes them
(``mailer.services.email_enqueue``; the worker sends them): welcome and tracking setup on
approval, the application notice to the brand's owners. Rendered now, from what the write
sees: an email says what was true when it was caused."""

from __future__ import annotations

import logging
from typing import Any

from django.template.loader import render_to_string
from django.urls import reverse

from audit.actor import Actor
from brands.models import Brand
from core.links import public_url, tracking_link
from mailer.models import EmailKind
from mailer.services import email_enqueue, one_line
from partners.models import Partner
from partners.selectors import (
    brand_owner_membership_list,
    partner_active_coupon_list,
    partner_offer_list,
)

logger = logging.getLogger(__name__)

# Links listed in one tracking-setup email; a brand with more active offers says how many
# more there are instead of sending a wall of links.
SETUP_EMAIL_MAX_LINKS = 100


def _queue(
    *,
    brand_id: int,
    kind: EmailKind,
    subject: str,
    template: str,
    context: dict[str, Any],
    to: str,
    reply_to: str = "",
) -> None:
    """A plain-text email with an HTML alternative, from ``emails/<template>.txt`` and
    ``.html`` (the text one renders with autoescape off, the HTML one escapes everything)."""
    email_enqueue(
        brand_id=brand_id,
        kind=kind,
        to=to,
        reply_to=reply_to,
        subject=one_line(subject, 150),
        text=render_to_string(f"emails/{template}.txt", context),
        html=render_to_string(f"emails/{template}.html", context),
    )


def _setup_email_context(*, actor: Actor, partner: Partner) -> dict[str, Any]:
    """What the welcome and tracking-setup emails show: the brand, one tracking link per
    offer the partner may promote, and their active coupons."""
    brand = Brand.objects.get(pk=actor.brand_id)
    offers = partner_offer_list(actor=actor, partner=partner)
    shown = list(offers[:SETUP_EMAIL_MAX_LINKS])
    links = [
        {
            "offer": offer,
            "url": tracking_link(
                brand_slug=brand.slug, offer_slug=offer.slug, partner_slug=partner.slug
            ),
        }
        for offer in shown
    ]
    more = offers.count() - len(shown) if len(shown) == SETUP_EMAIL_MAX_LINKS else 0
    return {
        "partner": partner,
        "brand": brand,
        "links": links,
        "more_links": more,
        "coupons": list(partner_active_coupon_list(actor=actor, partner=partner)),
        "example_link": links[0]["url"] if links else "",
    }


def queue_partner_welcome(*, actor: Actor, partner: Partner) -> None:
    """The welcome and the tracking-setup email of a partner just approved."""
    context = _setup_email_context(actor=actor, partner=partner)
    brand_name = context["brand"].name
    _queue(
        brand_id=actor.brand_id,
        kind=EmailKind.PARTNER_WELCOME,
        subject=f"Welcome to {brand_name}'s partner program",
        template="partner_welcome",
        context=context,
        to=partner.email,
    )
    _queue(
        brand_id=actor.brand_id,
        kind=EmailKind.PARTNER_TRACKING_SETUP,
        subject=f"Your {brand_name} tracking links",
        template="partner_tracking_setup",
        context=context,
        to=partner.email,
    )


def queue_application_notice(*, actor: Actor, partner: Partner, note: str) -> None:
    """One email per owner of the brand with an address, about a new application."""
    brand = Brand.objects.get(pk=actor.brand_id)
    owners = [membership.user for membership in brand_owner_membership_list(actor=actor)]
    context = {
        "partner": partner,
        "brand": brand,
        "note": note,
        "review_url": public_url(reverse("admin:partners_partner_change", args=[partner.pk])),
        "pending_url": public_url(
            reverse("admin:partners_partner_changelist") + "?status__exact=pending"
        ),
    }
    if not owners:
        logger.warning(
            "partner application %s: brand %s has no owner with an email address",
            partner.slug,
            brand.slug,
        )
    for owner in owners:
        _queue(
            brand_id=actor.brand_id,
            kind=EmailKind.PARTNER_APPLICATION,
            subject=f"New partner application for {brand.name}: {partner.name}",
            template="partner_application_owner",
            context={**context, "owner": owner},
            to=owner.email,
            # Owners answer the applicant directly; the address was validated.
            reply_to=partner.email,
        )
