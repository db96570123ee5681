"""Schemathesis over the REST OpenAPI document, in-process, with a real read-write key: no
5xx, and no response outside its documented schema."""

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, settings
from schemathesis import checks

from tests.conftest import issue_key
from tests.factories import BrandFactory, CouponFactory, OfferFactory, PartnerFactory

# The document needs no database: load it once, in-process, at collection time.
# Schemathesis addresses the app as "localhost".
with override_settings(ALLOWED_HOSTS=["localhost"]):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())


@pytest.fixture
def in_test_transaction():
    """Schemathesis calls the WSGI app directly, not through Django's test client, so do what
    the client does: keep Django from closing the connection at the end of each request, which
    would leave the test's transaction (and, on PostgreSQL, the pool) behind."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def key(db, settings, in_test_transaction):
    settings.ALLOWED_HOSTS = ["localhost"]
    brand = BrandFactory(slug="fuzz")
    offer = OfferFactory(brand=brand, slug="spring-sale")
    partner = PartnerFactory(brand=brand, slug="abc-123")
    CouponFactory(brand=brand, partner=partner, offer=offer, code="SPRING10")
    return issue_key(brand)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_rest_api_has_no_5xx_and_matches_its_schema(case, key):
    response = case.call(headers={"Authorization": f"Bearer {key}"})
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
    # Opaque cursors and ids that merely match the schema are rightly refused (404/422), so
    # "schema-valid request rejected" is not a failure here; every other check applies.
    case.validate_response(
        response,
        excluded_checks=[checks.positive_data_acceptance],
        headers={"Authorization": f"Bearer {key}"},
    )
