"""Stripe events, verified, turned into conversions and reversals (docs/integrations.md).

- ``checkout.session.completed`` (and ``checkout.session.async_payment_succeeded``): the
  click id from ``client_reference_id`` or ``metadata.trk_click_id``, coupons from
  ``metadata.trk_coupon`` and the session's discounts; the sale (``amount_total``) is recorded
  under the session's invoice (subscriptions) or payment intent, and the Stripe customer is
  remembered for later invoices.
- ``invoice.paid``: a known customer's first paid invoice is the sale (a repeat of the
  checkout's, when the checkout recorded it); later ones are renewals, commissioned for the
  offer's ``recurring_months`` at ``recurring_rate_percent``. An unknown customer's invoice is
  ignored (``unknown_customer``) unless the subscription's metadata names a click.
- ``invoice_payment.paid`` (API versions from 2025-03-31): which payment intent or charge
  paid which invoice, kept so that a refund of that charge finds the invoice's conversion.
- ``charge.refunded`` and ``charge.dispute.created``: the conversion the charge's payment
  recorded is reversed.

Both API shapes are read: before 2025-03-31 an invoice carries ``subscription``,
``subscription_details``, ``payment_intent`` and ``charge`` and a charge its ``invoice``; from
then on the subscription is under ``parent.subscription_details``, the payments are
``invoice_payment`` objects (``invoice.payments`` when expanded, and their own event) and a
discount's coupon is under ``source.coupon``. A promotion code (``promo_…``) names its code
only when expanded; one that is not, on a sale nothing else attributes, is ignored with
``promotion_code_not_expanded`` (Trcker makes no call to Stripe's API).

Amounts are integers in the currency's minor unit (``integrations.money``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.utils import timezone

from conversions import tracking_config
from integrations.intake import (
    Attribution,
    Handled,
    Ignored,
    Source,
    attribute,
    customer_find,
    customer_remember,
    payment_link,
    record_conversion,
    recorded_answer,
    reverse,
    valid_click_id,
    valid_coupon,
)
from integrations.money import BadAmount, currency_code, from_minor_units
from offers.models import Offer

CHECKOUT_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
HANDLED_EVENTS = (
    *CHECKOUT_EVENTS,
    "invoice.paid",
    "invoice_payment.paid",
    "charge.refunded",
    "charge.dispute.created",
)
FIRST_INVOICE = "subscription_create"


def _text(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    return value[:255] if isinstance(value, str) else ""


def _id(value: object) -> str:
    """An expandable field: an id, or the expanded object carrying one."""
    if isinstance(value, str):
        return value[:255]
    if isinstance(value, dict):
        return _text(value, "id")
    return ""


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _coupon_candidates(discount: dict[str, Any]) -> list[object]:
    # A discount's coupon: ``coupon`` before API version 2025-03-31, ``source.coupon`` after.
    coupon = discount.get("coupon") or _dict(discount.get("source")).get("coupon")
    promotion = discount.get("promotion_code")
    found: list[object] = [coupon] if isinstance(coupon, str) else []
    if isinstance(coupon, dict):
        found += [coupon.get("id"), coupon.get("name")]
    if isinstance(promotion, dict):  # a promo_… id alone names no code
        found.append(promotion.get("code"))
    return found


def coupons_of(obj: dict[str, Any]) -> list[str]:
    """Codes to look up as Trcker coupons: ``metadata.trk_coupon``, then the coupons (their
    ids and names) and expanded promotion codes of the object's discounts."""
    candidates: list[object] = [_dict(obj.get("metadata")).get("trk_coupon")]
    for discount in _discounts(obj):
        candidates += _coupon_candidates(discount)
    codes = (valid_coupon(candidate) for candidate in candidates[:50])
    return [code for code in dict.fromkeys(codes) if code]


def _discounts(obj: dict[str, Any]) -> list[dict[str, Any]]:
    discounts = obj.get("discounts")
    found = (
        [item for item in discounts if isinstance(item, dict)]
        if isinstance(discounts, list)
        else []
    )
    return found[:50] + ([obj["discount"]] if isinstance(obj.get("discount"), dict) else [])


def unexpanded_promotion_codes(obj: dict[str, Any]) -> list[str]:
    """``promo_…`` ids of the object's discounts whose code the event does not carry."""
    found = (discount.get("promotion_code") for discount in _discounts(obj))
    return [promo[:255] for promo in found if isinstance(promo, str) and promo]


def _attribute(source: Source, obj: dict[str, Any], *, click_id: str) -> Attribution:
    """``attribute``, saying so when what could have attributed the sale is a promotion code
    the event names only by id."""
    try:
        return attribute(source, click_id=click_id, coupons=coupons_of(obj))
    except Ignored as ignored:
        promotions = unexpanded_promotion_codes(obj)
        if ignored.reason in ("no_attribution", "unknown_coupon") and promotions:
            raise Ignored(
                "promotion_code_not_expanded",
                f"The sale used promotion code {promotions[0]}, which the event names by id "
                "only: name the Stripe coupon (its id or name) as the Trcker coupon code, or set "
                "metadata.trk_coupon on the checkout session or subscription.",
                object_id=_text(obj, "id"),
            ) from None
        raise


