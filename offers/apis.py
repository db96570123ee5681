"""REST endpoints for offers: validate input → call the service/selector → serialize."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from offers import selectors, services
from offers.models import Offer
from offers.serializers import (
    AllowedPartnersInput,
    OfferCreateInput,
    OfferCreateOutput,
    OfferListFilters,
    OfferOutput,
    OfferSetCapsInput,
    OfferUpdateInput,
    PayoutRuleInput,
    RotateSecretInput,
    RotateSecretOutput,
    creation_output,
    rotation_output,
)
from partners.selectors import partner_get_for_actor
from rest_api.base import TenantApi, paginate, paginated, query_params

TAG = ["offers"]


def _output(api: TenantApi, offer_id: str, status_code: int = 200) -> Response:
    offer = selectors.offer_get_for_actor(actor=api.actor, offer_id=offer_id)
    return Response(OfferOutput(offer).data, status=status_code)


class OfferListCreateApi(TenantApi):
    @extend_schema(tags=TAG, parameters=[OfferListFilters], responses=paginated(OfferOutput))
    def get(self, request: Request) -> Response:
        filters = OfferListFilters(data=query_params(request))
        filters.is_valid(raise_exception=True)
        offers = selectors.offer_list(actor=self.actor, status=filters.validated_data.get("status"))
        return paginate(self, request, offers, OfferOutput)

    @extend_schema(tags=TAG, request=OfferCreateInput, responses={201: OfferCreateOutput})
    def post(self, request: Request) -> Response:
        body = OfferCreateInput(data=request.data)
        body.is_valid(raise_exception=True)
        created = services.offer_create(actor=self.actor, **body.validated_data)
        offer = selectors.offer_get_for_actor(actor=self.actor, offer_id=created.slug)
        # The only answer that carries the new postback secret (as after a rotation).
        response = Response(creation_output(offer), status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response


class OfferDetailApi(TenantApi):
    @extend_schema(tags=TAG, responses=OfferOutput)
    def get(self, request: Request, offer_id: str) -> Response:
        return _output(self, offer_id)

    @extend_schema(tags=TAG, request=OfferUpdateInput, responses=OfferOutput)
    def patch(self, request: Request, offer_id: str) -> Response:
        body = OfferUpdateInput(data=request.data)
        body.is_valid(raise_exception=True)
        offer = selectors.offer_get_for_actor(actor=self.actor, offer_id=offer_id)
        services.offer_update(actor=self.actor, offer=offer, **body.validated_data)
        return _output(self, offer_id)


class OfferTransitionApi(TenantApi):
    """POST /offers/<id>/pause|resume|archive — configured per URL with ``service``."""

    service: ClassVar[Callable[..., Offer]]

    @extend_schema(tags=TAG, request=None, responses=OfferOutput)
    def post(self, request: Request, offer_id: str) -> Response:
        offer = selectors.offer_get_for_actor(actor=self.actor, offer_id=offer_id)
        self.service(actor=self.actor, offer=offer)
        return _output(self, offer_id)


class OfferPauseApi(OfferTransitionApi):
    service = staticmethod(services.offer_pause)  # type: ignore[assignment]


class OfferResumeApi(OfferTransitionApi):
    service = staticmethod(services.offer_resume)  # type: ignore[assignment]


class OfferArchiveApi(OfferTransitionApi):
    service = staticmethod(services.offer_archive)  # type: ignore[assignment]


class OfferCapsApi(TenantApi):
    @extend_schema(tags=TAG, request=OfferSetCapsInput, responses=OfferOutput)
    def post(self, request: Request, offer_id: str) -> Response:
        body = OfferSetCapsInput(data=request.data)
        body.is_valid(raise_exception=True)
        offer = selectors.offer_get_for_actor(actor=self.actor, offer_id=offer_id)
        data = body.validated_data
        services.offer_set_caps(
            actor=self.actor,
            offer=offer,
            daily=data.get("daily"),
            weekly=data.get("weekly"),
            monthly=data.get("monthly"),
            mode=data.get("mode"),
        )
        return _output(self, offer_id)


class OfferPayoutRuleApi(TenantApi):
    @extend_schema(tags=TAG, request=PayoutRuleInput, responses=OfferOutput)
    def post(self, request: Request, offer_id: str) -> Response:
        body = PayoutRuleInput(data=request.data)
        body.is_valid(raise_exception=True)
        data: dict[str, Any] = dict(body.validated_data)
        offer = selectors.offer_get_for_actor(actor=self.actor, offer_id=offer_id)
        partner_id = data.pop("partner_id", None)
        partner = (
            partner_get_for_actor(actor=self.actor, partner_id=partner_id) if partner_id else None
        )
        services.offer_set_payout_rule(
            actor=self.actor,
            offer=offer,
            partner=partner,
            event_type=data.get("event_type", ""),
            payout_type=data["payout_type"],
            payout_amount=data["payout_amount"],
        )
        return _output(self, offer_id)


class OfferRotateSecretApi(TenantApi):
    @extend_schema(
        tags=TAG,
        request=RotateSecretInput,
        responses=RotateSecretOutput,
        description="Generate a new inbound-postback secret. The value is returned once.",
        parameters=[OpenApiParameter("offer_id", str, OpenApiParameter.PATH)],
    )
    def post(self, request: Request, offer_id: str) -> Response:
        body = RotateSecretInput(data=request.data)
        body.is_valid(raise_exception=True)
        offer = selectors.offer_get_for_actor(actor=self.actor, offer_id=offer_id)
        result = services.offer_rotate_postback_secret(
            actor=self.actor, offer=offer, grace_seconds=body.validated_data.get("grace_seconds")
        )
        response = Response(rotation_output(result))
        response["Cache-Control"] = "no-store"
        return response


class OfferAllowedPartnersApi(TenantApi):
    @extend_schema(tags=TAG, request=AllowedPartnersInput, responses=OfferOutput)
    def post(self, request: Request, offer_id: str) -> Response:
        body = AllowedPartnersInput(data=request.data)
        body.is_valid(raise_exception=True)
        offer = selectors.offer_get_for_actor(actor=self.actor, offer_id=offer_id)
        partners = [
            partner_get_for_actor(actor=self.actor, partner_id=slug)
            for slug in dict.fromkeys(body.validated_data["partner_ids"])
        ]
        services.offer_set_allowed_partners(
            actor=self.actor,
            offer=offer,
            partners=partners,
            is_private=body.validated_data["is_private"],
        )
        return _output(self, offer_id)
