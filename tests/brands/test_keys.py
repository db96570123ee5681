import math
from datetime import UTC, datetime, timedelta

import pytest
from django.core import serializers as dj_serializers
from django.utils import timezone

from audit.models import AuditEvent
from brands.keys import KEY_PATTERN, SECRET_LENGTH, generate_key, parse_key
from brands.models import ApiKey, ApiKeyScope
from brands.services import (
    LAST_USED_RESOLUTION,
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
)
from core.errors import AuthenticationError, PermissionDeniedError
from core.ids import BASE62
from tests.conftest import client_with_key, issue_key


def test_generated_key_has_the_documented_shape_and_at_least_256_bits():
    key = generate_key()
    assert KEY_PATTERN.match(key.plaintext)
    assert key.plaintext.startswith(f"trk_{key.prefix}_")
    assert SECRET_LENGTH * math.log2(len(BASE62)) >= 256


def test_every_single_character_typo_is_rejected_by_the_checksum():
    plaintext = generate_key().plaintext
    body_start = len("trk_")
    for index in range(body_start, len(plaintext)):
        if plaintext[index] == "_":
            continue
        for replacement in "aZ9":
            if replacement == plaintext[index]:
                continue
            typo = plaintext[:index] + replacement + plaintext[index + 1 :]
            assert parse_key(typo) is None, f"typo at {index} accepted"


def test_api_key_create_stores_only_a_hash_and_returns_plaintext_once(actor):
    key, plaintext = api_key_create(actor=actor, label="CI", scope=ApiKeyScope.READ)
    secret = plaintext.split("_", 2)[2]
    dump = dj_serializers.serialize("json", ApiKey.objects.all())
    assert plaintext not in dump
    assert secret[:20] not in dump
    assert key.prefix in plaintext
    events = AuditEvent.objects.filter(action="api_key.create")
    assert events.count() == 1
    assert plaintext not in str(events.get().changes)
    assert secret[:20] not in str(list(AuditEvent.objects.values()))


def test_read_only_actor_cannot_issue_keys(read_actor):
    with pytest.raises(PermissionDeniedError):
        api_key_create(actor=read_actor, label="x")
    assert ApiKey.objects.count() == 0


def test_authenticate_accepts_the_issued_key_and_rejects_a_wrong_secret(brand):
    plaintext = issue_key(brand)
    assert api_key_authenticate(plaintext).brand_id == brand.pk
    other = generate_key().plaintext
    forged = f"trk_{plaintext[4:14]}_{other.split('_', 2)[2]}"
    with pytest.raises(AuthenticationError) as err:
        api_key_authenticate(forged)
    assert err.value.code == "invalid_api_key"


def test_last_used_at_is_written_at_most_once_per_resolution(
    brand, django_assert_num_queries, time_machine
):
    first = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    time_machine.move_to(first, tick=False)
    plaintext = issue_key(brand)
    api_key_authenticate(plaintext)
    assert ApiKey.objects.get().last_used_at == first
    # No query at all until the resolution has passed: the key row is cached in process, and
    # there is no UPDATE within the minute...
    time_machine.move_to(first + LAST_USED_RESOLUTION - timedelta(microseconds=1), tick=False)
    with django_assert_num_queries(0):
        api_key_authenticate(plaintext)
    assert ApiKey.objects.get().last_used_at == first
    # ...and exactly one once it has.
    later = first + LAST_USED_RESOLUTION
    time_machine.move_to(later, tick=False)
    with django_assert_num_queries(1):
        api_key_authenticate(plaintext)
    assert ApiKey.objects.get().last_used_at == later


def test_revoked_key_is_refused_on_the_next_request(
    brand, actor, django_capture_on_commit_callbacks
):
    plaintext = issue_key(brand)
    client = client_with_key(plaintext)
    assert client.get("/api/v1/offers/").status_code == 200  # the key is now cached
    # Revoking commits, then drops the key from every process's cache.
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(actor=actor, api_key=ApiKey.objects.get(prefix=plaintext[4:14]))
    response = client.get("/api/v1/offers/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "revoked_api_key"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoke_is_audited_once_and_idempotent(brand, actor):
    plaintext = issue_key(brand)
    key = ApiKey.objects.get(prefix=plaintext[4:14])
    api_key_revoke(actor=actor, api_key=key)
    api_key_revoke(actor=actor, api_key=key)
    assert AuditEvent.objects.filter(action="api_key.revoke").count() == 1
    assert ApiKey.objects.get(pk=key.pk).revoked_at <= timezone.now()


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer trk_nope", "Basic dXNlcjpwYXNz", "Bearer trk_aaaaaaaaaa_" + "A" * 49],
)
def test_missing_or_malformed_credentials_get_401(db, header):
    from rest_framework.test import APIClient

    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/offers/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"unauthenticated", "invalid_api_key"}


def test_key_in_query_string_is_refused(brand):
    from rest_framework.test import APIClient

    plaintext = issue_key(brand)
    response = APIClient().get(f"/api/v1/offers/?api_key={plaintext}")
    assert response.status_code == 401
