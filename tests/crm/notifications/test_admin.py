"""The admin: operators edit templates (checked and previewed), helpdesk follows up failed
messages with retry and resend (both audited)."""

import pytest
from django.urls import reverse

from crm.models import AuditEvent, MessageTemplate, OutboundMessage
from crm.notifications.catalog import Channel, Event
from crm.roles import Role
from tests.crm.factories import staff_user
from tests.crm.notifications.factories import OutboundMessageFactory

pytestmark = pytest.mark.django_db

Status = OutboundMessage.Status
FAILED_LIST = "/admin/crm/failedmessage/"
MESSAGE_LIST = "/admin/crm/outboundmessage/"


@pytest.fixture
def helpdesk(client, sign_in_verified):
    user = staff_user(Role.HELPDESK)
    sign_in_verified(user)
    return user


@pytest.fixture
def operator(client, sign_in_verified):
    user = staff_user(Role.OPERATOR)
    sign_in_verified(user)
    return user


def _failed_sms(**fields):
    return OutboundMessageFactory(
        status=Status.FAILED,
        attempts=5,
        last_error="Twilio refused the message: HTTP 500",
        **fields,
    )


def test_helpdesk_sees_failed_messages_with_their_errors_and_nothing_else(client, helpdesk):
    failed = _failed_sms()
    OutboundMessageFactory(status=Status.SENT, recipient="+46739999999")

    response = client.get(FAILED_LIST)

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [failed]
    assert "Twilio refused the message: HTTP 500" in response.text


def test_the_message_list_filters_by_status_and_channel(client, helpdesk):
    failed_sms = _failed_sms()
    OutboundMessageFactory(status=Status.SENT)
    _failed_sms(channel=Channel.EMAIL, subject="Hi")

    response = client.get(MESSAGE_LIST, {"status__exact": "failed", "channel__exact": "sms"})

    assert list(response.context["cl"].result_list) == [failed_sms]


def test_helpdesk_retries_a_failed_message_and_it_is_sent_and_audited(
    client, helpdesk, fake_twilio, celery_eager, django_capture_on_commit_callbacks
):
    failed = _failed_sms()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            FAILED_LIST, {"action": "retry_messages", "_selected_action": [failed.pk]}
        )

    assert response.status_code == 302
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (Status.SENT, 1)
    assert len(fake_twilio.sent_sids) == 1
    event = AuditEvent.objects.get(action="message.retry")
    assert (event.actor_id, event.object_id) == (helpdesk.pk, str(failed.pk))
    assert event.before == {
        "status": "failed",
        "attempts": 5,
        "last_error": "Twilio refused the message: HTTP 500",
    }


def test_retrying_a_message_that_did_not_fail_is_refused_and_changes_nothing(client, helpdesk):
    sent = OutboundMessageFactory(status=Status.SENT, attempts=1)

    response = client.post(
        MESSAGE_LIST, {"action": "retry_messages", "_selected_action": [sent.pk]}, follow=True
    )

    assert "Only failed messages can be retried; this one is Sent." in response.text
    sent.refresh_from_db()
    assert (sent.status, sent.attempts) == (Status.SENT, 1)
    assert not AuditEvent.objects.filter(action="message.retry").exists()


def test_helpdesk_resends_a_message_to_the_customers_corrected_address(
    client, helpdesk, fake_twilio, celery_eager, django_capture_on_commit_callbacks
):
    original = OutboundMessageFactory(status=Status.DELIVERED, body="Your parcel is on its way.")
    customer = original.customer
    customer.phone = "+46701112233"  # corrected by the helpdesk after the first send
    customer.save()

    with django_capture_on_commit_callbacks(execute=True):
        client.post(MESSAGE_LIST, {"action": "resend_messages", "_selected_action": [original.pk]})

    resent = OutboundMessage.objects.get(resent_from=original)
    assert (resent.status, resent.recipient, resent.body) == (
        Status.SENT,
        "+46701112233",
        "Your parcel is on its way.",
    )
    assert resent.idempotency_key == f"{original.idempotency_key}:resend-1"
    assert fake_twilio.requests[0]["form"]["To"] == "+46701112233"
    assert AuditEvent.objects.filter(
        action="message.resend", actor=helpdesk, object_id=str(resent.pk)
    ).exists()


