"""Every write of the notification engine: enqueue, send, retry, resend, provider status.

A message moves queued -> sending -> sent -> delivered, or ends failed or suppressed:

- ``message_enqueue`` renders one message per channel the customer can be reached on and
  schedules the send after commit. Marketing messages without consent are kept as
  ``suppressed``; during quiet hours they wait (``send_after``). Transactional messages are
  never held back. ``message_enqueue_to_address`` does the same for one phone number or
  email address not matched to a customer (a sign-in code, sent before anyone is known).
- ``message_send`` (the Celery task's body) claims the row under a row lock (queued ->
  sending) in its own short transaction, calls the provider with no lock held, then records
  the outcome. A redelivered or duplicate task finds the row no longer queued and does
  nothing, so no message goes out twice.
- A provider error worth retrying puts the row back to queued with ``send_after`` set by
  exponential backoff, until NOTIFICATION_MAX_ATTEMPTS; then it ends failed, for the
  helpdesk's "Failed messages" list. A message with ``send_before`` (a sign-in code) is
  never sent after that time: a retry that would come later fails it at once.
"""

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from crm.audit import audit_record
from crm.models import Customer, MessageTemplate, OutboundMessage
from crm.notifications.catalog import Channel, Purpose, event_spec
from crm.notifications.email import EmailError, email_send
from crm.notifications.rendering import (
    address_context,
    customer_context,
    render_message,
    site_context,
)
from crm.sms import SmsError, get_sms_backend

logger = logging.getLogger(__name__)

Status = OutboundMessage.Status

ERROR_TEXT_LIMIT = 2000
REDACTED_TEXT = "[removed once sent: it held a one-time sign-in code]"
OUTCOME_UNKNOWN_ERROR = (
    "The worker stopped while sending: the provider may or may not have the message. "
    "Check with the provider before retrying."
)
EXPIRED_ERROR = "Not sent before it expired."


class MessageActionError(Exception):
    """A retry or resend that is not allowed in the message's current state."""


# --- enqueue -----------------------------------------------------------------------------


def _parse_quiet_hours(value: str) -> tuple[time, time] | None:
    if not value.strip():
        return None
    start_text, end_text = value.split("-")
    return time.fromisoformat(start_text.strip()), time.fromisoformat(end_text.strip())


def quiet_hours_end(at: datetime) -> datetime | None:
    """When the quiet hours around ``at`` end, or None when ``at`` is outside them.

    NOTIFICATION_QUIET_HOURS is "HH:MM-HH:MM" in NOTIFICATION_TIME_ZONE and may span
    midnight (21:00-08:00).
    """
    window = _parse_quiet_hours(settings.NOTIFICATION_QUIET_HOURS)
    if window is None:
        return None
    start, end = window
    zone = ZoneInfo(settings.NOTIFICATION_TIME_ZONE)
    local = at.astimezone(zone)
    clock = local.time()
    if start <= end:
        inside = start <= clock < end
        end_day = local.date()
    else:
        inside = clock >= start or clock < end
        end_day = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not inside:
        return None
    return datetime.combine(end_day, end, tzinfo=zone)


def _earliest_send_at(purpose: str, at: datetime) -> datetime | None:
    if purpose != Purpose.MARKETING:
        return None
    return quiet_hours_end(at)


def _recipient(customer: Customer, channel: str) -> str:
    return customer.phone if channel == Channel.SMS else customer.email


def _has_marketing_consent(customer: Customer | None, channel: str) -> bool:
    # A message to an address belongs to no customer, so nobody has consented to it.
    if customer is None:
        return False
    if channel == Channel.SMS:
        return customer.accepts_marketing_sms
    return customer.accepts_marketing_email


def _template_for(*, event: str, channel: str, language: str) -> MessageTemplate | None:
    """The active template in ``language``, else in English, else none (nothing is sent)."""
    candidates = {
        template.language: template
        for template in MessageTemplate.objects.filter(
            event=event, channel=channel, language__in={language, "en"}, is_active=True
        )
    }
    return candidates.get(language) or candidates.get("en")


