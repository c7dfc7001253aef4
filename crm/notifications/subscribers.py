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
narrows the channels, e.g. ``channels=["email"]``. Every other
keyword is a template variable and must be one the event declares.

Some events get a variable the publisher cannot give: a lower app does not know the
portal's pages, so the link where a draw win is claimed (``draw.claim_url``) is added here.
"""

import logging
from collections.abc import Callable, Collection
from typing import Any

from django.conf import settings
from django.urls import reverse

from crm.events import subscribe
from crm.models import Customer
from crm.notifications.catalog import EVENTS, Event
from crm.notifications.services import message_enqueue

logger = logging.getLogger(__name__)

# Where a customer claims a draw win: the portal's "My claims" page lists the wins to claim.
PORTAL_MY_CLAIMS_URL_NAME = "portal:home"


def portal_my_claims_url() -> str:
    """The portal's "My claims" page as a full address, like ``claim.tracking_url``.

    Reversed by name, so crm imports nothing from the claims app."""
    base = str(settings.NOTIFICATION_PUBLIC_BASE_URL).rstrip("/")
    return f"{base}{reverse(PORTAL_MY_CLAIMS_URL_NAME)}"


def _draw_context(context: dict[str, Any]) -> dict[str, Any]:
    return {**context, "draw": {**context.get("draw", {}), "claim_url": portal_my_claims_url()}}


_CONTEXT_COMPLETIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    Event.DRAW_WINNER_DRAWN: _draw_context,
    Event.DRAW_RESERVE_PROMOTED: _draw_context,
}


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
    complete = _CONTEXT_COMPLETIONS.get(event_name)
    message_enqueue(
        event=event_name,
        customer=customer,
        context=complete(context) if complete else context,
        idempotency_key=f"{event_name}:{event_id}",
        channels=channels,
    )


def connect() -> None:
    # A secret (a sign-in code) never travels as a domain event: the outbox row would keep
    # it for good. Its sender calls message_enqueue_to_address instead.
    for event_name, spec in EVENTS.items():
        if not spec.is_secret:
            subscribe(event_name, on_domain_event)
