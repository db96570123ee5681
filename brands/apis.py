from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from brands.selectors import brand_get_for_actor
from brands.serializers import FraudSettingsInput, FraudSettingsOutput
from brands.services import brand_set_fraud_settings
from rest_api.base import TenantApi


class FraudSettingsApi(TenantApi):
    @extend_schema(tags=["fraud"], responses=FraudSettingsOutput)
    def get(self, request: Request) -> Response:
        return Response(FraudSettingsOutput(brand_get_for_actor(actor=self.actor)).data)

    @extend_schema(tags=["fraud"], request=FraudSettingsInput, responses=FraudSettingsOutput)
    def patch(self, request: Request) -> Response:
        body = FraudSettingsInput(data=request.data)
        body.is_valid(raise_exception=True)
        brand = brand_set_fraud_settings(actor=self.actor, **body.validated_data)
        return Response(FraudSettingsOutput(brand).data)
