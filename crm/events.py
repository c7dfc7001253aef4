"""Domain events: how a lower app lets higher apps (and crm itself) react to its changes.

A service publishes inside its transaction::

    publish("claim.approved", customer_id=claim.customer_id, event_id=f"claim-{claim.pk}-...",
            claim={...})

and a subscriber registers once, in its ``AppConfig.ready()``::

    subscribe("claim.approved", on_claim_approved)

Nothing is lost (a transactional outbox): ``publish`` also writes a ``crm.models.DomainEvent``
row in the caller's transaction, so the event commits or rolls back with the change. After
commit (``transaction.on_commit``) the event is delivered to its subscribers and the row
marked delivered. Each subscriber runs in its own savepoint: a failing one is logged, its
error recorded on the row, and it neither undoes the publisher's work nor stops the other
subscribers; the row stays undelivered and ``crm.tasks.domain_events_redeliver`` tries the
subscribers that have not had it again, as it does for an event whose process died between
the commit and the callback. So a subscriber may hear an event more than once and must be
idempotent. Outside a transaction, delivery is immediate. Payloads are plain JSON values
(ids, strings, dicts), never model instances: a subscriber reloads what it needs, and no app
has to import another's models to read an event.
"""

import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

if TYPE_CHECKING:
    from crm.models import DomainEvent

logger = logging.getLogger(__name__)

Subscriber = Callable[..., None]

_subscribers: dict[str, list[Subscriber]] = defaultdict(list)


def subscribe(event_name: str, subscriber: Subscriber) -> None:
    """Registers ``subscriber(event_name=..., **payload)`` for ``event_name``.

    Registering the same function twice for one event is a no-op, so ``ready()`` running
    again (as it may in tests) never doubles a delivery.
    """
    if subscriber not in _subscribers[event_name]:
        _subscribers[event_name].append(subscriber)


def unsubscribe(event_name: str, subscriber: Subscriber) -> None:
    if subscriber in _subscribers.get(event_name, []):
        _subscribers[event_name].remove(subscriber)


def subscribers_of(event_name: str) -> list[Subscriber]:
    return list(_subscribers.get(event_name, []))


def subscriber_key(subscriber: Subscriber) -> str:
    """How the outbox row names a subscriber that has had the event."""
    return f"{subscriber.__module__}.{subscriber.__qualname__}"


def publish(event_name: str, **payload: Any) -> None:
    """Announces that ``event_name`` happened; subscribers hear of it after commit.

    Call it inside the transaction that makes the change: the outbox row is written there.
    The subscriber list is read now, at publish time, so the set of receivers is the one
    registered when the change was made (a redelivery reads it again).
    """
    from crm.models import DomainEvent

    subscribers = subscribers_of(event_name)
    event = DomainEvent.objects.create(
        name=event_name,
        payload=payload,
        # Nobody to tell: nothing to deliver now or later.
        delivered_at=None if subscribers else timezone.now(),
    )
    if subscribers:
        transaction.on_commit(_delivery(event.pk, subscribers), robust=True)


def _delivery(event_id: int, subscribers: list[Subscriber]) -> Callable[[], None]:
    def deliver() -> None:
        domain_event_deliver(event_id=event_id, subscribers=subscribers)

    return deliver


def domain_event_deliver(*, event_id: int, subscribers: list[Subscriber] | None = None) -> bool:
    """Delivers one undelivered event to the subscribers that have not had it yet.

    The row is locked (``FOR UPDATE SKIP LOCKED``): an event being delivered elsewhere, or
    already delivered, is left alone. Each subscriber runs in a savepoint of this transaction,
    so what it writes commits together with the row's record of it. Returns whether the event
    is now delivered.
    """
    from crm.models import DomainEvent

    with transaction.atomic():
        event = (
            DomainEvent.objects.select_for_update(skip_locked=True)
            .filter(pk=event_id, delivered_at__isnull=True)
            .first()
        )
        if event is None:
            return False
        return _deliver_locked(event, subscribers)


def _deliver_locked(event: "DomainEvent", subscribers: list[Subscriber] | None) -> bool:
    if subscribers is None:
        subscribers = subscribers_of(event.name)
    delivered_to = list(event.delivered_to)
    errors = []
    for subscriber in subscribers:
        key = subscriber_key(subscriber)
        if key in delivered_to:
            continue
        try:
            with transaction.atomic():
                subscriber(event_name=event.name, **event.payload)
        except Exception as error:
            logger.exception(
                "domain event subscriber failed",
                extra={"event_name": event.name, "subscriber": key, "id": event.pk},
            )
            errors.append(f"{key}: {type(error).__name__}: {error}")
        else:
            logger.info(
                "domain event delivered",
                extra={"event_name": event.name, "subscriber": subscriber.__qualname__},
            )
            delivered_to.append(key)
    now = timezone.now()
    event.attempts += 1
    event.last_attempt_at = now
    event.delivered_to = delivered_to
    event.last_error = "\n".join(errors)
    if not errors:
        event.delivered_at = now
    event.save(
        update_fields=["attempts", "last_attempt_at", "delivered_to", "last_error", "delivered_at"]
    )
    return not errors


def domain_events_redeliver(*, limit: int = 500) -> int:
    """Delivers events still undelivered after ``DOMAIN_EVENT_REDELIVER_AFTER_SECONDS`` (their
    process died after the commit, or a subscriber failed), each in its own transaction, rows
    taken with ``FOR UPDATE SKIP LOCKED`` so two runs never deliver the same event at once.
    Events with ``DOMAIN_EVENT_MAX_ATTEMPTS`` attempts are left alone (failed, in the admin).
    Returns how many were delivered now."""
    from crm.models import DomainEvent

    now = timezone.now()
    grace = timedelta(seconds=settings.DOMAIN_EVENT_REDELIVER_AFTER_SECONDS)
    due = DomainEvent.objects.filter(
        delivered_at__isnull=True,
        created_at__lte=now - grace,
        attempts__lt=settings.DOMAIN_EVENT_MAX_ATTEMPTS,
    ).exclude(last_attempt_at__gt=now - grace)
    delivered = 0
    last_pk = 0
    for _ in range(limit):
        with transaction.atomic():
            event = (
                due.select_for_update(skip_locked=True)
                .filter(pk__gt=last_pk)
                .order_by("pk")
                .first()
            )
            if event is None:
                break
            last_pk = event.pk
            delivered += _deliver_locked(event, None)
    if delivered:
        logger.info("domain events redelivered", extra={"count": delivered})
    return delivered


def domain_event_retry(*, event: "DomainEvent", actor: Any) -> bool:
    """The admin's "retry": delivers an undelivered event now, with a fresh set of attempts
    (audited). Returns whether it is delivered."""
    from crm.audit import audit_record
    from crm.models import DomainEvent

    with transaction.atomic():
        locked = (
            DomainEvent.objects.select_for_update(skip_locked=True)
            .filter(pk=event.pk, delivered_at__isnull=True)
            .first()
        )
        if locked is None:
            return False
        before = {"attempts": locked.attempts, "last_error": locked.last_error}
        locked.attempts = 0
        delivered = _deliver_locked(locked, None)
        audit_record(
            action="domain_event.retry",
            actor=actor,
            target=locked,
            before=before,
            after={
                "attempts": locked.attempts,
                "delivered": delivered,
                "last_error": locked.last_error,
            },
        )
    return delivered
