"""Shopify webhooks, verified, turned into conversions and reversals (docs/integrations.md).

- ``orders/create``: the click id from the order's cart attribute (``note_attributes``
  ``trk_click_id``, which /t.js sets) or, failing that, the ``click_id`` / ``trk_click_id``
  of its landing page URL; coupons from its ``discount_codes``. The sale is the order's
  subtotal after discounts, before shipping and taxes (``current_subtotal_price``, else
  ``subtotal_price``), in the shop currency; the order id is the transaction id.
- ``orders/paid``: the same sale, recorded once by order id. Which of the two records it is
  the brand's choice (``IntegrationConnection.record_sales_on``): ``orders/create`` (the
  default; ``orders/paid`` then only records an order whose creation was missed) or
  ``orders/paid`` (``orders/create`` is ignored as ``awaiting_payment``: an unpaid order earns
  nothing).
- ``orders/cancelled``: the order's conversion is refunded whole through the ledger
  (``conversions.refund_ledger`` via ``integrations.reversal``), once per order: an approved or
  paid one reversed (reason ``refund``), a pending one rejected (``cancelled``); what refunds
  already took back is not taken twice.
- ``refunds/create``: the order's conversion is reversed; a refund of less than the sale is
  partial. What a refund returns is measured as the sale is, before shipping and taxes
  (``_refund_amount``)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from integrations.intake import (
    Handled,
    Ignored,
    Source,
    attribute,
    record_conversion,
    recorded_answer,
    reverse,
    valid_click_id,
    valid_coupon,
)
from integrations.models import SaleTopic
from integrations.money import BadAmount, currency_code, from_decimal_text

HANDLED_TOPICS = ("orders/create", "orders/paid", "orders/cancelled", "refunds/create")
CLICK_ATTRIBUTE = "trk_click_id"
LANDING_PARAMS = ("trk_click_id", "click_id")


def _object_id(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
        return str(value)
    if isinstance(value, str) and value.isdigit() and len(value) <= 20:
        return value
    return ""


def _list(value: object) -> list[dict[str, Any]]:
    return (
        [item for item in value if isinstance(item, dict)][:250] if isinstance(value, list) else []
    )


def click_id_of(order: dict[str, Any]) -> str:
    for attribute_ in _list(order.get("note_attributes")):
        if attribute_.get("name") == CLICK_ATTRIBUTE:
            found = valid_click_id(attribute_.get("value"))
            if found:
                return found
    landing = order.get("landing_site")
    if isinstance(landing, str) and len(landing) <= 4096:
        params = dict(parse_qsl(urlsplit(landing).query))
        for name in LANDING_PARAMS:
            found = valid_click_id(params.get(name))
            if found:
                return found
    return ""


def handler_for(source: Source, topic: str, body: dict[str, Any]) -> Callable[[], Handled]:
    if topic == "orders/create":
        if source.connection.record_sales_on == SaleTopic.ORDERS_PAID:
            return lambda: _awaiting_payment(body)
        return lambda: _order(source, body)
    if topic == "orders/paid":
        return lambda: _order(source, body)
    if topic == "orders/cancelled":
        return lambda: _cancelled(source, body)
    if topic == "refunds/create":
        return lambda: _refund(source, body)

    def not_handled() -> Handled:
        raise Ignored(
            "event_not_handled",
            f"Trcker does not act on {topic[:64] or 'a webhook without a topic'}; subscribe only "
            f"{', '.join(HANDLED_TOPICS)}.",
        )

    return not_handled


def _awaiting_payment(order: dict[str, Any]) -> Handled:
    raise Ignored(
        "awaiting_payment",
        "This brand records Shopify sales on orders/paid (record_sales_on): the order counts "
        "when it is paid.",
        object_id=_object_id(order.get("id")),
    )


def _cancelled(source: Source, order: dict[str, Any]) -> Handled:
    order_id = _object_id(order.get("id"))
    if not order_id:
        raise Ignored("malformed_event", "The order has no numeric id.")
    return reverse(
        source,
        references=[order_id],
        amount=None,
        reason="cancelled",
        object_id=order_id,
        refund_id=f"{order_id}:cancelled",
    )


def _order(source: Source, order: dict[str, Any]) -> Handled:
    order_id = _object_id(order.get("id"))
    if not order_id:
        raise Ignored("malformed_event", "The order has no numeric id.")
    coupons = [
        code
        for code in (valid_coupon(item.get("code")) for item in _list(order.get("discount_codes")))
        if code
    ]
    attribution = attribute(source, click_id=click_id_of(order), coupons=coupons)
    try:
        currency = currency_code(order.get("currency"))
        raw = order.get("current_subtotal_price", order.get("subtotal_price"))
        amount = from_decimal_text(raw if raw is not None else "0")
    except BadAmount as exc:
        raise Ignored("malformed_event", f"subtotal: {exc}.", object_id=order_id) from None
    recorded = record_conversion(
        source,
        attribution,
        txn_id=order_id,
        amount=amount,
        currency=currency,
        references=[order_id],
    )
    return recorded_answer(recorded, object_id=order_id)


def _refund_amount(refund: dict[str, Any]) -> Decimal:
    """The part of the sale this refund returns, measured as the sale is: before shipping and
    taxes. Refunded items: their line subtotals (the money returned also carries their tax and
    any shipping, which the sale never counted, so a partial refund's share would be
    overstated). No items (an amount refunded by hand): the money returned less what the
    refund's own adjustments say was shipping; a shipping-only refund returns none of it."""
    lines = _list(refund.get("refund_line_items"))
    if lines:
        return sum((from_decimal_text(line.get("subtotal", "0")) for line in lines), Decimal(0))
    money = Decimal(0)
    for transaction in _list(refund.get("transactions")):
        if transaction.get("kind") == "refund" and transaction.get("status") == "success":
            money += from_decimal_text(transaction.get("amount"))
    for adjustment in _list(refund.get("order_adjustments")):
        if adjustment.get("kind") == "shipping_refund":
            money -= _magnitude(adjustment.get("amount", "0"))
            money -= _magnitude(adjustment.get("tax_amount", "0"))
    return max(money, Decimal(0))


def _magnitude(value: object) -> Decimal:
    """An adjustment's amount without its sign: Shopify writes a refund's as negative."""
    if isinstance(value, str) and value.strip().startswith("-"):
        value = value.strip()[1:]
    elif isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        value = -value
    return from_decimal_text(value)


def _refund(source: Source, refund: dict[str, Any]) -> Handled:
    order_id = _object_id(refund.get("order_id"))
    refund_id = _object_id(refund.get("id"))
    if not order_id:
        raise Ignored("malformed_event", "The refund names no order.", object_id=refund_id)
    try:
        amount = _refund_amount(refund)
    except BadAmount as exc:
        raise Ignored("malformed_event", f"refund amount: {exc}.", object_id=refund_id) from None
    if not amount:
        raise Ignored(
            "zero_amount",
            "The refund returns no money (a restock or a cancelled line only).",
            object_id=refund_id,
        )
    currencies = {
        str(transaction.get("currency") or "").upper()
        for transaction in _list(refund.get("transactions"))
        if transaction.get("kind") == "refund" and transaction.get("currency")
    }
    return reverse(
        source,
        references=[order_id],
        amount=amount,
        reason="refunded",
        object_id=order_id,
        refund_id=refund_id,
        currency=currencies.pop() if len(currencies) == 1 else "",
    )
