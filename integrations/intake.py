"""What every provider's webhook shares once its signature is verified: exactly-once handling
by event id, attribution (click, coupon, remembered customer), recording through the one
conversion service, and reversal of what a refunded or disputed payment recorded.

Exactly once: the event's log row is inserted first, in the transaction that records its
effects; the (brand, provider, event id) constraint over accepted and ignored rows makes a
repeated delivery — sequential or concurrent — find the first one's row and change nothing.
An event that is ignored (unknown customer, no click and no coupon, …) is recorded with its
reason and answered 200: the provider must not retry what will never count."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.actor import Actor
from conversions import click_store, tracking_config
from conversions.models import Click, ClickOutcome, Conversion
from conversions.postbacks import CLICK_ID_PATTERN, COUPON_PATTERN, PostbackInput
from conversions.services import RecordedConversion, conversion_record
from conversions.tracking_config import BrandConfig, OfferConfig
from core.edge_text import clean_text
from core.errors import DomainError
from integrations.event_log import event_record
from integrations.models import (
    EventOutcome,
    IntegrationConnection,
    IntegrationCustomer,
    IntegrationEvent,
    IntegrationPayment,
    IntegrationPaymentLink,
)
from integrations.reversal import reverse_payment
from partners.models import Coupon, CouponStatus

logger = logging.getLogger(__name__)
EMPTY_SUBS = ("", "", "", "", "")


@dataclass(frozen=True)
class Source:
    """One verified delivery: the brand and connection it is for, who acts, from where."""

    brand: BrandConfig
    connection: IntegrationConnection
    actor: Actor
    ip: str | None

    @property
    def provider(self) -> str:
        return self.connection.provider


class Ignored(Exception):  # noqa: N818 - an outcome, not an error
    """The event is valid and will never count: recorded as ignored with ``reason``."""

    def __init__(self, reason: str, detail: str, *, object_id: str = "") -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.object_id = object_id


@dataclass(frozen=True)
class Handled:
    reason: str = ""
    detail: str = ""
    conversion_id: str = ""
    object_id: str = ""


def log_event(
    source_brand_id: int,
    provider: str,
    *,
    outcome: str,
    reason: str,
    detail: str = "",
    http_status: int,
    ip: str | None,
    event_id: str = "",
    event_type: str = "",
) -> IntegrationEvent:
    """A row for an event that changed nothing (refused, or a duplicate): written by the
    worker (``integrations.event_log``)."""
    row = IntegrationEvent(
        brand_id=source_brand_id,
        provider=provider,
        event_id=clean_text(event_id, max_length=255),
        event_type=clean_text(event_type, max_length=64),
        outcome=outcome,
        reason=reason,
        detail=clean_text(detail, max_length=255),
        ip=ip,
        http_status=http_status,
    )
    event_record(row)
    return row


def event_handle(
    source: Source, *, event_id: str, event_type: str, handler: Callable[[], Handled]
) -> IntegrationEvent:
    """Run ``handler`` once for this event id, logging what it did; a repeat is logged as a
    duplicate and runs nothing. Database outages propagate (the provider retries on 5xx)."""
    event_id = clean_text(event_id, max_length=255)
    with transaction.atomic():
        try:
            with transaction.atomic():
                row = IntegrationEvent.objects.create(
                    brand_id=source.brand.id,
                    provider=source.provider,
                    event_id=event_id,
                    event_type=clean_text(event_type, max_length=64),
                    outcome=EventOutcome.ACCEPTED,
                    ip=source.ip,
                    http_status=200,
                )
        except IntegrityError:
            row = None
        if row is not None:
            try:
                with transaction.atomic():
                    handled = handler()
                row.outcome = EventOutcome.ACCEPTED
            except Ignored as ignored:
                handled = Handled(ignored.reason, ignored.detail, object_id=ignored.object_id)
                row.outcome = EventOutcome.IGNORED
            row.reason = handled.reason
            row.detail = clean_text(handled.detail, max_length=255)
            row.conversion_id = handled.conversion_id
            row.object_id = clean_text(handled.object_id, max_length=255)
            row.save(update_fields=["outcome", "reason", "detail", "conversion_id", "object_id"])
            return row
    return log_event(
        source.brand.id,
        source.provider,
        outcome=EventOutcome.DUPLICATE,
        reason="already_processed",
        detail="This event id was processed before; nothing changed.",
        http_status=200,
        ip=source.ip,
        event_id=event_id,
        event_type=event_type,
    )


# --- attribution --------------------------------------------------------------------------


@dataclass(frozen=True)
class Attribution:
    offer: OfferConfig
    click_id: str
    coupon: str


def valid_click_id(value: object) -> str:
    text = value.strip() if isinstance(value, str) else ""
    return text if CLICK_ID_PATTERN.fullmatch(text) else ""


def valid_coupon(value: object) -> str:
    text = value.strip() if isinstance(value, str) else ""
    return text if COUPON_PATTERN.fullmatch(text) else ""


def _click_offer_slug(brand: BrandConfig, click_id: str) -> str | None:
    found = Click.objects.filter(
        pk=click_id, brand_id=brand.id, outcome=ClickOutcome.ACCEPTED
    ).values_list("offer__slug", flat=True)[:1]
    slug = next(iter(found), None)
    if slug is None:
        # The checkout may beat the worker that writes its click (conversions.services).
        click_store.write_queued(click_id)
        slug = next(iter(found.all()), None)
    return slug


def attribute(source: Source, *, click_id: str, coupons: list[str]) -> Attribution:
    """The offer a sale counts for: its click's offer, else the first known coupon's offer
    (or the connection's default offer when the coupon names none)."""
    slug = _click_offer_slug(source.brand, click_id) if click_id else None
    coupon_code = ""
    if slug is None:
        for code in coupons:
            coupon = (
                Coupon.objects.select_related("offer")
                .filter(brand_id=source.brand.id, code__iexact=code, status=CouponStatus.ACTIVE)
                .first()
            )
            if coupon is None:
                continue
            coupon_code = coupon.code
            if coupon.offer is not None:
                slug = coupon.offer.slug
            elif source.connection.default_offer_id is not None:
                slug = source.connection.default_offer.slug  # type: ignore[union-attr]  # id set
            else:
                raise Ignored(
                    "no_offer",
                    f"Coupon {coupon.code} names no offer and the {source.provider} integration "
                    "has no default offer: set default_offer_id.",
                )
            break
    else:
        coupon_code = next(iter(coupons), "")
    if slug is None:
        if click_id:
            raise Ignored(
                "unknown_click",
                f"Click {click_id} is unknown to this brand (never issued, refused or pruned)"
                + (" and no coupon matched." if coupons else "."),
            )
        if coupons:
            raise Ignored("unknown_coupon", f"No active coupon matches {', '.join(coupons)}.")
        raise Ignored(
            "no_attribution",
            "No trk_click_id (client_reference_id, metadata or cart attribute) and no coupon: "
            "nothing ties this sale to a partner.",
        )
    offer = tracking_config.offer_config(source.brand, slug)
    if offer is None:
        raise Ignored("unknown_offer", f"Offer {slug} no longer exists.")
    return Attribution(offer=offer, click_id=click_id, coupon=coupon_code)


# --- recording ----------------------------------------------------------------------------


def record_conversion(
    source: Source,
    attribution: Attribution,
    *,
    txn_id: str,
    amount: Decimal,
    currency: str,
    references: list[str],
    event_type: str = "sale",
    renews: Conversion | None = None,
    payout_percent: Decimal = Decimal(100),
) -> RecordedConversion:
    """Record through ``conversions.services.conversion_record`` (currency conversion, the
    attribution window, fraud scoring, caps, outbound postbacks and audit as for any
    postback); remember the payment references. What it refuses (``click_expired``,
    ``fx_rate_missing``, …) is ignored with that code."""
    data = PostbackInput(
        click_id=attribution.click_id,
        txn_id=txn_id,
        amount=amount,
        currency=currency,
        event_type=event_type,
        coupon=attribution.coupon,
        subs=(renews.sub1, renews.sub2, renews.sub3, renews.sub4, renews.sub5)
        if renews
        else EMPTY_SUBS,
        renews=renews,
        payout_percent=payout_percent,
    )
    try:
        recorded = conversion_record(
            actor=source.actor, brand=source.brand, offer=attribution.offer, data=data
        )
    except DomainError as exc:
        raise Ignored(exc.code, exc.message, object_id=txn_id) from None
    IntegrationPayment.objects.bulk_create(
        [
            IntegrationPayment(
                brand_id=source.brand.id,
                provider=source.provider,
                reference=reference,
                conversion=recorded.conversion,
            )
            for reference in dict.fromkeys(references)
            if reference
        ],
        ignore_conflicts=True,
    )
    return recorded


def recorded_answer(recorded: RecordedConversion, *, object_id: str) -> Handled:
    conversion = recorded.conversion
    if recorded.duplicate:
        return Handled(
            "already_recorded",
            f"{conversion.pk} was recorded for {conversion.txn_id} before.",
            conversion_id=conversion.pk,
            object_id=object_id,
        )
    return Handled(
        "conversion_recorded",
        f"{conversion.event_type} {conversion.sale_amount} {conversion.currency}: "
        f"{conversion.status}, payout {conversion.payout}.",
        conversion_id=conversion.pk,
        object_id=object_id,
    )


# --- customers (recurring payments) ---------------------------------------------------------


def customer_find(source: Source, customer_id: str) -> IntegrationCustomer | None:
    if not customer_id:
        return None
    return (
        IntegrationCustomer.objects.select_for_update()
        .filter(brand_id=source.brand.id, provider=source.provider, customer_id=customer_id)
        .first()
    )


def customer_remember(
    source: Source,
    customer_id: str,
    attribution: Attribution,
    *,
    paid_at: dt.datetime | None,
    conversion: Conversion | None,
) -> None:
    """Tie the provider's customer to this sale's click or coupon (the latest checkout wins);
    the first payment and its conversion are kept once set."""
    if not customer_id:
        return
    customer, _ = IntegrationCustomer.objects.select_for_update().get_or_create(
        brand_id=source.brand.id,
        provider=source.provider,
        customer_id=customer_id,
        defaults={"offer_id": attribution.offer.id, "created_at": timezone.now()},
    )
    customer.click_id = attribution.click_id
    customer.coupon = attribution.coupon
    customer.offer_id = attribution.offer.id
    if customer.first_conversion_id is None and conversion is not None:
        customer.first_payment_at = paid_at or conversion.created_at
        customer.first_conversion = conversion
    customer.save()


# --- reversals ----------------------------------------------------------------------------


def payment_link(source: Source, *, references: list[str], paid_reference: str) -> None:
    """Remember that the payments ``references`` paid ``paid_reference`` (an invoice)."""
    IntegrationPaymentLink.objects.bulk_create(
        [
            IntegrationPaymentLink(
                brand_id=source.brand.id,
                provider=source.provider,
                reference=reference,
                paid_reference=paid_reference,
            )
            for reference in dict.fromkeys(references)
        ],
        ignore_conflicts=True,
    )


def _with_links(source: Source, references: list[str]) -> list[str]:
    """``references`` and what they paid (``payment_link``)."""
    found = [reference for reference in references if reference]
    paid = IntegrationPaymentLink.objects.filter(
        brand_id=source.brand.id, provider=source.provider, reference__in=found
    ).values_list("paid_reference", flat=True)
    return [*found, *paid]


def reverse(
    source: Source,
    *,
    references: list[str],
    amount: Decimal | None,
    reason: str,
    object_id: str,
    refund_id: str = "",
    currency: str = "",
    cumulative: bool = False,
) -> Handled:
    """Refund the conversion a refunded or disputed payment recorded (``amount`` None: the
    whole of it; ``cumulative``: all refunded so far), once per ``refund_id`` (default: the
    object's id)."""
    payment = (
        IntegrationPayment.objects.select_related("conversion")
        .filter(
            brand_id=source.brand.id,
            provider=source.provider,
            reference__in=_with_links(source, references),
        )
        .first()
    )
    if payment is None:
        raise Ignored(
            "unknown_payment",
            "No conversion was recorded for this payment (it may predate the integration).",
            object_id=object_id,
        )
    try:
        detail = reverse_payment(
            actor=source.actor,
            conversion=payment.conversion,
            refund_id=refund_id or object_id,
            amount=amount,
            reason=reason,
            currency=currency,
            cumulative=cumulative,
            note=f"{source.provider} {refund_id or object_id} {reason}",
        )
    except DomainError as exc:
        raise Ignored(exc.code, exc.message, object_id=object_id) from None
    return Handled(
        f"conversion_{reason}", detail, conversion_id=payment.conversion_id, object_id=object_id
    )