def _amount(obj: dict[str, Any], field: str) -> tuple[Decimal, str]:
    try:
        currency = currency_code(obj.get("currency"))
        return from_minor_units(obj.get(field), currency), currency
    except BadAmount as exc:
        raise Ignored("malformed_event", f"{field}: {exc}.", object_id=_text(obj, "id")) from None


def _event_time(event: dict[str, Any]) -> dt.datetime:
    created = event.get("created")
    if isinstance(created, int) and not isinstance(created, bool) and 0 < created < 2**33:
        return dt.datetime.fromtimestamp(created, tz=dt.UTC)
    return timezone.now()


def handler_for(source: Source, event: dict[str, Any]) -> Callable[[], Handled]:
    kind = event.get("type")
    obj = _dict(_dict(event.get("data")).get("object"))
    if kind in CHECKOUT_EVENTS:
        return lambda: _checkout(source, event, obj)
    if kind == "invoice.paid":
        return lambda: _invoice(source, event, obj)
    if kind == "invoice_payment.paid":
        return lambda: _invoice_payment(source, obj)
    if kind == "charge.refunded":
        return lambda: _refund(source, obj)
    if kind == "charge.dispute.created":
        return lambda: _dispute(source, obj)

    def not_handled() -> Handled:
        raise Ignored(
            "event_not_handled",
            f"Trcker does not act on {str(kind)[:64]}; select only {', '.join(HANDLED_EVENTS)}.",
        )

    return not_handled


def _checkout(source: Source, event: dict[str, Any], session: dict[str, Any]) -> Handled:
    session_id = _text(session, "id")
    if session.get("payment_status") == "unpaid":
        raise Ignored(
            "unpaid",
            "The checkout is not paid yet: its payment arrives as "
            "checkout.session.async_payment_succeeded or invoice.paid.",
            object_id=session_id,
        )
    click_id = valid_click_id(session.get("client_reference_id")) or valid_click_id(
        _dict(session.get("metadata")).get("trk_click_id")
    )
    attribution = _attribute(source, session, click_id=click_id)
    amount, currency = _amount(session, "amount_total")
    customer = _id(session.get("customer"))
    invoice, intent = _id(session.get("invoice")), _id(session.get("payment_intent"))
    if not amount:
        # A free trial: nothing to commission yet; its first paid invoice is the sale.
        customer_remember(source, customer, attribution, paid_at=None, conversion=None)
        return Handled(
            "customer_linked",
            f"Customer {customer or '(none)'} tied to "
            f"{attribution.click_id or attribution.coupon}; nothing paid yet.",
            object_id=session_id,
        )
    recorded = record_conversion(
        source,
        attribution,
        txn_id=invoice or intent or session_id,
        amount=amount,
        currency=currency,
        references=[invoice, intent, session_id],
    )
    customer_remember(
        source, customer, attribution, paid_at=_event_time(event), conversion=recorded.conversion
    )
    return recorded_answer(recorded, object_id=session_id)


def _subscription_metadata(invoice: dict[str, Any]) -> dict[str, Any]:
    """Where Stripe copies a subscription's metadata onto its invoices (both API shapes)."""
    details = _dict(invoice.get("subscription_details")) or _dict(
        _dict(invoice.get("parent")).get("subscription_details")
    )
    return _dict(details.get("metadata")) or _dict(invoice.get("metadata"))


def _payment_ids(payment: dict[str, Any]) -> list[str]:
    return [_id(payment.get("payment_intent")), _id(payment.get("charge"))]


def _invoice_payments(invoice: dict[str, Any]) -> list[str]:
    """The payment intents and charges that paid the invoice: its own fields before API version
    2025-03-31, its expanded ``payments`` list after."""
    found = [_id(invoice.get("payment_intent")), _id(invoice.get("charge"))]
    payments = _dict(invoice.get("payments")).get("data")
    for item in payments[:20] if isinstance(payments, list) else []:
        if isinstance(item, dict) and item.get("status", "paid") == "paid":
            found += _payment_ids(_dict(item.get("payment")))
    return [reference for reference in found if reference]


def _invoice_payment(source: Source, invoice_payment: dict[str, Any]) -> Handled:
    """Remember which payment paid which invoice, so that its refund or dispute finds the
    invoice's conversion (recorded before or after this event)."""
    object_id = _text(invoice_payment, "id")
    invoice_id = _id(invoice_payment.get("invoice"))
    payments = [ref for ref in _payment_ids(_dict(invoice_payment.get("payment"))) if ref]
    if not invoice_id or not payments:
        raise Ignored(
            "malformed_event",
            "The invoice payment names no invoice, or no payment intent or charge.",
            object_id=object_id,
        )
    payment_link(source, references=payments, paid_reference=invoice_id)
    return Handled(
        "payment_linked",
        f"{', '.join(payments)} paid {invoice_id}: its refunds and disputes reverse that sale.",
        object_id=object_id,
    )


def _add_months(moment: dt.datetime, months: int) -> dt.datetime:
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    days = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31]
    days += [30, 31, 31, 30, 31, 30, 31]
    return moment.replace(year=year, month=month, day=min(moment.day, days[month - 1]))


