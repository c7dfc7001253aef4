"""How a sign-in code reaches a customer: through crm's notification engine.

``send_customer_code`` is the only way the portal sends anything. It enqueues one
``otp.code`` message to the phone number or email address the visitor typed, in the caller's
transaction: the message commits or rolls back with the new code, and after commit a Celery
task sends it (Twilio, or the email backend) with the engine's retries. No provider is
called in the web request, and the message has no customer, because nobody is looked up
before the code is verified.

The text comes from the ``otp.code`` message templates (migration
``crm/0004_default_message_templates`` installs English and Swedish ones for both channels);
the engine wipes the code from the stored message once it is sent or has failed for good,
and never sends it after the code has expired (``send_before``).
"""

import logging

from django.conf import settings

from claims.models import CustomerOTPDevice
from crm.notifications.catalog import Event
from crm.notifications.services import message_enqueue_to_address

logger = logging.getLogger(__name__)


class SendingUnavailableError(Exception):
    """No active message template can carry a sign-in code on this channel."""


def send_customer_code(*, device: CustomerOTPDevice, code: str, language: str) -> None:
    """Enqueues ``code`` for the device's phone number or email address, in ``language``
    (English when no template exists in it), to be sent after commit.

    Call inside the transaction that gave the device this code (``last_sent_at`` names the
    code, so each issued code is one message). Raises SendingUnavailableError when no
    active ``otp.code`` template exists for the channel: the caller's transaction must then
    roll back rather than leave the visitor waiting for a code that never comes.
    """
    assert device.last_sent_at is not None  # noqa: S101 - set by the issue that made the code
    message = message_enqueue_to_address(
        event=Event.OTP_CODE,
        channel=device.channel,
        recipient=device.destination,
        language=language,
        context={
            "otp": {
                "code": code,
                "valid_minutes": settings.CLAIM_OTP_VALIDITY_SECONDS // 60,
            }
        },
        idempotency_key=f"{Event.OTP_CODE}:device-{device.pk}:{device.last_sent_at.isoformat()}",
        # A code that reaches the phone after it expired only confuses: fail it instead.
        send_before=device.valid_until,
    )
    if message is None:
        # An operator deactivated or deleted the templates: say so loudly, send nothing.
        logger.error(
            "no active otp.code message template: sign-in codes cannot be sent",
            extra={"channel": device.channel},
        )
        raise SendingUnavailableError(device.channel)
