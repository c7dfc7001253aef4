"""Reads for the customer portal and the back office, and their access gates."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import F, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from claims.models import (
    Claim,
    ClaimDocument,
    ClaimStatus,
    ClaimTransition,
    CustomerAccount,
    CustomerOTPDevice,
    Shipment,
)
from crm.middleware import is_staff_user
from crm.models import Customer
from rewards.models import DrawResult


def portal_customer_for_user(user: Any) -> Customer | None:
    """The customer a portal session belongs to, or None.

    Only a user who signed in through the portal counts: active, linked to a customer by
    a CustomerAccount, and verified in this session by a customer sign-in device (the
    OTP middleware checks that the device is still theirs). Staff users never qualify.
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    device = getattr(user, "otp_device", None)
    if not isinstance(device, CustomerOTPDevice):
        return None
    account = CustomerAccount.objects.select_related("customer").filter(user_id=user.pk).first()
    return account.customer if account is not None else None


# -- claims ------------------------------------------------------------------------------
# The access gates: a customer reaches only their own claims and documents; staff reach
# claims through their permissions. Views never filter by owner themselves.


def claims_for_customer(*, customer: Customer) -> QuerySet[Claim]:
    """The customer's claims, newest first, with what "My claims" shows."""
    return (
        Claim.objects.filter(customer=customer)
        .select_related("scheme", "prize", "code")
        .order_by("-created_at", "-pk")
    )


def claim_get_for_customer(*, customer: Customer, number: str) -> Claim | None:
    """The claim with ``number`` if it is ``customer``'s, else None (a view answers 404,
    the same as for a number that does not exist)."""
    return claims_for_customer(customer=customer).filter(number=number).first()


def claim_document_get_for_customer(
    *, customer: Customer, number: str, document_id: int
) -> ClaimDocument | None:
    """One document of one of ``customer``'s claims, or None."""
    return (
        ClaimDocument.objects.select_related("claim")
        .filter(pk=document_id, claim__number=number, claim__customer=customer)
        .first()
    )


def claims_for_staff(*, user: Any) -> QuerySet[Claim]:
    """Every claim for staff allowed to view claims; nothing for anyone else."""
    if not (is_staff_user(user) and user.is_active and user.has_perm("claims.view_claim")):
        return Claim.objects.none()
    return Claim.objects.select_related("customer", "scheme", "prize", "code")


def claim_document_get_for_staff(*, user: Any, document_id: int) -> ClaimDocument | None:
    """A document for staff allowed to view claim documents, else None."""
    if not (is_staff_user(user) and user.is_active and user.has_perm("claims.view_claimdocument")):
        return None
    return ClaimDocument.objects.select_related("claim").filter(pk=document_id).first()


def claim_public_url(claim: Claim) -> str:
    """The claim's status page as a full address, for messages (``claim.tracking_url``)."""
    base = str(settings.NOTIFICATION_PUBLIC_BASE_URL).rstrip("/")
    return f"{base}{reverse('portal:claim', kwargs={'number': claim.number})}"


# A higher app that issues voucher codes (verification's fulfilment) registers how to read a
# claim's issued code here, so claims never imports it (verification -> claims).
_voucher_code_reader: Callable[[Claim], str] | None = None


def claim_voucher_code_reader_set(reader: Callable[[Claim], str] | None) -> None:
    """Registers ``reader(claim) -> str``: the voucher code issued for the claim, or ""."""
    global _voucher_code_reader
    _voucher_code_reader = reader


def claim_voucher_code(claim: Claim) -> str:
    """The voucher or e-voucher code issued for ``claim``, or "" (none issued, no reader).

    Only for the claim's own customer (gate the claim with claim_get_for_customer first).
    """
    if _voucher_code_reader is None:
        return ""
    return _voucher_code_reader(claim) or ""


def claim_current_documents(claim: Claim) -> dict[str, ClaimDocument]:
    """The claim's current (not replaced) document of each kind."""
    return {
        document.kind: document
        for document in claim.documents.filter(superseded_at__isnull=True).order_by("kind")
    }


def claim_timeline(claim: Claim) -> list[ClaimTransition]:
    """The steps a customer sees, oldest first. Internal steps (a proposal, a checker's
    send-back) are left out: to the customer the claim is simply in review until decided."""
    internal = {ClaimStatus.PROPOSED}
    steps = []
    for row in claim.transitions.order_by("occurred_at", "pk"):
        if row.to_status in internal or (
            row.from_status == ClaimStatus.PROPOSED and row.to_status == ClaimStatus.IN_REVIEW
        ):
            continue
        steps.append(row)
    return steps


def claim_shipments(claim: Claim) -> list[Shipment]:
    return list(claim.shipments.order_by("dispatched_at", "pk"))


@dataclass
class TimelineStep:
    """One step of the timeline as the customer sees it (status page and API)."""

    status: str
    occurred_at: Any
    reason: str
    requested: list[str]
    requested_kinds: list[str]
    is_resubmission: bool = False
    shipment: Shipment | None = None


def claim_customer_timeline(claim: Claim) -> list[TimelineStep]:
    """The customer's timeline, oldest first: ``claim_timeline`` with the documents asked
    for in words and each dispatch paired with its shipment."""
    shipments = iter(claim_shipments(claim))
    steps = []
    for row in claim_timeline(claim):
        kinds = [kind for kind in row.requested_document_kinds if kind in ClaimDocument.Kind.values]
        step = TimelineStep(
            status=row.to_status,
            occurred_at=row.occurred_at,
            reason=row.reason,
            requested=[str(ClaimDocument.Kind(kind).label) for kind in kinds],
            requested_kinds=kinds,
            is_resubmission=row.from_status == ClaimStatus.RESUBMISSION_REQUESTED,
        )
        if row.to_status == ClaimStatus.DISPATCHED:
            # Each dispatch made exactly one shipment, in the same order.
            step.shipment = next(shipments, None)
        steps.append(step)
    return steps


def draw_wins_to_claim(*, customer: Customer) -> list[DrawResult]:
    """The customer's draw wins (winner or promoted reserve) that have no claim yet and can
    still be claimed, soonest deadline first."""
    now = timezone.now()
    return list(
        DrawResult.objects.filter(
            customer=customer,
            status__in=DrawResult.CLAIMABLE_STATUSES,
            claim__isnull=True,
        )
        .filter(Q(claim_deadline_at__isnull=True) | Q(claim_deadline_at__gt=now))
        .select_related("draw__prize", "draw__scheme")
        .order_by(F("claim_deadline_at").asc(nulls_last=True), "pk")
    )
