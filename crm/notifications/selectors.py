"""Reads of the notification engine for the admin and the helpdesk's customer page."""

from django.db.models import QuerySet

from crm.models import Customer, OutboundMessage


def messages_for_customer(*, customer: Customer) -> QuerySet[OutboundMessage]:
    """Every message sent (or held back) for ``customer``, newest first."""
    return OutboundMessage.objects.filter(customer=customer).select_related("template")


def messages_failed() -> QuerySet[OutboundMessage]:
    """The helpdesk's follow-up list: messages that ended failed, newest failure first."""
    return (
        OutboundMessage.objects.filter(status=OutboundMessage.Status.FAILED)
        .select_related("customer")
        .order_by("-failed_at", "-id")
    )
