"""REST endpoints for partners and coupons."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from offers.selectors import offer_get_for_actor
from partners import selectors, services
from partners.models import Partner
from partners.serializers import (
    CouponCreateInput,
    CouponListFilters,
    CouponOutput,
    PartnerCreateInput,
    PartnerListFilters,
    PartnerOutput,
    PartnerUpdateInput,
)
from rest_api.base import TenantApi, paginate, paginated, query_params


class PartnerListCreateApi(TenantApi):
    @extend_schema(
        tags=["partners"], parameters=[PartnerListFilters], responses=paginated(PartnerOutput)
    )
    def get(self, request: Request) -> Response:
        filters = PartnerListFilters(data=query_params(request))
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        partners = selectors.partner_list(
            actor=self.actor, status=data.get("status"), search=data.get("search")
        )
        return paginate(self, request, partners, PartnerOutput)

    @extend_schema(tags=["partners"], request=PartnerCreateInput, responses={201: PartnerOutput})
    def post(self, request: Request) -> Response:
        body = PartnerCreateInput(data=request.data)
        body.is_valid(raise_exception=True)
        partner = services.partner_create(actor=self.actor, **body.validated_data)
        return Response(PartnerOutput(partner).data, status=status.HTTP_201_CREATED)


class PartnerDetailApi(TenantApi):
    @extend_schema(tags=["partners"], responses=PartnerOutput)
    def get(self, request: Request, partner_id: str) -> Response:
        return Response(
            PartnerOutput(
                selectors.partner_get_for_actor(actor=self.actor, partner_id=partner_id)
            ).data
        )

    @extend_schema(tags=["partners"], request=PartnerUpdateInput, responses=PartnerOutput)
    def patch(self, request: Request, partner_id: str) -> Response:
        body = PartnerUpdateInput(data=request.data)
        body.is_valid(raise_exception=True)
        partner = selectors.partner_get_for_actor(actor=self.actor, partner_id=partner_id)
        partner = services.partner_update(actor=self.actor, partner=partner, **body.validated_data)
        return Response(PartnerOutput(partner).data)


class PartnerTransitionApi(TenantApi):
    service: ClassVar[Callable[..., Partner]]

    @extend_schema(tags=["partners"], request=None, responses=PartnerOutput)
    def post(self, request: Request, partner_id: str) -> Response:
        partner = selectors.partner_get_for_actor(actor=self.actor, partner_id=partner_id)
        partner = self.service(actor=self.actor, partner=partner)
        return Response(PartnerOutput(partner).data)


class PartnerApproveApi(PartnerTransitionApi):
    service = staticmethod(services.partner_approve)  # type: ignore[assignment]


class PartnerRejectApi(PartnerTransitionApi):
    service = staticmethod(services.partner_reject)  # type: ignore[assignment]


class PartnerPauseApi(PartnerTransitionApi):
    service = staticmethod(services.partner_pause)  # type: ignore[assignment]


class PartnerResumeApi(PartnerTransitionApi):
    service = staticmethod(services.partner_resume)  # type: ignore[assignment]


class CouponListCreateApi(TenantApi):
    @extend_schema(
        tags=["coupons"], parameters=[CouponListFilters], responses=paginated(CouponOutput)
    )
    def get(self, request: Request) -> Response:
        filters = CouponListFilters(data=query_params(request))
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        coupons = selectors.coupon_list(
            actor=self.actor,
            partner_id=data.get("partner_id"),
            offer_id=data.get("offer_id"),
            status=data.get("status"),
        )
        return paginate(self, request, coupons, CouponOutput)

    @extend_schema(tags=["coupons"], request=CouponCreateInput, responses={201: CouponOutput})
    def post(self, request: Request) -> Response:
        body = CouponCreateInput(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        partner = selectors.partner_get_for_actor(actor=self.actor, partner_id=data["partner_id"])
        offer = (
            offer_get_for_actor(actor=self.actor, offer_id=data["offer_id"])
            if data.get("offer_id")
            else None
        )
        coupon = services.coupon_create(
            actor=self.actor,
            partner=partner,
            code=data["code"],
            offer=offer,
            max_uses=data.get("max_uses"),
        )
        return Response(CouponOutput(coupon).data, status=status.HTTP_201_CREATED)


class CouponDetailApi(TenantApi):
    @extend_schema(tags=["coupons"], responses=CouponOutput)
    def get(self, request: Request, code: str) -> Response:
        return Response(
            CouponOutput(selectors.coupon_get_for_actor(actor=self.actor, code=code)).data
        )


class CouponDisableApi(TenantApi):
    @extend_schema(tags=["coupons"], request=None, responses=CouponOutput)
    def post(self, request: Request, code: str) -> Response:
        coupon = selectors.coupon_get_for_actor(actor=self.actor, code=code)
        coupon = services.coupon_disable(actor=self.actor, coupon=coupon)
        return Response(CouponOutput(coupon).data)
