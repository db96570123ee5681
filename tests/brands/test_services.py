import pytest

from audit.actor import Channel
from audit.models import AuditEvent
from audit.services import audit_chain_link
from brands.models import Brand, StaffMembership
from brands.services import (
    brand_create,
    brand_set_fraud_settings,
    brand_update,
    staff_membership_remove,
    staff_membership_set,
)
from core.errors import ConflictError, PermissionDeniedError, ValidationError
from tests.factories import UserFactory


def test_brand_create_starts_the_brands_audit_chain(db):
    brand = brand_create(
        creator_label="system:cli",
        channel=Channel.CLI,
        slug="acme",
        name="Acme",
        timezone_name="Europe/Berlin",
        currency="EUR",
    )
    audit_chain_link(brand.pk)
    event = AuditEvent.objects.get(brand=brand)
    assert (event.seq, event.action, event.actor_label, event.channel) == (
        1,
        "brand.create",
        "system:cli",
        "cli",
    )
    assert event.changes["timezone"] == [None, "Europe/Berlin"]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"slug": "Bad Slug"}, ValidationError),
        ({"timezone_name": "Mars/Olympus"}, ValidationError),
        ({"currency": "usd"}, ValidationError),
    ],
)
def test_brand_create_rejects_bad_input_and_writes_nothing(db, kwargs, error):
    args = {"slug": "acme", "name": "Acme", **kwargs}
    with pytest.raises(error):
        brand_create(creator_label="system:cli", channel=Channel.CLI, **args)
    assert Brand.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def test_brand_create_duplicate_slug_is_a_conflict(brand):
    with pytest.raises(ConflictError) as err:
        brand_create(creator_label="system:cli", channel=Channel.CLI, slug=brand.slug, name="Dup")
    assert err.value.code == "brand_slug_taken"


def test_brand_update_records_old_and_new(actor, brand):
    brand_update(actor=actor, name="Acme Inc", timezone_name="America/New_York")
    event = AuditEvent.objects.get(action="brand.update")
    assert event.changes == {
        "name": [brand.name, "Acme Inc"],
        "timezone": ["UTC", "America/New_York"],
    }
    assert event.actor_label == actor.label


def test_brand_set_fraud_settings_validates_and_audits(actor):
    with pytest.raises(ValidationError):
        brand_set_fraud_settings(actor=actor, threshold=101)
    with pytest.raises(ValidationError):
        brand_set_fraud_settings(actor=actor, mode="nuke")
    brand = brand_set_fraud_settings(actor=actor, mode="review", threshold=55, botd_enabled=False)
    assert (brand.fraud_mode, brand.fraud_threshold) == ("review", 55)
    events = AuditEvent.objects.filter(action="brand.fraud_settings")
    assert events.count() == 1
    assert events.get().changes == {
        "fraud_mode": ["monitor", "review"],
        "fraud_threshold": [70, 55],
    }


def test_brand_writes_need_write_scope(read_actor):
    with pytest.raises(PermissionDeniedError):
        brand_update(actor=read_actor, name="x")
    with pytest.raises(PermissionDeniedError):
        brand_set_fraud_settings(actor=read_actor, mode="off")
    assert AuditEvent.objects.count() == 0


def test_staff_membership_set_and_remove_are_audited(actor, brand):
    user = UserFactory()
    membership = staff_membership_set(actor=actor, user=user, role="analyst")
    staff_membership_set(actor=actor, user=user, role="analyst")  # no-op: no second event
    staff_membership_set(actor=actor, user=user, role="admin")
    staff_membership_remove(actor=actor, membership=StaffMembership.objects.get(pk=membership.pk))
    actions = list(AuditEvent.objects.order_by("id").values_list("action", "changes"))
    assert actions == [
        ("staff.set_role", {"user": [None, user.pk], "role": [None, "analyst"]}),
        ("staff.set_role", {"user": [None, user.pk], "role": ["analyst", "admin"]}),
        ("staff.remove", {"user": [user.pk, None], "role": ["admin", None]}),
    ]
    assert not StaffMembership.objects.exists()


def test_the_last_owner_cannot_be_demoted_or_removed(actor, brand):
    owner = staff_membership_set(actor=actor, user=UserFactory(), role="owner")
    with pytest.raises(ConflictError) as err:
        staff_membership_set(actor=actor, user=owner.user, role="analyst")
    assert err.value.code == "last_owner"
    with pytest.raises(ConflictError):
        staff_membership_remove(actor=actor, membership=owner)
    second = staff_membership_set(actor=actor, user=UserFactory(), role="owner")
    staff_membership_set(actor=actor, user=owner.user, role="analyst")  # another owner remains
    assert StaffMembership.objects.get(pk=second.pk).role == "owner"
