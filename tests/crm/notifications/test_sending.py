"""Sending through the real protocols: SMTP to a local aiosmtpd server, SMS through the
official twilio client to a local HTTP server speaking Twilio's Messages API."""

import base64
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from celery.exceptions import Retry
from django.db import transaction
from django.utils import timezone

from crm.events import publish
from crm.models import OutboundMessage
from crm.notifications.catalog import Channel, Event
from crm.notifications.selectors import messages_failed
from crm.notifications.services import OUTCOME_UNKNOWN_ERROR, REDACTED_TEXT, message_send
from crm.tasks import message_send_task, messages_requeue_stalled_task
from tests.crm.notifications.conftest import (
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
    TWILIO_FROM_NUMBER,
    free_port,
)
from tests.crm.notifications.factories import NotifiedCustomerFactory, OutboundMessageFactory

pytestmark = pytest.mark.django_db

Status = OutboundMessage.Status
STOCKHOLM = ZoneInfo("Europe/Stockholm")
MESSAGES_PATH = f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json"


def test_an_email_goes_end_to_end_through_a_real_smtp_server(
    smtp_server, celery_eager, django_capture_on_commit_callbacks
):
    # Given a customer with only an email address
    customer = NotifiedCustomerFactory(phone="", email="ada@example.com", first_name="Ada")

    # When a claim is approved
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        publish(
            Event.CLAIM_APPROVED,
            customer_id=customer.pk,
            event_id="claim-7-approved",
            claim={"number": "C-7", "prize_name": "Headphones", "url": "https://x.test/c/7"},
        )

    # Then the SMTP server received exactly that email, and the row is sent with its id
    message = OutboundMessage.objects.get()
    assert message.status == Status.SENT
    [received] = smtp_server.messages
    assert smtp_server.envelopes == [("rewards@example.com", ["ada@example.com"])]
    assert received["Subject"] == "Your claim C-7 is approved"
    assert received["To"] == "ada@example.com"
    assert received["Message-ID"] == message.provider_message_id
    assert "Good news: your claim C-7 is approved." in received.get_payload(decode=True).decode()


def test_an_sms_goes_through_the_twilio_client_to_the_messages_api(fake_twilio, celery_eager):
    message = OutboundMessageFactory(body="Hi Ada, claim C-1 is approved.")

    message_send_task.delay(message.pk)

    message.refresh_from_db()
    [request] = fake_twilio.requests
    assert request["path"] == MESSAGES_PATH
    expected_auth = base64.b64encode(f"{TWILIO_ACCOUNT_SID}:{TWILIO_AUTH_TOKEN}".encode()).decode()
    assert request["authorization"] == f"Basic {expected_auth}"
    assert request["form"] == {
        "To": message.recipient,
        "From": TWILIO_FROM_NUMBER,
        "Body": "Hi Ada, claim C-1 is approved.",
    }
    assert (message.status, message.provider_message_id, message.provider_status) == (
        Status.SENT,
        request["sid"],
        "queued",
    )
    assert message.attempts == 1
    assert message.sent_at is not None


def test_twilio_is_given_the_status_callback_url_when_the_site_is_public(
    fake_twilio, settings, celery_eager
):
    settings.NOTIFICATION_PUBLIC_BASE_URL = "https://rewards.example.com"
    message = OutboundMessageFactory()

    message_send_task.delay(message.pk)

    assert fake_twilio.requests[0]["form"]["StatusCallback"] == (
        "https://rewards.example.com/webhooks/twilio/status/"
    )


def test_a_provider_outage_is_retried_with_backoff_and_ends_failed_and_visible(
    fake_twilio, retry_policy
):
    # Given Twilio answering 500 to everything
    fake_twilio.always_fail_with = (500, 20500)
    message = OutboundMessageFactory()
    start = datetime(2026, 6, 15, 12, 0, tzinfo=STOCKHOLM)

    # When the task runs, and runs again each time the backoff has passed
    retry_times = []
    with time_machine.travel(start, tick=False) as traveller:
        outcome = message_send(message_id=message.pk)
        while outcome.retry_at is not None:
            retry_times.append(outcome.retry_at)
            # A run before the retry is due sends nothing
            assert message_send(message_id=message.pk).retry_at == outcome.retry_at
            traveller.move_to(outcome.retry_at)
            outcome = message_send(message_id=message.pk)

    # Then it tried five times, 1, 2, 4 and 8 minutes apart, and ended failed with the error
    assert [time - start for time in retry_times] == [
        timedelta(minutes=1),
        timedelta(minutes=3),
        timedelta(minutes=7),
        timedelta(minutes=15),
    ]
    assert len(fake_twilio.requests) == 5
    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert message.attempts == 5
    assert message.failed_at == start + timedelta(minutes=15)
    assert "HTTP 500" in message.last_error
    # ...and it is on the helpdesk's follow-up list, where a later run cannot resend it
    assert list(messages_failed()) == [message]
    assert message_send(message_id=message.pk).status == Status.FAILED
    assert len(fake_twilio.requests) == 5


