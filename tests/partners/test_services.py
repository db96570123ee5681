import pytest
from django.core import mail

from audit.models import AuditEvent
from core.errors import (
    ConflictError,
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from mailer.sending import emails_send_due
from partners.models import Coupon, CouponStatus, Partner, PartnerStatus
from partners.selectors import (
    coupon_get_for_actor,
    coupon_list,
    partner_get_for_actor,
    partner_list,
)
from partners.services import (
    coupon_create,
    coupon_disable,
    coupon_enable,
    coupon_try_use,
    partner_approve,
    partner_create,
    partner_pause,
    partner_reject,
    partner_resume,
    partner_update,
)
from tests.factories import CouponFactory, OfferFactory, PartnerFactory


def only_event(action):
    events = list(AuditEvent.objects.filter(action=action))
    assert len(events) == 1, f"expected exactly one {action} event, got {len(events)}"
    return events[0]


def test_partner_create_is_active_unless_pending_requested(actor):
    active = partner_create(actor=actor, name="ABC Media", email="a@abc.example")
    pending = partner_create(actor=actor, name="Newcomer", status="pending")
    assert (active.slug, active.status, active.approved_at is not None) == (
        "abc-media",
        "active",
        True,
    )
    assert (pending.status, pending.applied_at is not None, pending.approved_at) == (
        "pending",
        True,
        None,
    )
    assert AuditEvent.objects.filter(action="partner.create").count() == 2


def test_partner_create_rejects_bad_status_email_and_duplicates(actor, partner):
    with pytest.raises(ValidationError):
        partner_create(actor=actor, name="x", status="paused")
    with pytest.raises(ValidationError):
        partner_create(actor=actor, name="x", email="not-an-email")
    with pytest.raises(ConflictError) as err:
        partner_create(actor=actor, name="x", partner_id=partner.slug)
    assert err.value.code == "partner_id_taken"
    assert Partner.objects.count() == 1
    assert not AuditEvent.objects.exists()


def test_partner_update_audits_changes(actor, partner):
    partner_update(actor=actor, partner=partner, website="https://abc.example")
    assert only_event("partner.update").changes == {"website": ["", "https://abc.example"]}
    with pytest.raises(ValidationError):
        partner_update(actor=actor, partner=partner, status="active")


def test_partner_approve_queues_welcome_and_tracking_emails_for_the_worker(actor, brand):
    OfferFactory(brand=brand, slug="spring-sale", name="Spring Sale")
    applicant = PartnerFactory(
        brand=brand, slug="newbie", status=PartnerStatus.PENDING, approved_at=None
    )
    partner_approve(actor=actor, partner=applicant)
    applicant.refresh_from_db()
    assert applicant.status == PartnerStatus.ACTIVE
    assert applicant.approved_at is not None
    assert only_event("partner.approve").changes["status"] == ["pending", "active"]
    assert mail.outbox == []  # queued, not sent
    assert emails_send_due() == 2
    assert len(mail.outbox) == 2
    assert all(message.to == [applicant.email] for message in mail.outbox)
    assert "/c/acme/spring-sale/newbie" in mail.outbox[1].body


def test_partner_approve_without_email_sends_nothing(actor, brand):
    applicant = PartnerFactory(brand=brand, status=PartnerStatus.PENDING, email="")
    partner_approve(actor=actor, partner=applicant)
    assert emails_send_due() == 0
    assert mail.outbox == []


def test_partner_transitions(actor, partner, brand):
    partner_pause(actor=actor, partner=partner)
    assert only_event("partner.pause").changes == {"status": ["active", "paused"]}
    partner_resume(actor=actor, partner=partner)
    partner_approve(actor=actor, partner=partner)  # already active: an idempotent no-op
    assert not AuditEvent.objects.filter(action="partner.approve").exists()
    with pytest.raises(InvalidTransitionError):
        partner_reject(actor=actor, partner=partner)
    applicant = PartnerFactory(brand=brand, status=PartnerStatus.PENDING)
    partner_reject(actor=actor, partner=applicant)
    with pytest.raises(InvalidTransitionError):
        partner_pause(actor=actor, partner=applicant)


def test_coupon_create_is_case_insensitively_unique(actor, partner, offer):
    coupon = coupon_create(actor=actor, partner=partner, code="Spring10", offer=offer, max_uses=5)
    with pytest.raises(ConflictError) as err:
        coupon_create(actor=actor, partner=partner, code="SPRING10")
    assert err.value.code == "coupon_code_taken"
    assert coupon_get_for_actor(actor=actor, code="spring10") == coupon
    assert only_event("coupon.create").changes == {
        "partner_id": [None, partner.slug],
        "offer_id": [None, offer.slug],
        "max_uses": [None, 5],
    }


@pytest.mark.parametrize("code", ["", "has space", "x" * 65, "semi;colon", "<script>"])
def test_coupon_create_rejects_bad_codes(actor, partner, code):
    with pytest.raises(ValidationError):
        coupon_create(actor=actor, partner=partner, code=code)
    assert not Coupon.objects.exists()


def test_coupon_create_refuses_other_brands_partner_or_offer(actor, partner, other_brand):
    with pytest.raises(NotFoundError):
        coupon_create(actor=actor, partner=PartnerFactory(brand=other_brand), code="X1")
    with pytest.raises(NotFoundError):
        coupon_create(
            actor=actor, partner=partner, code="X2", offer=OfferFactory(brand=other_brand)
        )
    assert not Coupon.objects.exists()


def test_coupon_disable_enable_and_use_counting(actor, brand):
    coupon = CouponFactory(brand=brand, max_uses=2)
    assert coupon_try_use(coupon=coupon)
    assert coupon_try_use(coupon=coupon)
    assert not coupon_try_use(coupon=coupon)  # never past max_uses
    assert Coupon.objects.get(pk=coupon.pk).used_count == 2
    unlimited = CouponFactory(brand=brand)
    coupon_disable(actor=actor, coupon=unlimited)
    assert not coupon_try_use(coupon=unlimited)
    coupon_enable(actor=actor, coupon=unlimited)
    assert coupon_try_use(coupon=unlimited)
    assert Coupon.objects.get(pk=unlimited.pk).status == CouponStatus.ACTIVE
    assert AuditEvent.objects.filter(action__in=["coupon.disable", "coupon.enable"]).count() == 2


def test_partner_and_coupon_writes_need_write_scope(read_actor, partner):
    calls = [
        lambda: partner_create(actor=read_actor, name="x"),
        lambda: partner_update(actor=read_actor, partner=partner, name="x"),
        lambda: partner_pause(actor=read_actor, partner=partner),
        lambda: coupon_create(actor=read_actor, partner=partner, code="RO"),
    ]
    for call in calls:
        with pytest.raises(PermissionDeniedError):
            call()
    assert not AuditEvent.objects.exists()


def test_partner_and_coupon_selectors_are_scoped(actor, partner, other_brand):
    PartnerFactory(brand=other_brand, slug=partner.slug)
    CouponFactory(brand=other_brand, code="FOREIGN")
    mine = CouponFactory(brand=actor_brand(actor), partner=partner, code="MINE")
    assert list(partner_list(actor=actor)) == [partner]
    assert list(partner_list(actor=actor, search="abc")) == [partner]
    assert list(coupon_list(actor=actor)) == [mine]
    assert list(coupon_list(actor=actor, partner_id=partner.slug, status="active")) == [mine]
    with pytest.raises(NotFoundError):
        coupon_get_for_actor(actor=actor, code="FOREIGN")
    with pytest.raises(NotFoundError):
        partner_get_for_actor(actor=actor, partner_id="nope")


def actor_brand(actor):
    from brands.models import Brand

    return Brand.objects.get(pk=actor.brand_id)


def test_partner_postback_url_template_is_updatable_and_ssrf_checked(actor, partner):
    updated = partner_update(
        actor=actor,
        partner=partner,
        postback_url_template="https://partner.example/pb?c={CLICK_ID}&s={STATUS}",
    )
    assert updated.postback_url_template == "https://partner.example/pb?c={CLICK_ID}&s={STATUS}"
    assert only_event("partner.update").changes["postback_url_template"][0] == ""
    for unsafe in ("http://127.0.0.1/pb", "http://{CLICK_ID}.example/pb", "ftp://x.example/"):
        with pytest.raises(ValidationError):
            partner_update(actor=actor, partner=partner, postback_url_template=unsafe)
    partner.refresh_from_db()
    assert partner.postback_url_template.startswith("https://partner.example/")
    cleared = partner_update(actor=actor, partner=partner, postback_url_template="")
    assert cleared.postback_url_template == ""
