"""Delivery reports: Twilio status callbacks (signed) and anymail's tracking webhooks."""

import base64
import json

import pytest
from twilio.request_validator import RequestValidator

from crm.models import OutboundMessage
from crm.notifications.catalog import Channel
from tests.crm.notifications.factories import OutboundMessageFactory

pytestmark = pytest.mark.django_db

Status = OutboundMessage.Status
AUTH_TOKEN = "twilio-webhook-test-token"
PUBLIC_URL = "https://rewards.example.com"
STATUS_PATH = "/webhooks/twilio/status/"


@pytest.fixture(autouse=True)
def _twilio_settings(settings):
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.NOTIFICATION_PUBLIC_BASE_URL = PUBLIC_URL


def _sent_sms(**fields):
    return OutboundMessageFactory(
        status=Status.SENT, provider_message_id="SM" + "a" * 32, provider_status="queued", **fields
    )


def _post_status(client, params, *, token=AUTH_TOKEN, url=PUBLIC_URL + STATUS_PATH):
    signature = RequestValidator(token).compute_signature(url, params)
    return client.post(STATUS_PATH, params, HTTP_X_TWILIO_SIGNATURE=signature)


def _snapshot(message):
    message.refresh_from_db()
    return (message.status, message.provider_status, message.delivered_at, message.last_error)


def test_a_signed_delivered_callback_marks_the_sms_delivered(client):
    message = _sent_sms()

    response = _post_status(
        client, {"MessageSid": message.provider_message_id, "MessageStatus": "delivered"}
    )

    assert response.status_code == 204
    message.refresh_from_db()
    assert (message.status, message.provider_status) == (Status.DELIVERED, "delivered")
    assert message.delivered_at is not None


def test_an_undelivered_callback_fails_the_sms_with_twilios_error_code(client):
    message = _sent_sms()

    _post_status(
        client,
        {
            "MessageSid": message.provider_message_id,
            "MessageStatus": "undelivered",
            "ErrorCode": "30003",
        },
    )

    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert message.last_error == "Twilio reported undelivered (error 30003)."


@pytest.mark.parametrize(
    "signature_for",
    [
        pytest.param({"token": "someone-elses-token"}, id="wrong token"),
        pytest.param({"url": "https://attacker.example.com" + STATUS_PATH}, id="other url"),
    ],
)
def test_a_callback_with_a_bad_signature_is_refused_and_changes_nothing(client, signature_for):
    message = _sent_sms()
    before = _snapshot(message)

    response = _post_status(
        client,
        {"MessageSid": message.provider_message_id, "MessageStatus": "delivered"},
        **signature_for,
    )

    assert response.status_code == 403
    assert _snapshot(message) == before


def test_a_callback_whose_parameters_were_altered_is_refused(client):
    message = _sent_sms()
    before = _snapshot(message)
    signed = {"MessageSid": message.provider_message_id, "MessageStatus": "sent"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + STATUS_PATH, signed)

    response = client.post(
        STATUS_PATH,
        {**signed, "MessageStatus": "failed"},
        HTTP_X_TWILIO_SIGNATURE=signature,
    )

    assert response.status_code == 403
    assert _snapshot(message) == before


def test_a_callback_without_a_signature_is_refused(client):
    message = _sent_sms()
    before = _snapshot(message)

    response = client.post(
        STATUS_PATH, {"MessageSid": message.provider_message_id, "MessageStatus": "delivered"}
    )

    assert response.status_code == 403
    assert _snapshot(message) == before


def test_a_late_sent_report_does_not_undo_delivered(client):
    message = _sent_sms()
    _post_status(client, {"MessageSid": message.provider_message_id, "MessageStatus": "delivered"})

    _post_status(client, {"MessageSid": message.provider_message_id, "MessageStatus": "sent"})

    message.refresh_from_db()
    assert (message.status, message.provider_status) == (Status.DELIVERED, "delivered")


def test_a_report_for_an_unknown_message_is_accepted_and_ignored(client):
    response = _post_status(client, {"MessageSid": "SM" + "f" * 32, "MessageStatus": "delivered"})

    assert response.status_code == 204


# --- anymail (Postmark's tracking webhook stands for any provider anymail supports) --------

WEBHOOK_SECRET = "anymail-user:anymail-password"
POSTMARK_PATH = "/webhooks/anymail/postmark/tracking/"


def _basic_auth(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def _post_postmark(client, payload, credentials=WEBHOOK_SECRET):
    return client.post(
        POSTMARK_PATH,
        json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=_basic_auth(credentials),
    )


@pytest.fixture
def sent_email(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": WEBHOOK_SECRET}
    return OutboundMessageFactory(
        channel=Channel.EMAIL,
        subject="Hello",
        status=Status.SENT,
        provider_message_id="883953f4-6105-42a2-a16a-77a8eac79483",
    )


def test_an_anymail_delivery_event_marks_the_email_delivered(client, sent_email):
    response = _post_postmark(
        client,
        {
            "RecordType": "Delivery",
            "MessageID": sent_email.provider_message_id,
            "Recipient": sent_email.recipient,
            "DeliveredAt": "2026-06-15T10:00:00Z",
        },
    )

    assert response.status_code == 200
    sent_email.refresh_from_db()
    assert sent_email.status == Status.DELIVERED
    assert sent_email.delivered_at.isoformat() == "2026-06-15T10:00:00+00:00"


def test_an_anymail_bounce_fails_the_email(client, sent_email):
    _post_postmark(
        client,
        {
            "RecordType": "Bounce",
            "Type": "HardBounce",
            "ID": 42,
            "MessageID": sent_email.provider_message_id,
            "Email": sent_email.recipient,
            "Description": "The server was unable to deliver your message.",
            "BouncedAt": "2026-06-15T10:00:00Z",
        },
    )

    sent_email.refresh_from_db()
    assert sent_email.status == Status.FAILED
    assert sent_email.last_error == (
        "Postmark reported bounced: The server was unable to deliver your message."
    )


def test_an_anymail_webhook_with_wrong_credentials_is_refused_and_changes_nothing(
    client, sent_email
):
    before = _snapshot(sent_email)

    response = _post_postmark(
        client,
        {"RecordType": "Delivery", "MessageID": sent_email.provider_message_id},
        credentials="anymail-user:guessed",
    )

    assert response.status_code == 400
    assert _snapshot(sent_email) == before
