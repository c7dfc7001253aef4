"""The rules verification adds to the claim state machine (registered in ``ready()``).

They run inside the claims service's transaction, with the claim row locked, on every path
that moves a claim: the review queue, the admin, the API, or code calling claims.services
directly.

- Maker-checker: whoever confirms, rejects, asks for documents or sends back a proposal is
  not the user who proposed it (the actor of ``claim_latest_proposal``).
- A proposal made in the review queue is bound to the claim as reviewed: it is decided only
  through ``proposal_decide`` (which writes the checker's decision row first), and only while
  the claim still has the proposal's fingerprint.
- A release needs a checker's approval that is not the maker's own.
- Every submission records where it came from (IP, browser fingerprint), in the same
  transaction as the submission, for the velocity signals.
"""

import hashlib
from typing import Any

from django.utils.translation import gettext as _

from claims.models import Claim, ClaimStatus, ClaimTransition
from claims.services.errors import ClaimPermissionError
from claims.services.transitions import Transition, claim_latest_proposal
from crm import context
from verification.fingerprint import claim_fingerprint
from verification.models import CheckerDecision, Proposal, SubmissionOrigin

DECISIONS = (
    Transition.APPROVE,
    Transition.REJECT,
    Transition.REQUEST_RESUBMISSION,
    Transition.SEND_BACK,
)


def checker_is_not_maker(claim: Claim, actor: Any, transition: Transition) -> None:
    proposal_row = claim_latest_proposal(claim)
    if proposal_row is None or actor is None:
        raise ClaimPermissionError(_("There is no proposal to decide on."))
    if proposal_row.actor_id == actor.pk:
        raise ClaimPermissionError(
            _("You proposed this decision: the checker must be another person than the maker.")
        )
    pending = Proposal.objects.filter(claim=claim, status=Proposal.Status.PENDING).first()
    if pending is None:
        return
    if pending.transition_id != proposal_row.pk:
        raise ClaimPermissionError(_("The proposal on record is not the claim's latest."))
    if not CheckerDecision.objects.filter(proposal=pending, checker_id=actor.pk).exists():
        raise ClaimPermissionError(
            _("This proposal was made in the review queue; decide on it there.")
        )
    if claim_fingerprint(claim.pk) != pending.fingerprint:
        raise ClaimPermissionError(
            _("The claim changed after it was proposed, so the proposal is void.")
        )


def release_needs_a_checked_approval(claim: Claim, actor: Any, transition: Transition) -> None:
    approval = (
        ClaimTransition.objects.filter(claim=claim, to_status=ClaimStatus.APPROVED)
        .order_by("-occurred_at", "-pk")
        .first()
    )
    proposal_row = claim_latest_proposal(claim)
    if (
        approval is None
        or proposal_row is None
        or approval.actor_id is None
        or approval.actor_id == proposal_row.actor_id
    ):
        raise ClaimPermissionError(
            _("Only a claim approved by a checker other than its maker can be released.")
        )


def device_hash_for(request: Any) -> tuple[str, str]:
    """A fingerprint of the browser (user agent and languages) and the user agent itself."""
    if request is None:
        return "", ""
    user_agent = request.headers.get("User-Agent", "")
    languages = request.headers.get("Accept-Language", "")
    if not user_agent:
        return "", ""
    digest = hashlib.sha256(f"{user_agent}\n{languages}".encode()).hexdigest()
    return digest, user_agent[:300]


def record_submission_origin(claim: Claim, actor: Any, transition: Transition) -> None:
    device_hash, user_agent = device_hash_for(context.current_request.get())
    SubmissionOrigin.objects.create(
        claim=claim,
        ip_address=context.client_ip.get() or None,
        device_hash=device_hash,
        user_agent=user_agent,
    )
