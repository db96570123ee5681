"""/api/partner/v1/: every routed partner operation, derived from its declaration."""

from __future__ import annotations

from operations.catalog import PARTNER_OPERATIONS
from rest_api.operations import urlpatterns_for
from rest_api.partner import PartnerOperationApi

urlpatterns = urlpatterns_for(PARTNER_OPERATIONS.values(), base=PartnerOperationApi)