def _paid_at(event: dict[str, Any], invoice: dict[str, Any]) -> dt.datetime:
    paid = _dict(invoice.get("status_transitions")).get("paid_at")
    if isinstance(paid, int) and not isinstance(paid, bool) and 0 < paid < 2**33:
        return dt.datetime.fromtimestamp(paid, tz=dt.UTC)
    return _event_time(event)


def _invoice(source: Source, event: dict[str, Any], invoice: dict[str, Any]) -> Handled:
    invoice_id = _text(invoice, "id")
    amount, currency = _amount(invoice, "amount_paid")
    if not amount:
        raise Ignored(
            "zero_amount", "Nothing was paid (a trial or a 100% discount).", object_id=invoice_id
        )
    customer_id = _id(invoice.get("customer"))
    references = [invoice_id, *_invoice_payments(invoice)]
    paid_at = _paid_at(event, invoice)
    customer = customer_find(source, customer_id)
    if customer is None:
        click_id = valid_click_id(_subscription_metadata(invoice).get("trk_click_id"))
        if not click_id and not coupons_of(invoice) and not unexpanded_promotion_codes(invoice):
            raise Ignored(
                "unknown_customer",
                f"Customer {customer_id or '(none)'} came through no checkout Trcker recorded "
                "and the invoice names no click or coupon.",
                object_id=invoice_id,
            )
        attribution = _attribute(source, invoice, click_id=click_id)
        recorded = record_conversion(
            source,
            attribution,
            txn_id=invoice_id,
            amount=amount,
            currency=currency,
            references=references,
        )
        customer_remember(
            source, customer_id, attribution, paid_at=paid_at, conversion=recorded.conversion
        )
        return recorded_answer(recorded, object_id=invoice_id)
    offer = Offer.objects.select_related("brand").get(pk=customer.offer_id)
    offer_config = tracking_config.offer_config(source.brand, offer.slug)
    if offer_config is None:
        raise Ignored(
            "unknown_offer", f"Offer {offer.slug} no longer exists.", object_id=invoice_id
        )
    first = customer.first_conversion
    if first is None or invoice.get("billing_reason") == FIRST_INVOICE:
        attribution = Attribution(offer_config, click_id=customer.click_id, coupon=customer.coupon)
        recorded = record_conversion(
            source,
            attribution,
            txn_id=invoice_id,
            amount=amount,
            currency=currency,
            references=references,
        )
        customer_remember(
            source, customer_id, attribution, paid_at=paid_at, conversion=recorded.conversion
        )
        return recorded_answer(recorded, object_id=invoice_id)
    if not offer.recurring_months:
        raise Ignored(
            "recurring_not_commissioned",
            f"A renewal: offer {offer.slug} pays no recurring commission (recurring_months 0).",
            object_id=invoice_id,
        )
    assert customer.first_payment_at is not None  # set with first_conversion
    ends = _add_months(customer.first_payment_at, offer.recurring_months)
    if paid_at >= ends:
        raise Ignored(
            "recurring_period_over",
            f"A renewal paid after the {offer.recurring_months} months of recurring commission "
            f"(ended {ends:%Y-%m-%d}).",
            object_id=invoice_id,
        )
    recorded = record_conversion(
        source,
        Attribution(offer_config, click_id="", coupon=""),
        txn_id=invoice_id,
        amount=amount,
        currency=currency,
        references=references,
        event_type="renewal",
        renews=first,
        payout_percent=offer.recurring_rate_percent,
    )
    return recorded_answer(recorded, object_id=invoice_id)


def _latest_refund_id(charge: dict[str, Any]) -> str:
    """The newest refund's id when the charge carries its refunds (older API versions)."""
    refunds = _dict(charge.get("refunds")).get("data")
    if isinstance(refunds, list) and refunds and isinstance(refunds[0], dict):
        return _text(refunds[0], "id")
    return ""


def _refund(source: Source, charge: dict[str, Any]) -> Handled:
    """``charge.refunded`` carries the charge, whose ``amount_refunded`` is everything refunded
    so far: taken as a cumulative total, so events arriving twice or out of order count each
    refund once. Its id is the newest refund's when the charge lists them, else the charge's
    and the total (one id per total)."""
    charge_id = _text(charge, "id")
    refunded, currency = _amount(charge, "amount_refunded")
    total, _ = _amount(charge, "amount")
    whole = charge.get("refunded") is True or refunded >= total
    return reverse(
        source,
        references=[charge_id, _id(charge.get("payment_intent")), _id(charge.get("invoice"))],
        amount=None if whole else refunded,
        reason="refunded",
        object_id=charge_id,
        refund_id=_latest_refund_id(charge) or f"{charge_id}:refunded:{refunded}",
        currency=currency,
        cumulative=True,
    )


def _dispute(source: Source, dispute: dict[str, Any]) -> Handled:
    return reverse(
        source,
        references=[_id(dispute.get("charge")), _id(dispute.get("payment_intent"))],
        amount=None,
        reason="disputed",
        object_id=_text(dispute, "id"),
    )