def _schedule_send(message_id: int, send_after: datetime | None) -> None:
    from crm.tasks import message_send_task

    try:
        if send_after is None:
            message_send_task.delay(message_id)
        else:
            message_send_task.apply_async(args=[message_id], eta=send_after)
    except Exception:
        # The row stays queued and messages_requeue_stalled sends it later; the change that
        # caused the message has committed and must not be reported as failed.
        logger.exception("could not enqueue message", extra={"message_id": message_id})


def _schedule_send_on_commit(message: OutboundMessage) -> None:
    message_id, send_after = message.pk, message.send_after
    transaction.on_commit(lambda: _schedule_send(message_id, send_after))


def message_idempotency_key(*, idempotency_key: str, customer: Customer, channel: str) -> str:
    return f"{idempotency_key}:customer-{customer.pk}:{channel}"


def _event_context(
    event: str, context: Mapping[str, Any], customer: Mapping[str, str]
) -> dict[str, Any]:
    """The variables a template of ``event`` sees: customer, site and the event's own."""
    spec = event_spec(event)
    unknown = set(context) - spec.variable_names
    if unknown:
        raise ValueError(f"{event} does not provide {', '.join(sorted(unknown))}.")
    return {"customer": customer, "site": site_context(), **context}


def message_enqueue(
    *,
    event: str,
    customer: Customer,
    context: Mapping[str, Any],
    idempotency_key: str,
    channels: Collection[str] | None = None,
) -> list[OutboundMessage]:
    """Creates the messages ``event`` sends ``customer`` and schedules them after commit.

    ``idempotency_key`` names this occurrence of the event (e.g. "claim.approved:claim-42");
    calling again with the same key returns the existing messages and sends nothing new.
    ``context`` holds the event's own variables (claim, wallet, ...); customer and site are
    added here. A channel is used when the customer has an address for it and an active
    template exists (in their language, else English). ``channels`` narrows the choice.
    """
    full_context = _event_context(event, context, customer_context(customer))
    messages = []
    now = timezone.now()
    with transaction.atomic():
        for channel in channels or Channel.values:
            recipient = _recipient(customer, channel)
            if not recipient:
                continue
            message = _message_enqueue_one(
                event=event,
                customer=customer,
                channel=channel,
                recipient=recipient,
                language=customer.preferred_language,
                context=full_context,
                key=message_idempotency_key(
                    idempotency_key=idempotency_key, customer=customer, channel=channel
                ),
                now=now,
            )
            if message is not None:
                messages.append(message)
    return messages


def message_enqueue_to_address(
    *,
    event: str,
    channel: str,
    recipient: str,
    language: str,
    context: Mapping[str, Any],
    idempotency_key: str,
    send_before: datetime | None = None,
) -> OutboundMessage | None:
    """Creates the message ``event`` sends to ``recipient`` (an E.164 phone number or an
    email address) and schedules it after commit; returns None when no active template
    exists for the channel (in ``language``, else English): nothing is sent then. A
    message not sent by ``send_before`` fails instead of going out late.

    For an address that must not be matched to a customer: a sign-in code goes to whatever
    the visitor typed, before anyone has proved who they are, so the message has no
    customer and its ``customer`` variable holds only the address. ``idempotency_key``
    names this occurrence (e.g. one issued code); calling again with the same key returns
    the existing message and sends nothing new.
    """
    if channel not in Channel.values:
        raise ValueError(f"Unknown channel {channel!r}.")
    if not recipient:
        raise ValueError("A message needs a recipient.")
    full_context = _event_context(
        event, context, address_context(channel=channel, recipient=recipient)
    )
    with transaction.atomic():
        return _message_enqueue_one(
            event=event,
            customer=None,
            channel=channel,
            recipient=recipient,
            language=language,
            context=full_context,
            key=f"{idempotency_key}:{channel}",
            now=timezone.now(),
            send_before=send_before,
        )


