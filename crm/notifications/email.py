"""Sending one email through Django's mail machinery (django-anymail in production, SMTP or
the file backend elsewhere), and telling a provider hiccup from a permanent refusal."""

import smtplib
from dataclasses import dataclass
from email.utils import make_msgid

from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import EmailMessage


class EmailError(Exception):
    def __init__(self, message: str, *, is_retryable: bool) -> None:
        super().__init__(message)
        self.is_retryable = is_retryable


@dataclass(frozen=True)
class EmailSendResult:
    provider_message_id: str
    provider_status: str


def _smtp_code_is_temporary(code: int) -> bool:
    # SMTP replies 4xx are "try again later"; 5xx are final.
    return 400 <= code < 500


def email_send(*, to: str, subject: str, body: str) -> EmailSendResult:
    """Sends a plain-text email. Raises EmailError; ``is_retryable`` says whether a later
    attempt may succeed (provider down, throttled) or never will (address refused)."""
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or None
    message_id = make_msgid(domain=domain)
    message = EmailMessage(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers={"Message-ID": message_id},
    )
    try:
        message.send(fail_silently=False)
    except AnymailRecipientsRefused as error:
        raise EmailError(
            f"The provider refused the address: {error}", is_retryable=False
        ) from error
    except AnymailAPIError as error:
        status = getattr(error, "status_code", None)
        is_retryable = status is None or status == 429 or status >= 500
        raise EmailError(
            f"The email provider failed: {error}", is_retryable=is_retryable
        ) from error
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _reply in error.recipients.values()]
        is_retryable = all(_smtp_code_is_temporary(code) for code in codes)
        raise EmailError(
            f"The mail server refused the address: {error}", is_retryable=is_retryable
        ) from error
    except smtplib.SMTPResponseException as error:
        raise EmailError(
            f"The mail server answered {error.smtp_code}: {error.smtp_error!r}",
            is_retryable=_smtp_code_is_temporary(error.smtp_code),
        ) from error
    except (smtplib.SMTPException, OSError) as error:
        raise EmailError(
            f"The mail server could not be reached: {error}", is_retryable=True
        ) from error

    anymail_status = getattr(message, "anymail_status", None)
    if anymail_status is not None and isinstance(anymail_status.message_id, str):
        statuses = sorted(anymail_status.status or [])
        return EmailSendResult(
            provider_message_id=anymail_status.message_id,
            provider_status=statuses[0] if statuses else "",
        )
    return EmailSendResult(provider_message_id=message_id, provider_status="sent")
