"""Sign-in codes go out through crm's notification engine, as in production: one ``otp.code``
message addressed to what the visitor typed (no customer is looked up), sent by the Celery
task with the engine's retries, in the visitor's language, and wiped from the database once
sent or failed for good. Twilio and the SMTP server are local stand-ins
(tests/crm/notifications/conftest.py); PostgreSQL, Redis and the twilio client are real."""

import base64
import json
import logging
import re
from datetime import timedelta

import pytest
import redis
import time_machine
from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse

from claims.models import CustomerOTPDevice
from claims.services import sign_in_code_issue
from config.celery import app as celery_app
from crm.models import Customer, MessageTemplate, OutboundMessage
from crm.notifications.catalog import Channel, Event
from crm.notifications.selectors import messages_failed
from crm.notifications.services import (
    EXPIRED_ERROR,
    REDACTED_TEXT,
    MessageActionError,
    message_resend,
    message_retry,
    message_send,
)
from crm.tasks import message_send_task
from tests.claims.factories import CustomerAccountFactory
from tests.claims.test_sign_in import CODE, START, ask_for_code, enter_code, without_csrf
from tests.crm.notifications.conftest import TWILIO_FROM_NUMBER

pytestmark = pytest.mark.django_db(transaction=True)

Status = OutboundMessage.Status
API_SIGN_IN = "/api/v1/claims/sign-in/"
# What every log record has (times, thread and process ids); the rest is a logger's extras.
LOG_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message"}


def code_in(text: str) -> str:
    return re.findall(r"\b(\d{6})\b", text)[0]


def stored_messages_text() -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(string_agg(row_to_json(m)::text, ''), '') FROM crm_outboundmessage m"
        )
        return cursor.fetchone()[0]


def test_a_phone_sign_in_in_production_goes_through_twilio_in_the_visitors_language(
    client, fake_twilio
):
    # Given production's SMS backend (Twilio, with fake credentials and a local stand-in)
    assert settings.SMS_BACKEND == "twilio"

    # When a visitor nobody knows asks for a code in Swedish
    response = ask_for_code(client, "070-123 45 67", HTTP_ACCEPT_LANGUAGE="sv")

    # Then Twilio got one text message, in Swedish, with the code
    assert response.status_code == 302
    assert response["Location"] == CODE
    [request] = fake_twilio.requests
    code = code_in(request["form"]["Body"])
    assert request["form"] == {
        "To": "+46701234567",
        "From": TWILIO_FROM_NUMBER,
        "Body": f"{code} är din inloggningskod. Den fungerar en gång, i 10 minuter.",
    }
    # ...recorded as a sent otp.code message to the number, belonging to no customer, and
    # the code is no longer stored anywhere in the messages
    message = OutboundMessage.objects.get()
    assert (
        message.customer,
        message.event,
        message.channel,
        message.language,
        message.recipient,
        message.status,
        message.attempts,
        message.provider_message_id,
    ) == (None, Event.OTP_CODE, Channel.SMS, "sv", "+46701234567", Status.SENT, 1, request["sid"])
    assert message.template == MessageTemplate.objects.get(
        event=Event.OTP_CODE, channel=Channel.SMS, language="sv"
    )
    assert message.body == REDACTED_TEXT
    assert code not in stored_messages_text()
    assert not Customer.objects.exists()

    # When they type the code
    response = enter_code(client, code, HTTP_ACCEPT_LANGUAGE="sv")

    # Then they are signed in, as a new Swedish-speaking customer
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")
    assert Customer.objects.get(phone="+46701234567").preferred_language == "sv"


