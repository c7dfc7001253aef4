"""Words for the customer: what each claim status means to them."""

from django import template
from django.utils.translation import gettext as _

from claims.models import ClaimStatus

register = template.Library()


@register.filter
def customer_status(status: str) -> str:
    """The claim's status as the customer reads it. A proposal is internal: to the
    customer the claim is still being checked."""
    labels: dict[str, str] = {
        ClaimStatus.DRAFT: _("Not sent yet"),
        ClaimStatus.SUBMITTED: _("Sent, waiting to be checked"),
        ClaimStatus.IN_REVIEW: _("Being checked"),
        ClaimStatus.PROPOSED: _("Being checked"),
        ClaimStatus.RESUBMISSION_REQUESTED: _("We need a document again"),
        ClaimStatus.APPROVED: _("Approved"),
        ClaimStatus.REJECTED: _("Not approved"),
        ClaimStatus.RELEASED: _("Prize being prepared"),
        ClaimStatus.DISPATCHED: _("On its way"),
        ClaimStatus.RETURNED: _("Parcel returned to us"),
        ClaimStatus.DELIVERED: _("Delivered"),
        ClaimStatus.FORFEITED: _("Closed: the deadline passed"),
    }
    return labels.get(status, status)


@register.filter
def status_tone(status: str) -> str:
    """A CSS class for the status badge: done, problem, action or waiting."""
    if status in (ClaimStatus.DELIVERED, ClaimStatus.APPROVED):
        return "done"
    if status in (ClaimStatus.REJECTED, ClaimStatus.FORFEITED, ClaimStatus.RETURNED):
        return "problem"
    if status in (ClaimStatus.DRAFT, ClaimStatus.RESUBMISSION_REQUESTED):
        return "action"
    return "waiting"
