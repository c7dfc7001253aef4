"""Taking a claim for review, recording invoice details, the maker's proposal and the
checker's decision. Every function is one transaction that locks the claim row first (the
one lock order: claim, then verification rows), checks who acts, writes, and appends its
audit event last.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from claims.models import Claim, ClaimDocument, ClaimStatus, ClaimTransition, ProposedOutcome
from claims.services.errors import ClaimTransitionError
from claims.services.transitions import (
    claim_approve,
    claim_latest_proposal,
    claim_lock,
    claim_propose,
    claim_reject,
    claim_request_resubmission,
    claim_send_back,
    claim_start_review,
)
from crm.audit import audit_record
from crm.middleware import is_staff_user
from verification.errors import VerificationError, VerificationPermissionError
from verification.fingerprint import claim_fingerprint
from verification.fraud import claim_signals, invoice_number_key, merchant_key
from verification.models import (
    CheckerDecision,
    ChecklistItem,
    InvoiceDetails,
    Proposal,
    RejectionReason,
    ReviewLock,
)

QUEUE_STATUSES = (ClaimStatus.SUBMITTED, ClaimStatus.IN_REVIEW, ClaimStatus.PROPOSED)
REVIEW = "claims.review_claim"
CHECK = "claims.check_claim"


def lock_minutes() -> int:
    return int(settings.VERIFICATION_LOCK_MINUTES)


def _may(user: Any, *permissions: str) -> bool:
    return bool(
        user is not None
        and user.is_active
        and is_staff_user(user)
        and any(user.has_perm(permission) for permission in permissions)
    )


def _require(user: Any, *permissions: str) -> None:
    if not _may(user, *permissions):
        raise VerificationPermissionError(_("You do not have permission to do that."))


def _live_lock(claim: Claim) -> ReviewLock | None:
    lock = ReviewLock.objects.select_for_update().filter(claim_id=claim.pk).first()
    return lock if lock is not None and lock.is_live() else None


def _require_own_lock(claim: Claim, actor: Any) -> ReviewLock:
    lock = _live_lock(claim)
    if lock is None or lock.holder_id != actor.pk:
        raise VerificationError(
            _("Take claim %(number)s first: only the verifier holding it can do that.")
            % {"number": claim.number},
            code="not_locked",
        )
    return lock


def _refuse_others_lock(claim: Claim, actor: Any) -> None:
    lock = _live_lock(claim)
    if lock is not None and lock.holder_id != actor.pk:
        raise VerificationError(
            _("%(user)s is reviewing claim %(number)s until %(time)s.")
            % {
                "user": lock.holder.get_username(),
                "number": claim.number,
                "time": timezone.localtime(lock.expires_at).strftime("%H:%M"),
            },
            code="locked",
        )


def _lock_state(lock: ReviewLock | None) -> dict[str, Any] | None:
    if lock is None:
        return None
    return {"holder_id": lock.holder_id, "expires_at": lock.expires_at}


# -- locks --------------------------------------------------------------------------------


def review_lock_take(*, claim: Claim, actor: Any) -> ReviewLock:
    """Takes ``claim`` for review for VERIFICATION_LOCK_MINUTES (taking it again extends it).

    Refused while another user holds a live lock. The lock row's primary key is the claim,
    so the database holds at most one lock per claim whatever races; an expired lock is
    taken over. A submitted claim taken by a verifier moves into review.
    """
    _require(actor, REVIEW, CHECK)
    with transaction.atomic():
        locked = claim_lock(claim.pk)
        if locked.status not in QUEUE_STATUSES:
            raise VerificationError(
                _("Claim %(number)s is not waiting for review.") % {"number": locked.number},
                code="wrong_status",
            )
        now = timezone.now()
        existing = ReviewLock.objects.select_for_update().filter(claim_id=locked.pk).first()
        if existing is not None and existing.is_live(now) and existing.holder_id != actor.pk:
            raise VerificationError(
                _("%(user)s is reviewing claim %(number)s.")
                % {"user": existing.holder.get_username(), "number": locked.number},
                code="locked",
            )
        before = _lock_state(existing)
        if locked.status == ClaimStatus.SUBMITTED:
            if not actor.has_perm(REVIEW):
                raise VerificationPermissionError(_("Only a verifier can start a review."))
            claim_start_review(claim=locked, actor=actor)
        expires_at = now + timedelta(minutes=lock_minutes())
        if existing is None:
            try:
                with transaction.atomic():
                    lock = ReviewLock.objects.create(
                        claim_id=locked.pk, holder=actor, taken_at=now, expires_at=expires_at
                    )
            except IntegrityError:
                raise VerificationError(
                    _("Someone else took claim %(number)s just now.") % {"number": locked.number},
                    code="locked",
                ) from None
        else:
            lock = existing
            lock.holder = actor
            lock.taken_at = now
            lock.expires_at = expires_at
            lock.save(update_fields=["holder", "taken_at", "expires_at"])
        audit_record(
            action="verification.lock_take",
            actor=actor,
            target=locked,
            before=before,
            after=_lock_state(lock),
        )
    return lock


def review_lock_release(*, claim: Claim, actor: Any) -> None:
    """Gives a claim back to the queue (only its holder can)."""
    with transaction.atomic():
        locked = claim_lock(claim.pk)
        lock = ReviewLock.objects.select_for_update().filter(claim_id=locked.pk).first()
        if lock is None or lock.holder_id != getattr(actor, "pk", None):
            raise VerificationError(_("You do not hold this claim."), code="not_locked")
        before = _lock_state(lock)
        lock.delete()
        audit_record(action="verification.lock_release", actor=actor, target=locked, before=before)


# -- invoice details -------------------------------------------------------------------------


def invoice_details_record(
    *, claim: Claim, actor: Any, invoice_number: str, merchant_name: str
) -> InvoiceDetails:
    """Records the invoice number and merchant the maker read off the invoice."""
    _require(actor, REVIEW)
    invoice_number, merchant_name = invoice_number.strip(), merchant_name.strip()
    if not invoice_number or not merchant_name:
        raise VerificationError(_("Give the invoice number and the merchant."), code="invalid")
    with transaction.atomic():
        locked = claim_lock(claim.pk)
        _require_own_lock(locked, actor)
        existing = InvoiceDetails.objects.filter(claim_id=locked.pk).first()
        before = (
            {"invoice_number": existing.invoice_number, "merchant_name": existing.merchant_name}
            if existing
            else None
        )
        details, _created = InvoiceDetails.objects.update_or_create(
            claim_id=locked.pk,
            defaults={
                "invoice_number": invoice_number,
                "merchant_name": merchant_name,
                "invoice_number_key": invoice_number_key(invoice_number),
                "merchant_key": merchant_key(merchant_name),
                "recorded_by": actor,
                "recorded_at": timezone.now(),
            },
        )
        audit_record(
            action="verification.invoice_record",
            actor=actor,
            target=locked,
            before=before,
            after={"invoice_number": invoice_number, "merchant_name": merchant_name},
        )
    return details


# -- the maker's proposal ------------------------------------------------------------------


def checklist_for(claim: Claim) -> list[tuple[ChecklistItem, ClaimDocument]]:
    """The campaign's active checklist items for each current document of the claim."""
    documents = {
        document.kind: document
        for document in ClaimDocument.objects.filter(claim=claim, superseded_at__isnull=True)
    }
    items = ChecklistItem.objects.filter(
        settings__scheme_id=claim.scheme_id, is_active=True, document_kind__in=list(documents)
    ).order_by("document_kind", "position", "pk")
    return [(item, documents[item.document_kind]) for item in items]


