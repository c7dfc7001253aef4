"""Domain events become messages: once per event, after commit, in the customer's language,
with consent and quiet hours applied to marketing messages only."""

import base64
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import redis
import time_machine
from django.conf import settings
from django.core import mail
from django.db import transaction

from crm.events import publish
from crm.models import MessageTemplate, OutboundMessage
from crm.notifications.catalog import Channel, Event, Purpose
from crm.notifications.rendering import customer_context, render_message, site_context
from crm.notifications.selectors import messages_failed
from crm.notifications.services import (
    REDACTED_TEXT,
    message_enqueue,
    message_enqueue_to_address,
)
from tests.crm.notifications.factories import MessageTemplateFactory, NotifiedCustomerFactory

pytestmark = pytest.mark.django_db

Status = OutboundMessage.Status
STOCKHOLM = ZoneInfo("Europe/Stockholm")
CLAIM = {
    "number": "C-42",
    "status": "approved",
    "prize_name": "Headphones",
    "url": "https://rewards.example.com/claims/C-42/",
    "tracking_url": "https://rewards.example.com/claims/C-42/",
}
CLAIM_TRANSITIONS = [
    Event.CLAIM_SUBMITTED,
    Event.CLAIM_IN_REVIEW,
    Event.CLAIM_RESUBMISSION_REQUESTED,
    Event.CLAIM_APPROVED,
    Event.CLAIM_REJECTED,
    Event.CLAIM_DISPATCHED,
    Event.CLAIM_DELIVERED,
]


def _publish_claim_event(event: str, customer, *, event_id: str = "claim-42-1") -> None:
    publish(event, customer_id=customer.pk, event_id=event_id, claim=CLAIM)


@pytest.mark.parametrize("event", CLAIM_TRANSITIONS)
def test_every_claim_transition_sends_its_sms_and_email_once_after_commit(
    event, celery_eager, django_capture_on_commit_callbacks
):
    # Given a Swedish-speaking customer with a phone and an email, and the default templates
    customer = NotifiedCustomerFactory(preferred_language="sv")

    # When the claims app publishes the transition inside its transaction
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        _publish_claim_event(event, customer)
        assert OutboundMessage.objects.count() == 0  # nothing before commit

    # Then one SMS and one email went out, in Swedish, and were recorded as sent
    messages = {message.channel: message for message in OutboundMessage.objects.all()}
    assert set(messages) == {Channel.SMS, Channel.EMAIL}
    assert {message.status for message in messages.values()} == {Status.SENT}
    assert {message.language for message in messages.values()} == {"sv"}
    assert {message.attempts for message in messages.values()} == {1}
    assert messages[Channel.SMS].recipient == customer.phone
    for channel, message in messages.items():
        template = MessageTemplate.objects.get(event=event, channel=channel, language="sv")
        expected = render_message(
            subject=template.subject,
            body=template.body,
            context={
                "customer": customer_context(customer),
                "site": site_context(),
                "claim": CLAIM,
            },
        )
        assert (message.template, message.subject, message.body) == (
            template,
            expected.subject,
            expected.body,
        )
        assert "Ada" in message.body
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [customer.email]
    assert mail.outbox[0].subject == messages[Channel.EMAIL].subject
    assert mail.outbox[0].body == messages[Channel.EMAIL].body


def test_the_same_event_published_again_sends_nothing_new(
    celery_eager, django_capture_on_commit_callbacks
):
    customer = NotifiedCustomerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        _publish_claim_event(Event.CLAIM_APPROVED, customer, event_id="claim-42-approved")

    with django_capture_on_commit_callbacks(execute=True):
        _publish_claim_event(Event.CLAIM_APPROVED, customer, event_id="claim-42-approved")

    assert OutboundMessage.objects.count() == 2  # one SMS, one email
    assert len(mail.outbox) == 1


def test_no_message_when_the_publishing_transaction_rolls_back(
    celery_eager, django_capture_on_commit_callbacks
):
    customer = NotifiedCustomerFactory()

    def approve_then_fail():
        with transaction.atomic():
            _publish_claim_event(Event.CLAIM_APPROVED, customer)
            raise RuntimeError("the claim transition failed")

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
    ):
        approve_then_fail()

    assert callbacks == []
    assert OutboundMessage.objects.count() == 0
    assert mail.outbox == []


def test_a_message_rendered_inside_a_rolled_back_transaction_is_never_sent(
    celery_eager, django_capture_on_commit_callbacks
):
    # message_enqueue called directly, inside a transaction that then fails
    customer = NotifiedCustomerFactory()

    def enqueue_then_fail():
        with transaction.atomic():
            message_enqueue(
                event=Event.CLAIM_APPROVED,
                customer=customer,
                context={"claim": CLAIM},
                idempotency_key="claim.approved:claim-42",
            )
            raise RuntimeError("rolled back")

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
    ):
        enqueue_then_fail()

    assert callbacks == []
    assert OutboundMessage.objects.count() == 0
    assert mail.outbox == []


