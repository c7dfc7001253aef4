"""Sending SMS: a "logged" backend for local runs and the Twilio backend for production.

settings.SMS_BACKEND picks one. Both take the same call and return the provider's id for the
message; a provider failure raises ``SmsError`` saying whether trying again may help.
"""

import logging
import uuid
from dataclasses import dataclass
from typing import Protocol

import requests
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client as TwilioClient

logger = logging.getLogger(__name__)


class SmsError(Exception):
    def __init__(self, message: str, *, is_retryable: bool) -> None:
        super().__init__(message)
        self.is_retryable = is_retryable


@dataclass(frozen=True)
class SmsSendResult:
    provider_message_id: str
    provider_status: str


class SmsBackend(Protocol):
    def send(self, *, to: str, body: str, status_callback_url: str = "") -> SmsSendResult: ...


class LoggedSmsBackend:
    """Writes each message to the log instead of sending it (local runs, demos)."""

    def send(self, *, to: str, body: str, status_callback_url: str = "") -> SmsSendResult:
        message_id = f"logged-{uuid.uuid4().hex}"
        logger.info("sms logged", extra={"to": to, "body": body, "sms_id": message_id})
        return SmsSendResult(provider_message_id=message_id, provider_status="sent")


def _is_retryable_status(status: int | None) -> bool:
    # 429 (rate limited) and 5xx are the provider's trouble and pass; other 4xx are ours
    # (an invalid number, an unverified sender) and will fail the same way every time.
    return status is None or status == 429 or status >= 500


class TwilioSmsBackend:
    """Sends through Twilio's Messages API with the official client.

    TWILIO_BASE_URL replaces https://api.twilio.com (a test server, a regional proxy).
    """

    def __init__(self) -> None:
        missing = [
            name
            for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER")
            if not getattr(settings, name)
        ]
        if missing:
            raise ImproperlyConfigured(f"SMS_BACKEND=twilio needs {', '.join(missing)}.")
        self.client = TwilioClient(
            settings.TWILIO_ACCOUNT_SID,
            settings.TWILIO_AUTH_TOKEN,
            http_client=TwilioHttpClient(timeout=settings.NOTIFICATION_PROVIDER_TIMEOUT_SECONDS),
        )
        if settings.TWILIO_BASE_URL:
            self.client.api.base_url = settings.TWILIO_BASE_URL

    def send(self, *, to: str, body: str, status_callback_url: str = "") -> SmsSendResult:
        options = {"status_callback": status_callback_url} if status_callback_url else {}
        try:
            message = self.client.messages.create(
                to=to, from_=settings.TWILIO_FROM_NUMBER, body=body, **options
            )
        except TwilioException as error:
            status = getattr(error, "status", None)
            raise SmsError(
                f"Twilio refused the message: {error}", is_retryable=_is_retryable_status(status)
            ) from error
        except requests.RequestException as error:
            raise SmsError(f"Twilio could not be reached: {error}", is_retryable=True) from error
        return SmsSendResult(
            provider_message_id=str(message.sid), provider_status=str(message.status or "")
        )


_BACKENDS: dict[str, type[LoggedSmsBackend] | type[TwilioSmsBackend]] = {
    "logged": LoggedSmsBackend,
    "twilio": TwilioSmsBackend,
}


def get_sms_backend() -> SmsBackend:
    try:
        backend_class = _BACKENDS[settings.SMS_BACKEND]
    except KeyError:
        raise ImproperlyConfigured(
            f"SMS_BACKEND must be one of {', '.join(_BACKENDS)}, not {settings.SMS_BACKEND!r}."
        ) from None
    return backend_class()


@checks.register(checks.Tags.security, deploy=True)
def check_sms_backend_for_production(**_kwargs: object) -> list[checks.CheckMessage]:
    """``manage.py check --deploy``: the logged backend writes every text, sign-in codes
    included, to the log, which a production log must never hold."""
    if settings.SMS_BACKEND != "logged":
        return []
    return [
        checks.Warning(
            "SMS_BACKEND is 'logged': text messages, sign-in codes included, go to the log "
            "instead of the phone.",
            hint="Set SMS_BACKEND=twilio and the TWILIO_* variables in production.",
            id="crm.W001",
        )
    ]