def proposal_make(
    *,
    claim: Claim,
    actor: Any,
    outcome: str,
    rejection_reason: RejectionReason | None = None,
    reason: str = "",
    note: str = "",
    requested_document_kinds: Iterable[str] = (),
    checklist: Mapping[int, bool] | None = None,
) -> Proposal:
    """The maker (holding the claim's lock) proposes approve, reject or resubmission.

    An approval needs every checklist item ticked; a rejection a reason from the list (the
    customer reads its text, or ``reason`` when given) ; a resubmission the documents to
    upload again. The proposal keeps the checklist as answered, the signals as they were, and
    the claim's fingerprint. The lock is given back: the claim now waits for a checker.
    """
    _require(actor, REVIEW)
    answers = {int(key): bool(value) for key, value in (checklist or {}).items()}
    with transaction.atomic():
        locked = claim_lock(claim.pk)
        lock = _require_own_lock(locked, actor)
        items = checklist_for(locked)
        answered = [
            {
                "item_id": item.pk,
                "document_id": document.pk,
                "document_kind": item.document_kind,
                "text": item.text,
                "passed": answers.get(item.pk, False),
            }
            for item, document in items
        ]
        if outcome == ProposedOutcome.APPROVE and not all(row["passed"] for row in answered):
            raise VerificationError(
                _("Tick every checklist item before proposing an approval."), code="checklist"
            )
        if outcome == ProposedOutcome.REJECT:
            if rejection_reason is None or not rejection_reason.is_active:
                raise VerificationError(_("Choose a reason for the rejection."), code="invalid")
            reason = reason.strip() or rejection_reason.text
        elif rejection_reason is not None:
            raise VerificationError(
                _("A rejection reason goes only with a rejection."), code="invalid"
            )
        signals = [signal.as_json() for signal in claim_signals(locked)]
        fingerprint = claim_fingerprint(locked.pk)
        try:
            claim_propose(
                claim=locked,
                actor=actor,
                outcome=outcome,
                reason=reason,
                note=note,
                requested_document_kinds=requested_document_kinds,
            )
        except ClaimTransitionError as error:
            raise VerificationError(error.message, code=error.code) from error
        row = claim_latest_proposal(locked)
        assert row is not None  # noqa: S101 - claim_propose just wrote it
        proposal = Proposal.objects.create(
            claim=locked,
            transition=row,
            maker=actor,
            outcome=outcome,
            rejection_reason=rejection_reason,
            reason=row.reason,
            note=note,
            requested_document_kinds=row.requested_document_kinds,
            checklist=answered,
            signals=signals,
            fingerprint=fingerprint,
            created_at=row.occurred_at,
        )
        before_lock = _lock_state(lock)
        lock.delete()
        audit_record(
            action="verification.propose",
            actor=actor,
            target=locked,
            before={"status": ClaimStatus.IN_REVIEW, "lock": before_lock},
            after={
                "status": ClaimStatus.PROPOSED,
                "proposal_id": proposal.pk,
                "outcome": outcome,
                "rejection_reason": rejection_reason.code if rejection_reason else None,
                "reason": proposal.reason,
                "note": note,
                "requested_document_kinds": proposal.requested_document_kinds,
                "checklist": answered,
                "signals": [signal["kind"] for signal in signals],
                "fingerprint": fingerprint,
            },
        )
    return proposal