def test_a_language_without_a_template_falls_back_to_english(celery_eager):
    customer = NotifiedCustomerFactory(preferred_language="sv", email="")
    MessageTemplateFactory(
        event=Event.CLAIM_APPROVED, channel=Channel.SMS, language="sv", is_active=False
    )

    [message] = message_enqueue(
        event=Event.CLAIM_APPROVED,
        customer=customer,
        context={"claim": CLAIM},
        idempotency_key="claim.approved:claim-42",
    )

    assert message.language == "en"
    assert message.body.startswith("Good news, Ada")


def test_the_channels_argument_narrows_the_channels(celery_eager):
    customer = NotifiedCustomerFactory()

    messages = message_enqueue(
        event=Event.OTP_CODE,
        customer=customer,
        context={"otp": {"code": "123456", "valid_minutes": 10}},
        idempotency_key="otp.code:request-1",
        channels=[Channel.SMS],
    )

    assert [message.channel for message in messages] == [Channel.SMS]


def test_a_context_variable_the_event_does_not_declare_is_refused():
    with pytest.raises(ValueError, match="does not provide wallet"):
        message_enqueue(
            event=Event.CLAIM_APPROVED,
            customer=NotifiedCustomerFactory(),
            context={"claim": CLAIM, "wallet": {}},
            idempotency_key="k",
        )
    assert OutboundMessage.objects.count() == 0


def _marketing_sms_template():
    return MessageTemplateFactory(
        event=Event.WALLET_POINTS_EXPIRING,
        channel=Channel.SMS,
        language="en",
        purpose=Purpose.MARKETING,
        body="{{ expiring.points }} points expire on {{ expiring.expires_on }}.",
    )


EXPIRING = {"wallet": {"balance": 900}, "expiring": {"points": 300, "expires_on": "2026-08-31"}}


def test_marketing_without_consent_is_suppressed_and_not_sent(celery_eager):
    _marketing_sms_template()
    customer = NotifiedCustomerFactory(email="", accepts_marketing_sms=False)

    with time_machine.travel(datetime(2026, 6, 15, 12, 0, tzinfo=STOCKHOLM), tick=False):
        [message] = message_enqueue(
            event=Event.WALLET_POINTS_EXPIRING,
            customer=customer,
            context=EXPIRING,
            idempotency_key="expiring:lot-1",
        )

    message.refresh_from_db()
    assert message.status == Status.SUPPRESSED
    assert message.suppressed_reason == "No consent to marketing by sms."
    assert message.attempts == 0