def test_the_task_asks_celery_to_retry_at_the_backoff_time(fake_twilio, retry_policy):
    fake_twilio.failures.append((503, 20503))
    message = OutboundMessageFactory()

    start = datetime(2026, 6, 15, 12, 0, tzinfo=STOCKHOLM)

    # Called directly (as a worker would run it), the task raises Celery's Retry
    with time_machine.travel(start, tick=False), pytest.raises(Retry):
        message_send_task(message.pk)

    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.QUEUED, 1)
    assert message.send_after == start + timedelta(seconds=60)
    # Once the backoff has passed, the retry sends it
    with time_machine.travel(message.send_after + timedelta(seconds=1)):
        assert message_send_task(message.pk) == Status.SENT
    assert len(fake_twilio.sent_sids) == 1


def test_a_refusal_that_will_not_change_fails_at_once(fake_twilio, retry_policy):
    # Twilio's 400 / 21211: the number is not a valid phone number
    fake_twilio.failures.append((400, 21211))
    message = OutboundMessageFactory()

    outcome = message_send(message_id=message.pk)

    message.refresh_from_db()
    assert outcome.retry_at is None
    assert (message.status, message.attempts) == (Status.FAILED, 1)
    assert len(fake_twilio.requests) == 1


def test_an_unreachable_mail_server_is_retried(settings, retry_policy):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()  # nothing listens there
    settings.EMAIL_TIMEOUT = 2
    message = OutboundMessageFactory(channel=Channel.EMAIL, subject="Hello")

    outcome = message_send(message_id=message.pk)

    message.refresh_from_db()
    assert outcome.retry_at is not None
    assert (message.status, message.attempts) == (Status.QUEUED, 1)
    assert "could not be reached" in message.last_error


def test_a_redelivered_task_does_not_send_twice(fake_twilio):
    message = OutboundMessageFactory()

    first = message_send_task(message.pk)
    second = message_send_task(message.pk)  # the broker delivers the same task again

    assert (first, second) == (Status.SENT, Status.SENT)
    assert len(fake_twilio.requests) == 1
    message.refresh_from_db()
    assert message.attempts == 1


def test_a_task_finding_the_message_being_sent_by_another_worker_leaves_it(fake_twilio):
    message = OutboundMessageFactory(
        status=Status.SENDING, attempts=1, sending_started_at=timezone.now()
    )

    assert message_send_task(message.pk) == Status.SENDING

    assert fake_twilio.requests == []
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.SENDING, 1)


def test_a_message_whose_worker_died_mid_send_is_failed_not_sent_again(fake_twilio, settings):
    # The worker was killed after claiming the row; acks_late redelivers the task later
    settings.NOTIFICATION_SENDING_STALE_SECONDS = 180
    message = OutboundMessageFactory(
        status=Status.SENDING,
        attempts=1,
        sending_started_at=timezone.now() - timedelta(minutes=10),
    )

    assert message_send_task(message.pk) == Status.FAILED

    assert fake_twilio.requests == []
    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert message.last_error == OUTCOME_UNKNOWN_ERROR


def test_a_sign_in_code_is_wiped_from_the_stored_message_once_sent(fake_twilio):
    message = OutboundMessageFactory(event=Event.OTP_CODE, body="482913 is your sign-in code.")

    message_send_task(message.pk)

    assert fake_twilio.requests[0]["form"]["Body"] == "482913 is your sign-in code."
    message.refresh_from_db()
    assert (message.status, message.body) == (Status.SENT, REDACTED_TEXT)


def test_a_suppressed_message_is_never_sent(fake_twilio):
    message = OutboundMessageFactory(status=Status.SUPPRESSED)

    assert message_send_task(message.pk) == Status.SUPPRESSED

    assert fake_twilio.requests == []


def test_messages_whose_task_was_lost_are_sent_by_the_periodic_requeue(fake_twilio, celery_eager):
    # Given a message queued 20 minutes ago whose task never reached the broker, a fresh one,
    # and one whose worker died while sending
    lost = OutboundMessageFactory()
    fresh = OutboundMessageFactory()
    orphaned = OutboundMessageFactory(
        status=Status.SENDING, attempts=1, sending_started_at=timezone.now() - timedelta(hours=1)
    )
    OutboundMessage.objects.filter(pk__in=[lost.pk, orphaned.pk]).update(
        created_at=timezone.now() - timedelta(minutes=20)
    )

    # When the periodic task runs
    assert messages_requeue_stalled_task() == 2

    # Then the lost one is sent, the fresh one is left to its own task, the orphan is failed
    statuses = dict(OutboundMessage.objects.values_list("pk", "status"))
    assert statuses == {lost.pk: Status.SENT, fresh.pk: Status.QUEUED, orphaned.pk: Status.FAILED}
    assert [request["form"]["To"] for request in fake_twilio.requests] == [lost.recipient]