# -- the checker's decision ----------------------------------------------------------------

_RESULTS = {
    ProposedOutcome.APPROVE: CheckerDecision.Result.APPROVED,
    ProposedOutcome.REJECT: CheckerDecision.Result.REJECTED,
    ProposedOutcome.RESUBMIT: CheckerDecision.Result.RESUBMISSION_REQUESTED,
}


class ProposalVoidedError(VerificationError):
    """Raised after the void has committed: the proposal no longer matched the claim."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="proposal_void")


def _pending_proposal(claim: Claim) -> Proposal:
    proposal = (
        Proposal.objects.select_for_update()
        .filter(claim_id=claim.pk, status=Proposal.Status.PENDING)
        .first()
    )
    if proposal is None:
        raise VerificationError(
            _("Claim %(number)s has no proposal waiting for a checker.") % {"number": claim.number},
            code="no_proposal",
        )
    return proposal


def queue_time_at(claim: Claim, moment: Any) -> timedelta | None:
    """How long ``claim`` has waited in the queue at ``moment``: since its latest move to
    submitted at or before it (None if it never moved to submitted). What a checker's
    decision stores as ``queue_time`` and the median time to decision reads."""
    entered = (
        ClaimTransition.objects.filter(
            claim=claim, to_status=ClaimStatus.SUBMITTED, occurred_at__lte=moment
        )
        .order_by("-occurred_at")
        .values_list("occurred_at", flat=True)
        .first()
    )
    return moment - entered if entered is not None else None


def proposal_decide(
    *,
    claim: Claim,
    actor: Any,
    decision: str,
    note: str = "",
    acknowledge_signals: bool = False,
    path: str = "queue",
) -> CheckerDecision:
    """A checker confirms the claim's pending proposal, or sends it back with a note.

    Refused, with nothing changed: for a user without the checker role; for the proposal's
    maker (also refused by the decision row's check constraint and the claims rule); while
    another user holds the claim; for a confirmation of a claim with fraud signals unless
    ``acknowledge_signals``. Two checkers deciding at once are serialised by the claim's row
    lock: the second finds no pending proposal. If the claim changed since the proposal,
    the proposal is voided and the claim goes back to review (committed), and
    ``ProposalVoidedError`` is raised.
    """
    _require(actor, CHECK)
    if decision not in CheckerDecision.Decision.values:
        raise VerificationError(_("Choose confirm or send back."), code="invalid")
    if decision == CheckerDecision.Decision.SEND_BACK and not note.strip():
        raise VerificationError(_("Say why the proposal goes back to review."), code="invalid")
    voided: str | None = None
    with transaction.atomic():
        locked = claim_lock(claim.pk)
        proposal = _pending_proposal(locked)
        if proposal.maker_id == actor.pk:
            raise VerificationPermissionError(
                _("You proposed this decision: the checker must be another person than the maker.")
            )
        _refuse_others_lock(locked, actor)
        now = timezone.now()
        if claim_fingerprint(locked.pk) != proposal.fingerprint:
            voided = _(
                "Claim %(number)s changed after the proposal, so it goes back to review."
            ) % {"number": locked.number}
            proposal.status = Proposal.Status.VOIDED
            proposal.closed_at = now
            proposal.save(update_fields=["status", "closed_at"])
            claim_send_back(claim=locked, actor=actor, note=voided)
            audit_record(
                action="verification.proposal_void",
                actor=actor,
                target=locked,
                before={"proposal_id": proposal.pk, "status": Proposal.Status.PENDING},
                after={"proposal_id": proposal.pk, "status": Proposal.Status.VOIDED},
            )
        else:
            signals = [signal.as_json() for signal in claim_signals(locked)]
            if decision == CheckerDecision.Decision.CONFIRM and signals and not acknowledge_signals:
                raise VerificationError(
                    _(
                        "Claim %(number)s has fraud signals: look at them and acknowledge "
                        "them before confirming."
                    )
                    % {"number": locked.number},
                    code="signals_not_acknowledged",
                )
            result = (
                _RESULTS[ProposedOutcome(proposal.outcome)]
                if decision == CheckerDecision.Decision.CONFIRM
                else CheckerDecision.Result.SENT_BACK
            )
            try:
                with transaction.atomic():
                    row = CheckerDecision.objects.create(
                        proposal=proposal,
                        claim=locked,
                        maker_id=proposal.maker_id,
                        checker=actor,
                        decision=decision,
                        result=result,
                        note=note,
                        acknowledged_signals=signals if acknowledge_signals else [],
                        path=path,
                        decided_at=now,
                        queue_time=queue_time_at(locked, now),
                    )
            except IntegrityError as error:
                raise VerificationError(
                    _("This proposal has been decided already."), code="already_decided"
                ) from error
            move = {
                CheckerDecision.Result.APPROVED: lambda: claim_approve(
                    claim=locked, actor=actor, note=note
                ),
                CheckerDecision.Result.REJECTED: lambda: claim_reject(
                    claim=locked, actor=actor, note=note
                ),
                CheckerDecision.Result.RESUBMISSION_REQUESTED: lambda: claim_request_resubmission(
                    claim=locked, actor=actor, note=note
                ),
                CheckerDecision.Result.SENT_BACK: lambda: claim_send_back(
                    claim=locked, actor=actor, note=note
                ),
            }[result]
            try:
                moved = move()
            except ClaimTransitionError as error:
                raise VerificationError(error.message, code=error.code) from error
            proposal.status = (
                Proposal.Status.CONFIRMED
                if decision == CheckerDecision.Decision.CONFIRM
                else Proposal.Status.SENT_BACK
            )
            proposal.closed_at = now
            proposal.save(update_fields=["status", "closed_at"])
            ReviewLock.objects.filter(claim_id=locked.pk, holder=actor).delete()
            audit_record(
                action="verification.decide",
                actor=actor,
                target=locked,
                before={
                    "status": ClaimStatus.PROPOSED,
                    "proposal_id": proposal.pk,
                    "outcome": proposal.outcome,
                    "maker_id": proposal.maker_id,
                },
                after={
                    "status": moved.status,
                    "decision_id": row.pk,
                    "decision": decision,
                    "result": result,
                    "note": note,
                    "acknowledged_signals": [signal["kind"] for signal in row.acknowledged_signals],
                    "path": path,
                },
            )
    if voided is not None:
        raise ProposalVoidedError(voided)
    return row


@dataclass(frozen=True)
class BulkOutcome:
    claim: Claim
    decision: CheckerDecision | None
    error: str = ""


def proposals_decide_bulk(
    *,
    claims: Iterable[Claim],
    actor: Any,
    decision: str = CheckerDecision.Decision.CONFIRM,
    note: str = "",
    acknowledge_signals: bool = False,
    path: str = "bulk",
) -> list[BulkOutcome]:
    """Decides several claims, each in its own transaction, through ``proposal_decide``
    (so every rule holds for each); a refusal of one does not stop the others."""
    outcomes = []
    for claim in claims:
        try:
            row = proposal_decide(
                claim=claim,
                actor=actor,
                decision=decision,
                note=note,
                acknowledge_signals=acknowledge_signals,
                path=path,
            )
        except VerificationError as error:
            outcomes.append(BulkOutcome(claim, None, str(error)))
        else:
            outcomes.append(BulkOutcome(claim, row))
    return outcomes