def test_marketing_with_consent_during_quiet_hours_waits_until_they_end(
    settings, django_capture_on_commit_callbacks
):
    settings.NOTIFICATION_QUIET_HOURS = "21:00-08:00"
    settings.NOTIFICATION_TIME_ZONE = "Europe/Stockholm"
    _marketing_sms_template()
    customer = NotifiedCustomerFactory(email="", accepts_marketing_sms=True)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("notifications")

    with (
        time_machine.travel(datetime(2026, 6, 15, 22, 30, tzinfo=STOCKHOLM), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        [message] = message_enqueue(
            event=Event.WALLET_POINTS_EXPIRING,
            customer=customer,
            context=EXPIRING,
            idempotency_key="expiring:lot-1",
        )

    message.refresh_from_db()
    assert message.status == Status.QUEUED
    assert message.send_after == datetime(2026, 6, 16, 8, 0, tzinfo=STOCKHOLM)
    # The task waits on the notifications queue with its ETA at the end of quiet hours
    [raw] = broker.lrange("notifications", 0, -1)
    envelope = json.loads(raw)
    assert envelope["headers"]["task"] == "crm.tasks.message_send"
    assert datetime.fromisoformat(envelope["headers"]["eta"]) == message.send_after
    broker.delete("notifications")


def test_transactional_messages_ignore_quiet_hours_and_consent(
    settings, celery_eager, django_capture_on_commit_callbacks
):
    settings.NOTIFICATION_QUIET_HOURS = "21:00-08:00"
    customer = NotifiedCustomerFactory(accepts_marketing_sms=False, accepts_marketing_email=False)

    with (
        time_machine.travel(datetime(2026, 6, 15, 23, 45, tzinfo=STOCKHOLM), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        _publish_claim_event(Event.CLAIM_DISPATCHED, customer)

    assert set(OutboundMessage.objects.values_list("status", "send_after")) == {(Status.SENT, None)}
    assert len(mail.outbox) == 1


def test_marketing_with_consent_outside_quiet_hours_goes_out_at_once(
    celery_eager, django_capture_on_commit_callbacks
):
    _marketing_sms_template()
    customer = NotifiedCustomerFactory(email="", accepts_marketing_sms=True)

    with (
        time_machine.travel(datetime(2026, 6, 15, 12, 0, tzinfo=STOCKHOLM), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        [message] = message_enqueue(
            event=Event.WALLET_POINTS_EXPIRING,
            customer=customer,
            context=EXPIRING,
            idempotency_key="expiring:lot-1",
        )

    message.refresh_from_db()
    assert message.status == Status.SENT
    assert message.body == "300 points expire on 2026-08-31."


def test_the_send_task_goes_to_the_notifications_queue_after_commit(
    django_capture_on_commit_callbacks,
):
    # The broker is the point here: no eager mode, the task lands in Redis
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("notifications")
    customer = NotifiedCustomerFactory(email="")

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        _publish_claim_event(Event.CLAIM_SUBMITTED, customer)
        assert broker.llen("notifications") == 0

    message = OutboundMessage.objects.get()
    [raw] = broker.lrange("notifications", 0, -1)
    envelope = json.loads(raw)
    assert envelope["headers"]["task"] == "crm.tasks.message_send"
    assert json.loads(base64.b64decode(envelope["body"]))[0] == [message.pk]
    broker.delete("notifications")


# --- messages to an address (no customer): sign-in codes ----------------------------------

OTP = {"otp": {"code": "482913", "valid_minutes": 10}}


def _enqueue_otp(**overrides):
    arguments = {
        "event": Event.OTP_CODE,
        "channel": Channel.SMS,
        "recipient": "+46701234567",
        "language": "en",
        "context": OTP,
        "idempotency_key": "otp.code:device-1:2026-06-15T10:00:00+00:00",
        **overrides,
    }
    return message_enqueue_to_address(**arguments)


def test_a_message_to_an_address_has_no_customer_and_goes_out_after_commit(
    celery_eager, django_capture_on_commit_callbacks
):
    MessageTemplateFactory(
        event=Event.OTP_CODE,
        channel=Channel.EMAIL,
        language="en",
        subject="Code for {{ customer.email }}",
        body="{{ otp.code }} for {{ customer.email }}{{ customer.first_name }}: "
        "{{ otp.valid_minutes }} min.",
    )

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        message = _enqueue_otp(channel=Channel.EMAIL, recipient="visitor@example.com")
        assert mail.outbox == []  # nothing before commit

    # The template's customer is only the address; nobody was looked up
    [sent] = mail.outbox
    assert (sent.to, sent.subject, sent.body) == (
        ["visitor@example.com"],
        "Code for visitor@example.com",
        "482913 for visitor@example.com: 10 min.",
    )
    message.refresh_from_db()
    assert (
        message.customer,
        message.recipient,
        message.idempotency_key,
        message.status,
        message.subject,
        message.body,
    ) == (
        None,
        "visitor@example.com",
        "otp.code:device-1:2026-06-15T10:00:00+00:00:email",
        Status.SENT,
        REDACTED_TEXT,
        REDACTED_TEXT,
    )


def test_the_same_address_message_enqueued_again_is_the_same_message():
    first = _enqueue_otp()

    again = _enqueue_otp()

    assert again == first
    assert OutboundMessage.objects.count() == 1


def test_an_address_message_falls_back_to_english_and_without_a_template_sends_nothing():
    otp_sms = MessageTemplate.objects.filter(event=Event.OTP_CODE, channel=Channel.SMS)
    otp_sms.filter(language="sv").update(is_active=False)

    message = _enqueue_otp(language="sv")

    assert message.language == "en"
    assert message.body == "482913 is your sign-in code. It works once, for 10 minutes."

    otp_sms.update(is_active=False)
    assert _enqueue_otp(idempotency_key="otp.code:device-1:later") is None
    assert OutboundMessage.objects.count() == 1


def test_an_address_message_whose_template_fails_to_render_is_kept_failed_and_visible():
    # Valid when saved, but dividing by zero at render time
    MessageTemplateFactory(
        event=Event.OTP_CODE,
        channel=Channel.SMS,
        language="en",
        body="{{ otp.code }} {{ otp.valid_minutes|divisibleby:0 }}",
    )

    message = _enqueue_otp()

    message.refresh_from_db()
    assert (message.customer, message.status, message.body) == (None, Status.FAILED, "")
    assert message.last_error.startswith("The template could not be rendered:")
    assert list(messages_failed()) == [message]


def test_a_marketing_message_to_an_address_is_suppressed_for_want_of_consent():
    _marketing_sms_template()

    message = _enqueue_otp(
        event=Event.WALLET_POINTS_EXPIRING, context=EXPIRING, idempotency_key="expiring:1"
    )

    assert (message.status, message.suppressed_reason) == (
        Status.SUPPRESSED,
        "No consent to marketing by sms.",
    )


def test_an_address_message_refuses_what_the_event_does_not_declare():
    with pytest.raises(ValueError, match="does not provide claim"):
        _enqueue_otp(context={**OTP, "claim": CLAIM})
    with pytest.raises(ValueError, match="needs a recipient"):
        _enqueue_otp(recipient="")
    assert OutboundMessage.objects.count() == 0
