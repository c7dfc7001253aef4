"""Domain events: how a lower app lets higher apps (and crm itself) react to its changes.

A service publishes inside its transaction::

    publish("claim.approved", customer_id=claim.customer_id, event_id=f"claim-{claim.pk}-...",
            claim={...})

and a subscriber registers once, in its ``AppConfig.ready()``::

    subscribe("claim.approved", on_claim_approved)

Subscribers run after the publishing transaction commits (``transaction.on_commit``), one
callback each, so a rollback delivers nothing and a failing subscriber neither undoes the
publisher's work nor stops the other subscribers (its error is logged). Outside a
transaction, delivery is immediate. Payloads are plain values (ids, strings, dicts), never
model instances: a subscriber reloads what it needs, and no app has to import another's
models to read an event.
"""

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.db import transaction

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


def publish(event_name: str, **payload: Any) -> None:
    """Announces that ``event_name`` happened; subscribers hear of it after commit.

    Call it inside the transaction that makes the change. The subscriber list is read now,
    at publish time, so the set of receivers is the one registered when the change was made.
    """
    for subscriber in subscribers_of(event_name):
        transaction.on_commit(
            _delivery(subscriber, event_name, payload),
            robust=True,
        )


def _delivery(
    subscriber: Subscriber, event_name: str, payload: dict[str, Any]
) -> Callable[[], None]:
    def deliver() -> None:
        logger.info(
            "domain event delivered",
            extra={"event_name": event_name, "subscriber": subscriber.__qualname__},
        )
        subscriber(event_name=event_name, **payload)

    return deliver