def _message_enqueue_one(
    *,
    event: str,
    customer: Customer | None,
    channel: str,
    recipient: str,
    language: str,
    context: Mapping[str, Any],
    key: str,
    now: datetime,
    send_before: datetime | None = None,
) -> OutboundMessage | None:
    """The message with idempotency key ``key``: the existing one, or a new one rendered
    from the channel's template and scheduled after commit; None when no template is
    active. Call inside a transaction."""
    existing = OutboundMessage.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    template = _template_for(event=event, channel=channel, language=language)
    if template is None:
        return None
    message = _new_message(
        event=event,
        customer=customer,
        channel=channel,
        recipient=recipient,
        template=template,
        context=context,
        key=key,
        now=now,
    )
    message.send_before = send_before
    try:
        with transaction.atomic():
            message.save(force_insert=True)
    except IntegrityError:
        # A concurrent enqueue of the same event won the race: that one sends.
        return OutboundMessage.objects.get(idempotency_key=key)
    if message.status == Status.QUEUED:
        _schedule_send_on_commit(message)
    return message


def _new_message(
    *,
    event: str,
    customer: Customer | None,
    channel: str,
    recipient: str,
    template: MessageTemplate,
    context: Mapping[str, Any],
    key: str,
    now: datetime,
) -> OutboundMessage:
    message = OutboundMessage(
        customer=customer,
        event=event,
        channel=channel,
        purpose=template.purpose,
        language=template.language,
        template=template,
        recipient=recipient,
        idempotency_key=key,
    )
    try:
        rendered = render_message(subject=template.subject, body=template.body, context=context)
    except Exception as error:
        # Templates are checked when saved, so this is a bug or a strange value in the
        # context: keep the row, failed and visible, rather than lose the message.
        logger.exception("message template failed to render", extra={"template": template.pk})
        message.status = Status.FAILED
        message.failed_at = now
        message.last_error = f"The template could not be rendered: {error}"[:ERROR_TEXT_LIMIT]
        message.body = ""
        return message
    message.subject = rendered.subject[:255]
    message.body = rendered.body
    if template.purpose == Purpose.MARKETING and not _has_marketing_consent(customer, channel):
        message.status = Status.SUPPRESSED
        message.suppressed_reason = f"No consent to marketing by {channel}."
    else:
        message.send_after = _earliest_send_at(template.purpose, now)
    return message