def test_an_email_sign_in_goes_through_the_mail_server_and_signs_in(client, smtp_server):
    response = ask_for_code(client, "Winner@Example.com", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 302
    [received] = smtp_server.messages
    assert smtp_server.envelopes == [("rewards@example.com", ["winner@example.com"])]
    assert received["Subject"] == "Your sign-in code"
    text = received.get_payload(decode=True).decode().replace("\r\n", "\n")
    code = code_in(text)
    assert text == (
        f"Your sign-in code is {code}.\n\nIt works once, for 10 minutes. If you did not ask "
        "for it, you can ignore this message: nobody can sign in without the code.\n\n"
        "Reward campaigns\n"
    )
    message = OutboundMessage.objects.get()
    assert (message.customer, message.channel, message.language, message.status) == (
        None,
        Channel.EMAIL,
        "en",
        Status.SENT,
    )
    assert message.provider_message_id == received["Message-ID"]
    assert (message.subject, message.body) == (REDACTED_TEXT, REDACTED_TEXT)
    assert code not in stored_messages_text()

    response = enter_code(client, code)

    assert response["Location"] == reverse("portal:home")
    assert Customer.objects.get().email == "winner@example.com"


def test_the_request_only_queues_the_message_and_the_task_carries_its_id_alone(client, fake_twilio):
    # The broker is the point here: no eager mode (celery_eager restores it afterwards)
    celery_app.conf.task_always_eager = False
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("notifications")

    response = ask_for_code(client, "+46701234567")

    # Twilio was not called in the request: the message waits, queued, for the worker
    assert response.status_code == 302
    assert fake_twilio.requests == []
    message = OutboundMessage.objects.get()
    assert message.status == Status.QUEUED
    [raw] = broker.lrange("notifications", 0, -1)
    broker.delete("notifications")
    envelope = json.loads(raw)
    assert envelope["headers"]["task"] == "crm.tasks.message_send"
    args, kwargs, _options = json.loads(base64.b64decode(envelope["body"]))
    assert (args, kwargs) == ([message.pk], {})

    # When the worker runs the task, Twilio gets the code, which then signs in
    assert message_send_task(message.pk) == Status.SENT
    [request] = fake_twilio.requests
    message.refresh_from_db()
    assert message.body == REDACTED_TEXT
    assert enter_code(client, code_in(request["form"]["Body"]))["Location"] == reverse(
        "portal:home"
    )


def test_a_twilio_outage_is_retried_and_the_code_still_signs_in(client, fake_twilio, retry_policy):
    # Given Twilio failing once with a 503
    fake_twilio.failures.append((503, 20503))

    with time_machine.travel(START, tick=False) as traveller:
        # When a code is asked for, the visitor is not held up: the engine will retry
        response = ask_for_code(client, "+46701234567")
        assert response.status_code == 302
        message = OutboundMessage.objects.get()
        assert (message.status, message.attempts, message.send_after) == (
            Status.QUEUED,
            1,
            START + timedelta(minutes=1),
        )
        assert "HTTP 503" in message.last_error
        assert message.body != REDACTED_TEXT  # kept for the next attempt

        # Then the retry a minute later delivers it
        traveller.shift(timedelta(minutes=1))
        assert message_send_task(message.pk) == Status.SENT
        [_failed, delivered] = fake_twilio.requests
        message.refresh_from_db()
        assert (message.status, message.attempts, message.body) == (
            Status.SENT,
            2,
            REDACTED_TEXT,
        )
        response = enter_code(client, code_in(delivered["form"]["Body"]))

    assert response["Location"] == reverse("portal:home")


def test_a_code_twilio_never_takes_ends_failed_visible_and_wiped(client, fake_twilio, retry_policy):
    fake_twilio.always_fail_with = (500, 20500)

    with time_machine.travel(START, tick=False) as traveller:
        ask_for_code(client, "+46701234567")
        message = OutboundMessage.objects.get()
        code = code_in(fake_twilio.requests[0]["form"]["Body"])
        outcome = message_send(message_id=message.pk)
        while outcome.retry_at is not None:
            traveller.move_to(outcome.retry_at)
            outcome = message_send(message_id=message.pk)

    # Attempts at 0, 1, 3 and 7 minutes; the next would come at 15, after the code expired
    # at 10, so it ends failed there, on the helpdesk's list, with the code gone from the row
    assert len(fake_twilio.requests) == 4
    message.refresh_from_db()
    assert (message.status, message.attempts, message.body) == (Status.FAILED, 4, REDACTED_TEXT)
    assert message.failed_at == START + timedelta(minutes=7)
    assert "HTTP 500" in message.last_error
    assert EXPIRED_ERROR in message.last_error
    assert list(messages_failed()) == [message]
    assert code not in stored_messages_text()
    # ...and nobody can send it again: the visitor asks for a new code
    with pytest.raises(MessageActionError):
        message_retry(message=message, actor=None)
    with pytest.raises(MessageActionError):
        message_resend(message=message, actor=None)
    assert len(fake_twilio.requests) == 4


def test_a_code_still_queued_when_it_expires_is_never_sent(client, fake_twilio):
    # Given a code asked for while the workers were down: its task waits in the broker
    celery_app.conf.task_always_eager = False  # celery_eager restores it afterwards
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    device = sign_in_code_issue(
        channel=CustomerOTPDevice.Channel.SMS, destination="+46701234567", language="en"
    )
    broker.delete("notifications")
    message = OutboundMessage.objects.get()
    assert message.send_before == device.valid_until

    # When the workers come back after the code expired
    with time_machine.travel(device.valid_until + timedelta(seconds=1)):
        outcome = message_send_task(message.pk)

    # Then Twilio is not called: the message failed as expired, wiped, on the helpdesk's list
    assert outcome == Status.FAILED
    assert fake_twilio.requests == []
    message.refresh_from_db()
    assert (message.status, message.attempts, message.body) == (Status.FAILED, 0, REDACTED_TEXT)
    assert message.last_error == EXPIRED_ERROR
    assert list(messages_failed()) == [message]


def test_a_number_twilio_refuses_fails_at_once_and_is_wiped(client, fake_twilio):
    fake_twilio.always_fail_with = (400, 21211)  # not a valid phone number

    response = ask_for_code(client, "+46701234567")

    assert response.status_code == 302  # the same answer as for any number
    message = OutboundMessage.objects.get()
    assert (message.status, message.attempts, message.body) == (Status.FAILED, 1, REDACTED_TEXT)
    assert "HTTP 400" in message.last_error


def test_known_and_unknown_numbers_get_identical_answers_and_identical_messages(
    client, fake_twilio
):
    # Two numbers that mask alike (+4670•••67): one a customer's, one nobody's
    CustomerAccountFactory(customer__phone="+46701111167", customer__preferred_language="sv")
    known, unknown = "+46701111167", "+46702222267"

    def journey(number):
        client.cookies.clear()
        asked = ask_for_code(client, number)
        page = client.get(CODE)
        return [(asked.status_code, asked["Location"]), (page.status_code, without_csrf(page.text))]

    with time_machine.travel(START, tick=False):
        known_answers = journey(known)
        unknown_answers = journey(unknown)

    assert known_answers == unknown_answers
    # The customer's own language or record plays no part: both messages are alike
    messages = list(OutboundMessage.objects.order_by("pk"))
    assert [message.recipient for message in messages] == [known, unknown]
    assert [request["form"]["To"] for request in fake_twilio.requests] == [known, unknown]
    assert {
        (message.customer_id, message.language, message.template_id, message.status)
        for message in messages
    } == {(None, "en", messages[0].template_id, Status.SENT)}


def test_nothing_is_sent_when_the_transaction_rolls_back(fake_twilio):
    def issue_then_fail() -> None:
        with transaction.atomic():
            sign_in_code_issue(channel="sms", destination="+46701234567", language="en")
            status = OutboundMessage.objects.get().status
            raise RuntimeError(f"the request failed after the code was issued ({status})")

    with pytest.raises(RuntimeError, match=r"\(queued\)"):
        issue_then_fail()

    assert fake_twilio.requests == []
    assert not OutboundMessage.objects.exists()
    assert not CustomerOTPDevice.objects.exists()


@pytest.mark.parametrize(
    ("contact", "channel"), [("+46701234567", Channel.SMS), ("winner@example.com", Channel.EMAIL)]
)
def test_without_an_active_template_the_visitor_is_told_the_code_cannot_be_sent(
    client, caplog, contact, channel
):
    # Given an operator switched off the sign-in code's templates for the channel
    MessageTemplate.objects.filter(event=Event.OTP_CODE, channel=channel).update(is_active=False)
    caplog.set_level(logging.ERROR, logger="claims.sending")

    page = ask_for_code(client, contact)
    api = client.post(API_SIGN_IN, {"contact": contact})

    # Then both doors say so, and nothing was issued, stored or sent
    assert page.status_code == 503
    assert "We could not send the code just now" in page.text
    assert api.status_code == 503
    assert api.json()["code"] == "sending_failed"
    assert not CustomerOTPDevice.objects.exists()
    assert not OutboundMessage.objects.exists()
    assert [
        record.getMessage() for record in caplog.records if record.name == "claims.sending"
    ] == ["no active otp.code message template: sign-in codes cannot be sent"] * 2


def test_a_swedish_visitor_gets_english_when_no_swedish_template_is_active(client, fake_twilio):
    MessageTemplate.objects.filter(event=Event.OTP_CODE, language="sv").update(is_active=False)

    ask_for_code(client, "+46701234567", HTTP_ACCEPT_LANGUAGE="sv")

    [request] = fake_twilio.requests
    code = code_in(request["form"]["Body"])
    assert request["form"]["Body"] == (
        f"{code} is your sign-in code. It works once, for 10 minutes."
    )
    assert OutboundMessage.objects.get().language == "en"


def test_no_log_record_holds_the_code(client, fake_twilio, caplog):
    caplog.set_level(logging.DEBUG)

    ask_for_code(client, "+46701234567")
    code = code_in(fake_twilio.requests[0]["form"]["Body"])
    enter_code(client, code)

    assert caplog.records  # the twilio client and the engine did log
    for record in caplog.records:
        extras = {name: value for name, value in vars(record).items() if name not in LOG_FIELDS}
        assert code not in record.getMessage()
        assert code not in repr(extras)
        assert code not in (record.exc_text or "")
