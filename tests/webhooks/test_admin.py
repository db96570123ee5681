"""The webhook endpoints' admin calls the services (audited, SSRF-checked), and the Brand
admin's action shows a new signing secret once."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from audit.models import AuditEvent
from brands.webhook_models import SigningSecret, WebhookEndpoint


@pytest.fixture
def staff(client, brand, django_user_model):
    from brands.services import staff_membership_set
    from tests.conftest import make_actor

    user = django_user_model.objects.create_user("owner", password="pw", is_staff=True)
    staff_membership_set(actor=make_actor(brand), user=user, role="owner")
    client.force_login(user)
    return client


def test_add_change_delete_a_webhook_in_the_admin(staff, brand):
    add = reverse("admin:brands_webhookendpoint_add")
    answer = staff.post(
        add,
        {
            "brand": brand.pk,
            "url": "https://hooks.example.com/a",
            "events": ["conversion.approved", "payout.paid"],
            "description": "ops",
            "is_active": "on",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    hook = WebhookEndpoint.objects.get()
    assert hook.events == ["conversion.approved", "payout.paid"]
    refused = staff.post(
        add,
        {"brand": brand.pk, "url": "http://127.0.0.1/x", "events": ["payout.paid"]},
    )
    assert refused.status_code == 200  # the form again, with the refusal
    assert WebhookEndpoint.objects.count() == 1
    change = reverse("admin:brands_webhookendpoint_change", args=[hook.pk])
    answer = staff.post(
        change,
        {"url": hook.url, "events": ["cap.reached"], "description": "ops", "is_active": "on"},
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    hook.refresh_from_db()
    assert hook.events == ["cap.reached"]
    delete = reverse("admin:brands_webhookendpoint_delete", args=[hook.pk])
    assert staff.post(delete, {"post": "yes"}).status_code == 302
    assert not WebhookEndpoint.objects.exists()
    assert [e.action for e in AuditEvent.objects.filter(action__startswith="webhook.")] == [
        "webhook.create",
        "webhook.update",
        "webhook.delete",
    ]


def test_rotate_signing_secret_action_shows_it_once(staff, brand):
    answer = staff.post(
        reverse("admin:brands_brand_changelist"),
        {"action": "rotate_signing_secrets", "index": "0", "_selected_action": [str(brand.pk)]},
    )
    assert answer.status_code == 302
    shown = [str(m) for m in get_messages(answer.wsgi_request)]
    secret = SigningSecret.objects.get(brand=brand).secret
    assert any(secret in message for message in shown)
    change = reverse("admin:brands_brand_change", args=[brand.pk])
    assert secret in staff.get(change).content.decode()  # the one-time message, displayed
    assert secret not in staff.get(change).content.decode()  # and never again
