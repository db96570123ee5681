"""Hostile input on the invitation endpoints: the list's filters and paging, and the resend
and revoke ids (this brand's, another brand's, malformed) with hostile bodies. Never a 5xx,
always the error shape, and another brand's invitation is never touched."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from partners.invitations import partner_invite
from partners.models import PartnerInvitation
from tests.conftest import make_actor
from tests.reliability.test_hostile_fuzz import (
    FUZZ,
    _assert_rest_error_shape,
    hostile_text,
    json_values,
    wire_text,
)

LIST = "/api/v1/partners/invitations/"
query = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(["pending", "accepted", "expired", "revoked", "sent"])
        | wire_text,
        "email": st.sampled_from(["a@example.com", "A@EXAMPLE.COM"]) | wire_text,
        "limit": st.integers(-2, 600).map(str) | wire_text,
        "cursor": wire_text,
        "brand": wire_text,
    },
)
bodies = st.fixed_dictionaries(
    {}, optional={"dry_run": st.booleans() | json_values, "email": hostile_text, "x": json_values}
)


@pytest.fixture(autouse=True)
def _no_api_rate_limit(settings):
    settings.TRCKER_API_RATE = "100000/m"
    settings.TRCKER_PARTNER_INVITES_RATE = "100000/d"


@FUZZ
@given(params=query)
def test_the_list_never_fails_badly(api, params):
    text = "&".join(f"{key}={value}" for key, value in params.items())
    answer = api.get(f"{LIST}?{text}")
    _assert_rest_error_shape(answer)
    assert answer.status_code in (200, 400, 422), (params, answer.content)


@FUZZ
@given(
    target=st.sampled_from(["mine", "foreign", "never", "malformed"]),
    verb=st.sampled_from(["resend", "revoke"]),
    body=bodies,
)
def test_resend_and_revoke_never_fail_badly_nor_reach_another_brand(
    api, brand, other_brand, target, verb, body
):
    mine = PartnerInvitation.objects.filter(brand=brand).first() or partner_invite(
        actor=make_actor(brand), email="mine@example.com"
    )
    theirs = PartnerInvitation.objects.filter(brand=other_brand).first() or partner_invite(
        actor=make_actor(other_brand), email="theirs@example.com"
    )
    invitation_id = {
        "mine": mine.invitation_id,
        "foreign": theirs.invitation_id,
        "never": "inv_" + "z" * 22,
        "malformed": "inv_%00",
    }[target]
    answer = api.post(
        f"{LIST}{invitation_id}/{verb}/", json.dumps(body), content_type="application/json"
    )
    _assert_rest_error_shape(answer)
    assert answer.status_code in (200, 400, 404, 409, 422), (target, body, answer.content)
    if target != "mine":
        assert answer.status_code in (400, 404, 422)
    theirs.refresh_from_db()
    assert (theirs.revoked_at, theirs.sent_count) == (None, 1)