def test_a_sign_in_code_is_never_resent(client, helpdesk):
    message = OutboundMessageFactory(event=Event.OTP_CODE, status=Status.SENT)

    response = client.post(
        MESSAGE_LIST, {"action": "resend_messages", "_selected_action": [message.pk]}, follow=True
    )

    assert "A sign-in code is never sent again" in response.text
    assert OutboundMessage.objects.count() == 1


def test_a_message_to_an_address_shows_its_recipient_in_the_list_and_on_its_page(client, helpdesk):
    message = OutboundMessageFactory(
        customer=None, event=Event.OTP_CODE, recipient="+46701234567", status=Status.FAILED
    )

    listed = client.get(MESSAGE_LIST)
    failed = client.get(FAILED_LIST)
    page = client.get(reverse("admin:crm_outboundmessage_change", args=[message.pk]))

    assert list(listed.context["cl"].result_list) == [message]
    for response in (listed, failed, page):
        assert response.status_code == 200
        assert "+46701234567 <small>(no customer)</small>" in response.text


def test_a_message_to_an_address_is_resent_to_the_same_address(
    client, helpdesk, fake_twilio, celery_eager, django_capture_on_commit_callbacks
):
    original = OutboundMessageFactory(
        customer=None, recipient="+46701234567", status=Status.SENT, body="Welcome!"
    )

    with django_capture_on_commit_callbacks(execute=True):
        client.post(MESSAGE_LIST, {"action": "resend_messages", "_selected_action": [original.pk]})

    resent = OutboundMessage.objects.get(resent_from=original)
    assert (resent.customer, resent.recipient, resent.status) == (None, "+46701234567", Status.SENT)
    assert fake_twilio.requests[0]["form"]["To"] == "+46701234567"


def test_helpdesk_may_read_templates_but_not_change_them(client, helpdesk):
    template = MessageTemplate.objects.get(event=Event.CLAIM_APPROVED, channel="sms", language="en")

    assert client.get(reverse("admin:crm_messagetemplate_changelist")).status_code == 200
    assert client.get(reverse("admin:crm_messagetemplate_add")).status_code == 403
    response = client.post(
        reverse("admin:crm_messagetemplate_change", args=[template.pk]),
        {"event": template.event, "channel": "sms", "language": "en", "body": "Changed"},
    )
    assert response.status_code == 403
    template.refresh_from_db()
    assert template.body != "Changed"


def test_roles_without_message_permissions_cannot_retry(client, operator):
    failed = _failed_sms()

    response = client.post(
        FAILED_LIST, {"action": "retry_messages", "_selected_action": [failed.pk]}
    )

    # The operator sees the list but the retry action is not offered to them
    assert response.status_code == 200
    failed.refresh_from_db()
    assert failed.status == Status.FAILED


def test_operator_saving_an_invalid_template_sees_why_and_nothing_is_saved(client, operator):
    template = MessageTemplate.objects.get(event=Event.CLAIM_APPROVED, channel="sms", language="en")
    body_before = template.body

    response = client.post(
        reverse("admin:crm_messagetemplate_change", args=[template.pk]),
        {
            "event": template.event,
            "channel": "sms",
            "language": "en",
            "purpose": "transactional",
            "subject": "",
            "body": "Hi {{ custmer.first_name }}",
            "is_active": "on",
        },
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "body": [
            "Unknown variable 'custmer'. The event claim.approved provides: claim, customer, site."
        ]
    }
    template.refresh_from_db()
    assert template.body == body_before


def test_operator_edits_a_template_and_sees_the_preview_with_sample_data(client, operator):
    template = MessageTemplate.objects.get(event=Event.CLAIM_APPROVED, channel="sms", language="en")
    url = reverse("admin:crm_messagetemplate_change", args=[template.pk])

    response = client.post(
        url,
        {
            "event": template.event,
            "channel": "sms",
            "language": "en",
            "purpose": "transactional",
            "subject": "",
            "body": "Hi {{ customer.first_name }}, {{ claim.prize_name }} is yours!",
            "is_active": "on",
            "_continue": "Save and continue editing",
        },
        follow=True,
    )

    assert response.status_code == 200
    assert "Hi Ada, Wireless headphones is yours!" in response.text
    assert AuditEvent.objects.filter(
        action="admin.change", actor=operator, object_id=str(template.pk)
    ).exists()
