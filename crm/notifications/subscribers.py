"""The notification engine listens to the domain events of crm.notifications.catalog.

Publishers send (see crm.events)::

    publish(
        "claim.approved",
        customer_id=claim.customer_id,
        event_id=f"claim-{claim.pk}-transition-{transition.pk}",
        claim={"number": ..., "status": ..., "url": ..., "tracking_url": ...},
    )

``event_id`` names this occurrence (a claim can be in review twice: each time is its own
event); the same ``event_id`` published again sends nothing new. ``channels`` (optional)
narrows the channels, e.g. ``channels=["sms"]`` for a code sent to a phone. Every other
keyword is a template variable and must be one the event declares.
"""

import logging
from collections.abc import Collection
from typing import Any

from crm.events import subscribe
from crm.models import Customer
from crm.notifications.catalog import EVENTS
from crm.notifications.services import message_enqueue

logger = logging.getLogger(__name__)


def on_domain_event(
    *,
    event_name: str,
    customer_id: int,
    event_id: str,
    channels: Collection[str] | None = None,
    **context: Any,
) -> None:
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        logger.warning(
            "notification for a missing customer",
            extra={"event_name": event_name, "id": customer_id},
        )
        return
    message_enqueue(
        event=event_name,
        customer=customer,
        context=context,
        idempotency_key=f"{event_name}:{event_id}",
        channels=channels,
    )


def connect() -> None:
    for event_name in EVENTS:
        subscribe(event_name, on_domain_event)
