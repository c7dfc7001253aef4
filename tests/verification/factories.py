"""Factories for verification: claims made the way the portal makes them (tests.claims),
moved through the verification services by users holding the real roles."""

from typing import Any

import factory
from django.core.files.uploadedfile import SimpleUploadedFile

from claims import services as claim_services
from claims.models import Claim
from crm import context
from crm.roles import Role
from rewards.models import Prize
from tests.claims.factories import (
    PrizeFactory,
    complete_draft,
    draft_claim,
    jpeg_bytes,
    pdf_bytes,
    portal_customer,
    winning_code,
)
from tests.crm.factories import staff_user
from verification import services
from verification.models import (
    CampaignReviewSettings,
    CheckerDecision,
    ChecklistItem,
    Proposal,
    RejectionReason,
)


class RejectionReasonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RejectionReason
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"reason-{n}")
    text = "The receipt is from before the campaign started."


def verifier() -> Any:
    return staff_user(Role.VERIFIER)


def checker() -> Any:
    return staff_user(Role.CHECKER)


def fulfiller() -> Any:
    return staff_user(Role.HELPDESK)


def unique_receipt(seed: int) -> SimpleUploadedFile:
    """A receipt photo whose content (and so its hash) is its own."""
    return SimpleUploadedFile(
        f"receipt-{seed}.jpg", jpeg_bytes((64 + seed % 200, 48 + seed // 200)), "image/jpeg"
    )


_seed = iter(range(1, 10_000_000))


def submitted_claim(
    *,
    prize: Prize | None = None,
    account: Any = None,
    details: dict[str, str] | None = None,
    receipt: SimpleUploadedFile | None = None,
    ip: str | None = None,
) -> Claim:
    """A submitted claim with a filled form and an invoice of its own content (so it raises
    no signal unless a test makes it)."""
    account = account or portal_customer()
    code = winning_code(prize or PrizeFactory())
    claim = draft_claim(account=account, code=code, complete=False)
    seed = next(_seed)
    claim_services.claim_details_update(
        claim=claim,
        actor=account.user,
        details={
            "full_name": "Alva Winner",
            "address_line1": f"Storgatan {seed}",
            "postal_code": f"{10000 + seed % 89999}",
            "city": "Stockholm",
            **(details or {}),
        },
    )
    claim_services.claim_document_add(
        claim=claim, actor=account.user, kind="invoice", upload=receipt or unique_receipt(seed)
    )
    token = context.client_ip.set(
        ip or f"10.{seed // 65536 % 256}.{seed // 256 % 256}.{seed % 256}"
    )
    try:
        claim_services.claim_submit(claim=claim, actor=account.user)
    finally:
        context.client_ip.reset(token)
    return Claim.objects.get(pk=claim.pk)


def proposed_claim(
    *, maker: Any = None, outcome: str = "approve", **kwargs: Any
) -> tuple[Claim, Proposal]:
    maker = maker or verifier()
    claim = submitted_claim(**kwargs)
    services.review_lock_take(claim=claim, actor=maker)
    extra: dict[str, Any] = {}
    if outcome == "reject":
        extra["rejection_reason"] = RejectionReasonFactory(code="before-campaign")
    if outcome == "resubmit":
        extra.update(reason="The photo is blurry.", requested_document_kinds=["invoice"])
    proposal = services.proposal_make(claim=claim, actor=maker, outcome=outcome, **extra)
    return Claim.objects.get(pk=claim.pk), proposal


def approved_claim(**kwargs: Any) -> tuple[Claim, CheckerDecision]:
    claim, _proposal = proposed_claim(**kwargs)
    decision = services.proposal_decide(claim=claim, actor=checker(), decision="confirm")
    return Claim.objects.get(pk=claim.pk), decision


def checklist(scheme: Any, *texts: str, kind: str = "invoice") -> list[ChecklistItem]:
    settings, _created = CampaignReviewSettings.objects.get_or_create(scheme=scheme)
    return [
        ChecklistItem.objects.create(settings=settings, document_kind=kind, text=text, position=i)
        for i, text in enumerate(texts)
    ]


__all__ = [
    "RejectionReasonFactory",
    "approved_claim",
    "checker",
    "checklist",
    "complete_draft",
    "fulfiller",
    "pdf_bytes",
    "proposed_claim",
    "submitted_claim",
    "verifier",
]