# --- send --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendOutcome:
    """What a send attempt did. ``retry_at`` is set when the task should run again then."""

    status: str
    retry_at: datetime | None = None


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff: base, 2x base, 4x base, ... capped."""
    seconds = settings.NOTIFICATION_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.NOTIFICATION_RETRY_MAX_SECONDS))


def _status_callback_url(channel: str) -> str:
    base_url = settings.NOTIFICATION_PUBLIC_BASE_URL
    if channel != Channel.SMS or not base_url or not base_url.startswith("https://"):
        # Twilio only calls back public HTTPS addresses.
        return ""
    return base_url.rstrip("/") + reverse("notifications:twilio-status")


def _claim_for_sending(
    message_id: int, now: datetime
) -> tuple[OutboundMessage | None, SendOutcome]:
    with transaction.atomic():
        message = OutboundMessage.objects.select_for_update().filter(pk=message_id).first()
        if message is None:
            return None, SendOutcome(status="missing")
        if message.status == Status.SENDING:
            stale_before = now - timedelta(seconds=settings.NOTIFICATION_SENDING_STALE_SECONDS)
            if message.sending_started_at is not None and message.sending_started_at < stale_before:
                message.status = Status.FAILED
                message.failed_at = now
                message.last_error = OUTCOME_UNKNOWN_ERROR
                message.save(
                    update_fields=["status", "failed_at", "last_error", *_redact_secret(message)]
                )
                return None, SendOutcome(status=Status.FAILED)
            # Another worker is sending it right now.
            return None, SendOutcome(status=Status.SENDING)
        if message.status != Status.QUEUED:
            return None, SendOutcome(status=message.status)
        if message.send_before is not None and message.send_before <= now:
            _fail_expired(message, now)
            return None, SendOutcome(status=Status.FAILED)
        if message.send_after is not None and message.send_after > now:
            return None, SendOutcome(status=Status.QUEUED, retry_at=message.send_after)
        message.status = Status.SENDING
        message.attempts = F("attempts") + 1
        message.sending_started_at = now
        message.save(update_fields=["status", "attempts", "sending_started_at"])
        message.refresh_from_db(fields=["attempts"])
        return message, SendOutcome(status=Status.SENDING)


def _deliver_to_provider(message: OutboundMessage) -> tuple[str, str]:
    if message.channel == Channel.SMS:
        sms = get_sms_backend().send(
            to=message.recipient,
            body=message.body,
            status_callback_url=_status_callback_url(message.channel),
        )
        return sms.provider_message_id, sms.provider_status
    email = email_send(to=message.recipient, subject=message.subject, body=message.body)
    return email.provider_message_id, email.provider_status


def message_send(*, message_id: int) -> SendOutcome:
    """Sends the message if it is queued and due; safe to call any number of times.

    Call it outside a transaction: the row is claimed and committed as ``sending`` before
    the provider is called, so a second caller (a redelivered task) never sends it again.
    A row found ``sending`` for longer than NOTIFICATION_SENDING_STALE_SECONDS lost its
    worker mid-call; it is marked failed (outcome unknown) rather than risk a double send.
    """
    now = timezone.now()
    message, outcome = _claim_for_sending(message_id, now)
    if message is None:
        return outcome
    try:
        provider_message_id, provider_status = _deliver_to_provider(message)
    except (SmsError, EmailError) as error:
        return _record_failure(message_id, str(error), is_retryable=error.is_retryable)
    except Exception as error:
        logger.exception("message send failed unexpectedly", extra={"message_id": message_id})
        return _record_failure(message_id, f"{type(error).__name__}: {error}", is_retryable=False)
    return _record_sent(message_id, provider_message_id, provider_status)


def _redact_secret(message: OutboundMessage) -> list[str]:
    """Wipes a secret's text from a message that will not be sent again; returns the
    fields it changed."""
    if not event_spec(message.event).is_secret:
        return []
    message.subject = REDACTED_TEXT if message.subject else ""
    message.body = REDACTED_TEXT
    return ["subject", "body"]


def _record_sent(message_id: int, provider_message_id: str, provider_status: str) -> SendOutcome:
    with transaction.atomic():
        message = OutboundMessage.objects.select_for_update().get(pk=message_id)
        if message.status != Status.SENDING:
            return SendOutcome(status=message.status)
        message.status = Status.SENT
        message.sent_at = timezone.now()
        message.provider_message_id = provider_message_id[:255]
        message.provider_status = provider_status[:32]
        message.last_error = ""
        update_fields = [
            "status",
            "sent_at",
            "provider_message_id",
            "provider_status",
            "last_error",
        ]
        update_fields += _redact_secret(message)
        message.save(update_fields=update_fields)
    logger.info("message sent", extra={"message_id": message_id, "channel": message.channel})
    return SendOutcome(status=Status.SENT)


def _fail_expired(message: OutboundMessage, now: datetime) -> None:
    """Fails a queued message whose ``send_before`` has passed (call with the row locked)."""
    message.status = Status.FAILED
    message.failed_at = now
    message.last_error = EXPIRED_ERROR
    message.save(update_fields=["status", "failed_at", "last_error", *_redact_secret(message)])
    logger.warning("message expired unsent", extra={"message_id": message.pk})


def _record_failure(message_id: int, error_text: str, *, is_retryable: bool) -> SendOutcome:
    now = timezone.now()
    with transaction.atomic():
        message = OutboundMessage.objects.select_for_update().get(pk=message_id)
        if message.status != Status.SENDING:
            return SendOutcome(status=message.status)
        message.last_error = error_text[:ERROR_TEXT_LIMIT]
        retry_at = now + retry_delay(message.attempts)
        will_retry = is_retryable and message.attempts < settings.NOTIFICATION_MAX_ATTEMPTS
        if will_retry and message.send_before is not None and retry_at >= message.send_before:
            # The retry would come too late (a sign-in code would have expired): stop now.
            message.last_error = f"{message.last_error} {EXPIRED_ERROR}"[:ERROR_TEXT_LIMIT]
            will_retry = False
        if will_retry:
            message.status = Status.QUEUED
            message.send_after = _earliest_send_at(message.purpose, retry_at) or retry_at
            message.save(update_fields=["status", "last_error", "send_after"])
            logger.warning(
                "message send failed, will retry",
                extra={"message_id": message_id, "attempts": message.attempts},
            )
            return SendOutcome(status=Status.QUEUED, retry_at=message.send_after)
        message.status = Status.FAILED
        message.failed_at = now
        message.save(update_fields=["status", "last_error", "failed_at", *_redact_secret(message)])
    logger.error("message failed", extra={"message_id": message_id, "attempts": message.attempts})
    return SendOutcome(status=Status.FAILED)


def messages_requeue_stalled(
    *, older_than: timedelta = timedelta(minutes=10), limit: int = 1000
) -> int:
    """Schedules a send for messages whose task was lost (broker down at enqueue, a worker
    killed while holding a delayed task). Harmless for a message whose task still exists:
    sending is idempotent. Returns how many were scheduled."""
    cutoff = timezone.now() - older_than
    stale_sending_before = timezone.now() - timedelta(
        seconds=settings.NOTIFICATION_SENDING_STALE_SECONDS
    )
    queued = (
        OutboundMessage.objects.filter(status=Status.QUEUED)
        .annotate(due_at=Coalesce("send_after", "created_at"))
        .filter(due_at__lt=cutoff)
    )
    sending = OutboundMessage.objects.filter(
        status=Status.SENDING, sending_started_at__lt=stale_sending_before
    )
    message_ids = list(queued.values_list("pk", flat=True)[:limit]) + list(
        sending.values_list("pk", flat=True)[:limit]
    )
    for message_id in message_ids:
        _schedule_send(message_id, None)
    return len(message_ids)


# --- helpdesk actions --------------------------------------------------------------------


def message_retry(*, message: OutboundMessage, actor: Any) -> OutboundMessage:
    """Puts a failed message back in the queue with a fresh set of attempts (audited)."""
    with transaction.atomic():
        locked = OutboundMessage.objects.select_for_update().get(pk=message.pk)
        if event_spec(locked.event).is_secret:
            raise MessageActionError(
                "A sign-in code is never sent again: the customer asks for a new one."
            )
        if locked.status != Status.FAILED:
            raise MessageActionError(
                f"Only failed messages can be retried; this one is {locked.get_status_display()}."
            )
        if locked.purpose == Purpose.MARKETING and not _has_marketing_consent(
            locked.customer, locked.channel
        ):
            raise MessageActionError("The customer no longer consents to this marketing message.")
        before = {
            "status": locked.status,
            "attempts": locked.attempts,
            "last_error": locked.last_error,
        }
        locked.status = Status.QUEUED
        locked.attempts = 0
        locked.failed_at = None
        locked.send_after = _earliest_send_at(locked.purpose, timezone.now())
        locked.save(update_fields=["status", "attempts", "failed_at", "send_after"])
        audit_record(
            action="message.retry",
            actor=actor,
            target=locked,
            before=before,
            after={"status": locked.status, "attempts": 0},
        )
        _schedule_send_on_commit(locked)
    return locked


def messages_to_addresses_purge(*, created_before: datetime) -> int:
    """Deletes the finished messages sent to an address rather than a customer (sign-in
    codes) created before ``created_before``; returns how many. Their text was wiped when
    they finished, so all they still hold is an address nobody proved. A message still
    queued or sending is left to finish."""
    finished = [Status.SENT, Status.DELIVERED, Status.FAILED, Status.SUPPRESSED]
    _total, deleted = OutboundMessage.objects.filter(
        customer__isnull=True, created_at__lt=created_before, status__in=finished
    ).delete()
    return deleted.get(OutboundMessage._meta.label, 0)


def message_resend(*, message: OutboundMessage, actor: Any) -> OutboundMessage:
    """Sends the same text again to the customer's current address (audited).

    The customer's address is read now, so a resend after the helpdesk corrected a phone
    number or email reaches the new one. A message addressed to no customer goes to the
    same address again.
    """
    resendable = {Status.SENT, Status.DELIVERED, Status.FAILED}
    with transaction.atomic():
        original = OutboundMessage.objects.select_for_update().get(pk=message.pk)
        if event_spec(original.event).is_secret:
            raise MessageActionError(
                "A sign-in code is never sent again: the customer asks for a new one."
            )
        if original.status not in resendable:
            raise MessageActionError(
                f"A {original.get_status_display().lower()} message cannot be resent."
            )
        customer = (
            None if original.customer_id is None else Customer.objects.get(pk=original.customer_id)
        )
        recipient = (
            original.recipient if customer is None else _recipient(customer, original.channel)
        )
        if not recipient:
            raise MessageActionError(f"The customer has no address for {original.channel}.")
        if original.purpose == Purpose.MARKETING and not _has_marketing_consent(
            customer, original.channel
        ):
            raise MessageActionError("The customer no longer consents to this marketing message.")
        resend_number = original.resends.count() + 1
        copy = OutboundMessage(
            customer=customer,
            event=original.event,
            channel=original.channel,
            purpose=original.purpose,
            language=original.language,
            template=original.template,
            recipient=recipient,
            subject=original.subject,
            body=original.body,
            idempotency_key=f"{original.idempotency_key}:resend-{resend_number}",
            resent_from=original,
            send_after=_earliest_send_at(original.purpose, timezone.now()),
        )
        copy.save(force_insert=True)
        audit_record(
            action="message.resend",
            actor=actor,
            target=copy,
            after={"resent_from": original.pk, "recipient": recipient},
        )
        _schedule_send_on_commit(copy)
    return copy


# --- provider status ---------------------------------------------------------------------

_STATUS_RANK = {
    Status.QUEUED: 0,
    Status.SENDING: 1,
    Status.SENT: 2,
    Status.DELIVERED: 3,
    Status.FAILED: 3,
    Status.SUPPRESSED: 3,
}


def message_record_provider_status(
    *,
    channel: str,
    provider_message_id: str,
    status: str | None,
    provider_status: str,
    error: str = "",
    occurred_at: datetime | None = None,
) -> OutboundMessage | None:
    """Applies a delivery report from a provider's webhook.

    ``status`` is ours (sent, delivered, failed) or None for a report that changes nothing
    but the raw ``provider_status``. Reports arrive out of order; a message only moves
    forward (sent -> delivered or failed) and its first final status stands. Returns the
    message, or None when no message has that provider id.
    """
    with transaction.atomic():
        message = (
            OutboundMessage.objects.select_for_update()
            .filter(channel=channel, provider_message_id=provider_message_id)
            .first()
        )
        if message is None:
            return None
        current_rank = _STATUS_RANK[Status(message.status)]
        if status is None or _STATUS_RANK[Status(status)] < current_rank:
            return message
        if status == message.status and provider_status == message.provider_status:
            return message
        if current_rank == 3 and status != message.status:
            return message
        update_fields = ["status", "provider_status"]
        message.status = status
        message.provider_status = provider_status[:32]
        when = occurred_at or timezone.now()
        if status == Status.DELIVERED and message.delivered_at is None:
            message.delivered_at = when
            update_fields.append("delivered_at")
        if status == Status.FAILED:
            message.failed_at = when
            message.last_error = (error or f"The provider reported {provider_status}.")[
                :ERROR_TEXT_LIMIT
            ]
            update_fields += ["failed_at", "last_error"]
        message.save(update_fields=update_fields)
    return message
