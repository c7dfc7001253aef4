"""Forfeiting claims whose deadline passed before the customer finished them."""

import logging
from datetime import datetime

from django.utils import timezone

from claims.models import Claim, ClaimStatus
from claims.services.errors import ClaimTransitionError
from claims.services.transitions import claim_forfeit

logger = logging.getLogger(__name__)

FORFEITABLE = (ClaimStatus.DRAFT, ClaimStatus.RESUBMISSION_REQUESTED)


def claims_forfeit_overdue(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Forfeits up to ``limit`` drafts and claims waiting for documents whose deadline has
    passed; returns how many were forfeited.

    Each claim is forfeited in its own transaction, so one failure stops nothing else and a
    rerun simply finds what is left. A claim the customer sent in the meantime is skipped:
    claim_forfeit re-checks the status under the row lock.
    """
    moment = now or timezone.now()
    overdue = list(
        Claim.objects.filter(status__in=FORFEITABLE, deadline_at__lte=moment)
        .order_by("deadline_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    forfeited = 0
    for claim_id in overdue:
        try:
            claim_forfeit(claim=Claim(pk=claim_id), now=moment)
        except ClaimTransitionError:
            continue
        except Exception:
            logger.exception("forfeiting a claim failed", extra={"claim_id": claim_id})
            continue
        forfeited += 1
    return forfeited
