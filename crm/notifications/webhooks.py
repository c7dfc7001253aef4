"""Delivery reports from the providers: Twilio status callbacks and anymail's tracking
webhooks. Both only hand the report to message_record_provider_status."""

import logging
from typing import Any

from anymail.signals import AnymailTrackingEvent, tracking
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from crm.models import OutboundMessage
from crm.notifications.catalog import Channel
from crm.notifications.services import message_record_provider_status

logger = logging.getLogger(__name__)

Status = OutboundMessage.Status

# Twilio's MessageStatus values that change ours; the others (accepted, queued, sending,
# scheduled) only update the raw provider status.
_TWILIO_STATUS = {
    "sent": Status.SENT,
    "delivered": Status.DELIVERED,
    "read": Status.DELIVERED,
    "undelivered": Status.FAILED,
    "failed": Status.FAILED,
    "canceled": Status.FAILED,
}

_ANYMAIL_STATUS = {
    "sent": Status.SENT,
    "delivered": Status.DELIVERED,
    "bounced": Status.FAILED,
    "rejected": Status.FAILED,
    "failed": Status.FAILED,
}


def _url_twilio_called(request: HttpRequest) -> str:
    """Twilio signs the public URL it called, which a proxy in front of us may rewrite."""
    base_url = settings.NOTIFICATION_PUBLIC_BASE_URL
    if base_url:
        return base_url.rstrip("/") + request.get_full_path()
    return request.build_absolute_uri()


@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest) -> HttpResponse:
    """Twilio's status callback for a message we sent. A request whose X-Twilio-Signature
    does not match is refused with 403 and changes nothing."""
    signature = request.headers.get("X-Twilio-Signature", "")
    validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
    if (
        not settings.TWILIO_AUTH_TOKEN
        or not signature
        or not validator.validate(_url_twilio_called(request), request.POST, signature)
    ):
        logger.warning("twilio status callback with a bad signature")
        return HttpResponseForbidden("Invalid signature.")

    message_sid = request.POST.get("MessageSid", "")
    provider_status = request.POST.get("MessageStatus", "")
    error_code = request.POST.get("ErrorCode", "")
    if message_sid and provider_status:
        error = f"Twilio reported {provider_status}" + (
            f" (error {error_code})." if error_code else "."
        )
        message = message_record_provider_status(
            channel=Channel.SMS,
            provider_message_id=message_sid,
            status=_TWILIO_STATUS.get(provider_status),
            provider_status=provider_status,
            error=error,
        )
        if message is None:
            logger.info("twilio status for an unknown message", extra={"sid": message_sid})
    # 204 even for an unknown message: Twilio must not keep calling about it.
    return HttpResponse(status=204)


def on_anymail_tracking(*, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any) -> None:
    if not event.message_id or not isinstance(event.message_id, str):
        return
    error = event.description or event.mta_response or ""
    message_record_provider_status(
        channel=Channel.EMAIL,
        provider_message_id=event.message_id,
        status=_ANYMAIL_STATUS.get(event.event_type),
        provider_status=str(event.event_type),
        error=f"{esp_name} reported {event.event_type}: {error}" if error else "",
        occurred_at=event.timestamp,
    )


def connect() -> None:
    tracking.connect(on_anymail_tracking, dispatch_uid="crm.notifications.anymail_tracking")
