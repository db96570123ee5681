from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from audit import selectors
from audit.serializers import AuditEventListFilters, AuditEventOutput
from rest_api.base import TenantApi, paginate, paginated, query_params


class AuditEventListApi(TenantApi):
    @extend_schema(
        tags=["audit"], parameters=[AuditEventListFilters], responses=paginated(AuditEventOutput)
    )
    def get(self, request: Request) -> Response:
        filters = AuditEventListFilters(data=query_params(request))
        filters.is_valid(raise_exception=True)
        data = dict(filters.validated_data)
        data.pop("limit", None)
        data.pop("cursor", None)
        events = selectors.audit_event_list(
            actor=self.actor, actor_label=data.pop("actor", None), **data
        )
        return paginate(self, request, events, AuditEventOutput, ordering=("-id",))


class AuditEventDetailApi(TenantApi):
    @extend_schema(tags=["audit"], responses=AuditEventOutput)
    def get(self, request: Request, event_id: int) -> Response:
        event = selectors.audit_event_get_for_actor(actor=self.actor, event_id=event_id)
        return Response(AuditEventOutput(event).data)
