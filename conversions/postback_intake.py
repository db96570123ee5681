"""The one path of an inbound postback, from a request that named a known brand and offer to
a recorded conversion: proof of origin (source address, then signature or secret), then the
parameters, then the conversion. The public postback view calls it with what the advertiser
sent; ``send_test_postback`` (``conversions.postback_tests``) calls it with a request built
as the advertiser would send it, so a test passes exactly the checks a real postback passes.

Order matters: no parameter is read before the origin is proven (``read_params`` is called
only then), so an unsigned request cannot make Trcker parse, look up or log what it claims."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.utils import timezone

from audit.actor import Actor
from conversions.postbacks import check_source_ip, parse_postback, verify_origin
from conversions.refunds import RecordedRefund, is_refund, parse_refund, refund_record
from conversions.services import RecordedConversion, conversion_record
from conversions.tracking_config import BrandConfig, OfferConfig


@dataclass(frozen=True)
class InboundPostback:
    """A postback request as it arrived: method, raw query pairs and body (what a signature
    covers), the X-Trcker-Signature header (empty if none) and the source address."""

    method: str
    query_pairs: list[tuple[str, str]]
    body: bytes
    signature_header: str
    ip: str | None


def postback_receive(
    *,
    actor: Actor,
    brand: BrandConfig,
    offer: OfferConfig,
    postback: InboundPostback,
    read_params: Callable[[], Mapping[str, str]],
    on_params: Callable[[Mapping[str, str]], None] | None = None,
) -> RecordedConversion | RecordedRefund:
    """Check where ``postback`` comes from, read its parameters (``read_params``, called once
    the origin is proven; ``on_params`` sees them, for the attempt log) and record the
    conversion — or, for ``event=refund``/``chargeback``, take back the sale it names
    (``conversions.refunds``). Raises DomainError with the refusal's code (ip_not_allowed,
    bad_signature, signature_required, invalid_txn_id, unknown_click, unknown_original_txn,
    …)."""
    check_source_ip(offer, postback.ip)
    verify_origin(
        offer=offer,
        method=postback.method,
        query_pairs=postback.query_pairs,
        body=postback.body,
        signature_header=postback.signature_header,
        now=timezone.now(),
    )
    params = dict(read_params())
    if on_params is not None:
        on_params(params)
    if is_refund(params):
        return refund_record(actor=actor, offer=offer, data=parse_refund(params))
    data = parse_postback(params, offer_currency=offer.currency)
    return conversion_record(actor=actor, brand=brand, offer=offer, data=data)
