"""The claim state machine: the table of allowed moves and one service per move.

Every service locks the claim row, checks that the move is allowed from the claim's current
status and that the actor may make it, saves with ``update_fields``, writes one timeline row
(ClaimTransition) and one audit event, and publishes the domain event the notification
engine turns into SMS and email (crm.events.publish delivers after commit). A refused move
raises ClaimTransitionError and changes nothing.

Who may make a move is checked in two layers: the base rule of the table (the claim's own
customer, a staff permission, or the system) and any extra rules a higher app registers
with ``transition_rule_add`` (verification adds maker-checker there).
"""

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from claims.models import (
    Claim,
    ClaimDocument,
    ClaimStatus,
    ClaimTransition,
    ProposedOutcome,
    Shipment,
    requirements_for_scheme,
)
from claims.selectors import claim_public_url
from claims.services.errors import ClaimPermissionError, ClaimTransitionError
from claims.services.prizes import claim_draw_result_record_claimed, claim_prize_give_back
from crm.audit import audit_record
from crm.events import publish
from crm.middleware import is_staff_user


class Transition(enum.StrEnum):
    SUBMIT = "submit"
    START_REVIEW = "start_review"
    PROPOSE = "propose"
    SEND_BACK = "send_back"
    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_RESUBMISSION = "request_resubmission"
    RESUBMIT = "resubmit"
    RELEASE = "release"
    DISPATCH = "dispatch"
    MARK_RETURNED = "mark_returned"
    DELIVER = "deliver"
    FORFEIT = "forfeit"


CUSTOMER = "customer"
SYSTEM = "system"


@dataclass(frozen=True)
class TransitionSpec:
    sources: frozenset[str]
    target: str
    # CUSTOMER (the claim's own customer), SYSTEM (no user: a periodic task), or the
    # "app_label.codename" permission a staff user must hold.
    performer: str
    # The notification event published after the move, if customers hear of it.
    event: str | None = None


S = ClaimStatus
TRANSITIONS: dict[Transition, TransitionSpec] = {
    Transition.SUBMIT: TransitionSpec(
        frozenset({S.DRAFT}), S.SUBMITTED, CUSTOMER, "claim.submitted"
    ),
    Transition.START_REVIEW: TransitionSpec(
        frozenset({S.SUBMITTED}), S.IN_REVIEW, "claims.review_claim", "claim.in_review"
    ),
    Transition.PROPOSE: TransitionSpec(frozenset({S.IN_REVIEW}), S.PROPOSED, "claims.review_claim"),
    Transition.SEND_BACK: TransitionSpec(
        frozenset({S.PROPOSED}), S.IN_REVIEW, "claims.check_claim"
    ),
    Transition.APPROVE: TransitionSpec(
        frozenset({S.PROPOSED}), S.APPROVED, "claims.check_claim", "claim.approved"
    ),
    Transition.REJECT: TransitionSpec(
        frozenset({S.PROPOSED}), S.REJECTED, "claims.check_claim", "claim.rejected"
    ),
    Transition.REQUEST_RESUBMISSION: TransitionSpec(
        frozenset({S.PROPOSED}),
        S.RESUBMISSION_REQUESTED,
        "claims.check_claim",
        "claim.resubmission_requested",
    ),
    Transition.RESUBMIT: TransitionSpec(
        frozenset({S.RESUBMISSION_REQUESTED}), S.SUBMITTED, CUSTOMER, "claim.submitted"
    ),
    Transition.RELEASE: TransitionSpec(frozenset({S.APPROVED}), S.RELEASED, "claims.fulfil_claim"),
    Transition.DISPATCH: TransitionSpec(
        frozenset({S.RELEASED, S.RETURNED}), S.DISPATCHED, "claims.fulfil_claim", "claim.dispatched"
    ),
    Transition.MARK_RETURNED: TransitionSpec(
        frozenset({S.DISPATCHED}), S.RETURNED, "claims.fulfil_claim"
    ),
    # A prize that is not posted (a voucher code, points) is delivered straight from released.
    Transition.DELIVER: TransitionSpec(
        frozenset({S.DISPATCHED, S.RELEASED}), S.DELIVERED, "claims.fulfil_claim", "claim.delivered"
    ),
    Transition.FORFEIT: TransitionSpec(
        frozenset({S.DRAFT, S.RESUBMISSION_REQUESTED}), S.FORFEITED, SYSTEM
    ),
}
del S

# status -> the statuses it may move to (derived, for docs, admin and tests).
ALLOWED_MOVES: dict[str, frozenset[str]] = {
    status: frozenset(spec.target for spec in TRANSITIONS.values() if status in spec.sources)
    for status in ClaimStatus.values
}

TransitionRule = Callable[[Claim, Any, Transition], None]
_extra_rules: dict[Transition, list[TransitionRule]] = {transition: [] for transition in Transition}


def transition_rule_add(transition: Transition, rule: TransitionRule) -> None:
    """Adds a check that runs (with the claim locked) before ``transition`` is made.

    ``rule(claim, actor, transition)`` raises ClaimPermissionError (or ClaimTransitionError)
    to refuse. Higher apps register rules in their ``AppConfig.ready()``; adding the same
    rule twice is a no-op.
    """
    if rule not in _extra_rules[transition]:
        _extra_rules[transition].append(rule)


def transition_rule_remove(transition: Transition, rule: TransitionRule) -> None:
    if rule in _extra_rules[transition]:
        _extra_rules[transition].remove(rule)


def claim_lock(claim_id: int) -> Claim:
    """The claim, locked (SELECT ... FOR UPDATE) until the transaction ends."""
    return Claim.objects.select_for_update().select_related("scheme", "prize").get(pk=claim_id)


def _status_label(status: str) -> str:
    return str(ClaimStatus(status).label)


def _check_move(claim: Claim, transition: Transition) -> TransitionSpec:
    spec = TRANSITIONS[transition]
    if claim.status not in spec.sources:
        raise ClaimTransitionError(
            _("Claim %(number)s is %(status)s; it cannot be moved to %(target)s from there.")
            % {
                "number": claim.number,
                "status": _status_label(claim.status).lower(),
                "target": _status_label(spec.target).lower(),
            },
            code="wrong_status",
        )
    return spec


def _check_actor(claim: Claim, actor: Any, transition: Transition, spec: TransitionSpec) -> None:
    if spec.performer == SYSTEM:
        if actor is not None:
            raise ClaimPermissionError(_("Only the system makes this change."))
    elif spec.performer == CUSTOMER:
        account = getattr(actor, "customer_account", None) if actor is not None else None
        if account is None or account.customer_id != claim.customer_id or not actor.is_active:
            raise ClaimPermissionError(_("Only the customer who made this claim can do that."))
    elif not (
        actor is not None
        and actor.is_active
        and is_staff_user(actor)
        and actor.has_perm(spec.performer)
    ):
        raise ClaimPermissionError(_("You do not have permission to do that with claims."))
    for rule in list(_extra_rules[transition]):
        rule(claim, actor, transition)


def _actor_label(actor: Any) -> str:
    if actor is None:
        return SYSTEM
    return str(actor.get_username())[:200]


def claim_event_payload(claim: Claim, **extra: Any) -> dict[str, Any]:
    """The ``claim`` variable of the notification events (crm/notifications/catalog.py)."""
    url = claim_public_url(claim)
    return {
        "number": claim.number,
        "status": str(claim.status),
        "prize_name": claim.prize.name,
        "campaign_name": claim.scheme.name,
        "url": url,
        "tracking_url": url,
        **extra,
    }


@dataclass
class _Context:
    """What a move settles with the claim locked: the customer-facing reason, the documents
    asked for again, and anything else its ``apply`` and event need."""

    reason: str = ""
    note: str = ""
    requested_document_kinds: list[str] = field(default_factory=list)
    event_extra: dict[str, Any] = field(default_factory=dict)


def _move(
    *,
    claim: Claim,
    actor: Any,
    transition: Transition,
    reason: str = "",
    note: str = "",
    check: Callable[[Claim, _Context], None] | None = None,
    apply: Callable[[Claim, datetime, _Context], list[str]] | None = None,
) -> Claim:
    """Makes one move of ``claim``.

    ``check(locked, context)`` runs with the row locked, before anything changes: it raises
    ClaimTransitionError to refuse and may settle the context (a reason read from the
    proposal). ``apply(locked, now, context)`` sets the move's own fields and returns their
    names.
    """
    with transaction.atomic():
        locked = claim_lock(claim.pk)
        spec = _check_move(locked, transition)
        _check_actor(locked, actor, transition, spec)
        context = _Context(reason=reason, note=note)
        if check is not None:
            check(locked, context)
        now = timezone.now()
        before = {"status": locked.status, "proposed_outcome": locked.proposed_outcome}
        fields = apply(locked, now, context) if apply is not None else []
        if spec.target != ClaimStatus.PROPOSED:
            locked.proposed_outcome = ""
            fields.append("proposed_outcome")
        locked.status = spec.target
        locked.status_changed_at = now
        locked.save(update_fields=sorted({*fields, "status", "status_changed_at"}))
        row = ClaimTransition.objects.create(
            claim=locked,
            from_status=before["status"],
            to_status=spec.target,
            actor=actor,
            actor_label=_actor_label(actor),
            reason=context.reason,
            note=context.note,
            requested_document_kinds=context.requested_document_kinds,
            occurred_at=now,
        )
        audit_record(
            action=f"claim.{transition}",
            actor=actor,
            target=locked,
            before=before,
            after={
                "status": locked.status,
                "proposed_outcome": locked.proposed_outcome,
                "reason": context.reason,
                "note": context.note,
                "requested_document_kinds": context.requested_document_kinds,
                "transition_id": row.pk,
            },
        )
        if spec.event is not None:
            publish(
                spec.event,
                customer_id=locked.customer_id,
                event_id=f"claim-{locked.pk}-transition-{row.pk}",
                claim=claim_event_payload(locked, **context.event_extra),
            )
    return locked


# -- the customer's moves ---------------------------------------------------------------------


def claim_missing_items(claim: Claim) -> list[str]:
    """What the claim still lacks before it can be submitted, in words for the customer."""
    requirements = requirements_for_scheme(claim.scheme_id)
    missing = []
    if not claim.full_name.strip():
        missing.append(_("your full name"))
    if requirements.delivery_address_required and not (
        claim.address_line1.strip() and claim.postal_code.strip() and claim.city.strip()
    ):
        missing.append(_("your delivery address"))
    if requirements.national_id_required and not claim.national_id.strip():
        missing.append(_("your national ID number"))
    if requirements.reference_required and not claim.reference.strip():
        missing.append(requirements.reference_label or _("the reference"))
    current = set(claim.documents.filter(superseded_at__isnull=True).values_list("kind", flat=True))
    missing.extend(
        str(ClaimDocument.Kind(kind).label).lower()
        for kind in requirements.required_document_kinds
        if kind not in current
    )
    return missing


def _refuse_past_deadline(claim: Claim) -> None:
    if claim.is_past_deadline:
        raise ClaimTransitionError(
            _("The deadline for this claim has passed, so it can no longer be sent."),
            code="deadline_passed",
        )


def claim_submit(*, claim: Claim, actor: Any) -> Claim:
    """The customer sends a complete draft before its deadline: draft -> submitted."""

    def check(locked: Claim, context: _Context) -> None:
        _refuse_past_deadline(locked)
        missing = claim_missing_items(locked)
        if missing:
            raise ClaimTransitionError(
                _("Your claim is not complete yet. Still needed: %(items)s.")
                % {"items": ", ".join(missing)},
                code="incomplete",
            )

    def apply(locked: Claim, now: datetime, context: _Context) -> list[str]:
        claim_draw_result_record_claimed(claim=locked, actor=actor)
        locked.submitted_at = now
        return ["submitted_at"]

    return _move(claim=claim, actor=actor, transition=Transition.SUBMIT, check=check, apply=apply)


def claim_documents_still_requested(claim: Claim) -> list[str]:
    """The kinds asked for again that the customer has not uploaded since the request."""
    if claim.status != ClaimStatus.RESUBMISSION_REQUESTED:
        return []
    uploaded_since = set(
        claim.documents.filter(
            superseded_at__isnull=True, uploaded_at__gte=claim.status_changed_at
        ).values_list("kind", flat=True)
    )
    return [kind for kind in claim.requested_document_kinds if kind not in uploaded_since]


def claim_resubmit(*, claim: Claim, actor: Any) -> Claim:
    """The customer sends the documents asked for again: resubmission_requested -> submitted."""

    def check(locked: Claim, context: _Context) -> None:
        _refuse_past_deadline(locked)
        missing = claim_documents_still_requested(locked)
        if missing:
            raise ClaimTransitionError(
                _("Upload the new %(documents)s first.")
                % {
                    "documents": ", ".join(
                        str(ClaimDocument.Kind(kind).label).lower() for kind in missing
                    )
                },
                code="incomplete",
            )

    def apply(locked: Claim, now: datetime, context: _Context) -> list[str]:
        locked.requested_document_kinds = []
        return ["requested_document_kinds"]

    return _move(claim=claim, actor=actor, transition=Transition.RESUBMIT, check=check, apply=apply)


# -- verification: review, proposal, decision -----------------------------------------------


def claim_start_review(*, claim: Claim, actor: Any, note: str = "") -> Claim:
    """A verifier takes a submitted claim into review: submitted -> in_review."""
    return _move(claim=claim, actor=actor, transition=Transition.START_REVIEW, note=note)


def _valid_kinds(kinds: Iterable[str]) -> list[str]:
    kinds = list(dict.fromkeys(kinds))
    unknown = [kind for kind in kinds if kind not in ClaimDocument.Kind.values]
    if unknown:
        raise ClaimTransitionError(
            _("Unknown document kind: %(kinds)s.") % {"kinds": ", ".join(unknown)},
            code="invalid",
        )
    return kinds


def claim_propose(
    *,
    claim: Claim,
    actor: Any,
    outcome: str,
    reason: str = "",
    note: str = "",
    requested_document_kinds: Iterable[str] = (),
) -> Claim:
    """A verifier (the maker) proposes a decision: in_review -> proposed.

    A rejection needs a reason for the customer; a request for resubmission needs the
    document kinds to upload again (and says why). Nothing reaches the customer until a
    checker confirms.
    """
    if outcome not in ProposedOutcome.values:
        raise ClaimTransitionError(
            _("Choose approve, reject or ask for documents again."), code="invalid"
        )
    kinds = _valid_kinds(requested_document_kinds)
    if outcome == ProposedOutcome.REJECT and not reason.strip():
        raise ClaimTransitionError(
            _("Give the reason for the rejection, in words the customer understands."),
            code="invalid",
        )
    if outcome == ProposedOutcome.RESUBMIT and not kinds:
        raise ClaimTransitionError(
            _("Name the documents the customer should upload again."), code="invalid"
        )
    if outcome != ProposedOutcome.RESUBMIT and kinds:
        raise ClaimTransitionError(
            _("Documents are asked for again only with a request for resubmission."),
            code="invalid",
        )

    def check(locked: Claim, context: _Context) -> None:
        context.requested_document_kinds = kinds

    def apply(locked: Claim, now: datetime, context: _Context) -> list[str]:
        locked.proposed_outcome = outcome
        return ["proposed_outcome"]

    return _move(
        claim=claim,
        actor=actor,
        transition=Transition.PROPOSE,
        reason=reason,
        note=note,
        check=check,
        apply=apply,
    )


def claim_send_back(*, claim: Claim, actor: Any, note: str) -> Claim:
    """A checker returns a proposal to review, saying why: proposed -> in_review."""
    if not note.strip():
        raise ClaimTransitionError(_("Say why the proposal goes back to review."), code="invalid")
    return _move(claim=claim, actor=actor, transition=Transition.SEND_BACK, note=note)


def claim_latest_proposal(claim: Claim) -> ClaimTransition | None:
    """The timeline row of the claim's most recent proposal."""
    return (
        ClaimTransition.objects.filter(claim=claim, to_status=ClaimStatus.PROPOSED)
        .order_by("-occurred_at", "-pk")
        .first()
    )


def _confirming(outcome: str) -> Callable[[Claim, _Context], None]:
    """A check that the claim's proposal is ``outcome``, taking over the maker's reason and
    requested documents unless the checker gave a reason of their own."""

    def check(locked: Claim, context: _Context) -> None:
        if locked.proposed_outcome != outcome:
            raise ClaimTransitionError(
                _("The proposal for claim %(number)s is “%(proposed)s”, not “%(outcome)s”.")
                % {
                    "number": locked.number,
                    "proposed": ProposedOutcome(locked.proposed_outcome).label,
                    "outcome": ProposedOutcome(outcome).label,
                },
                code="proposal_mismatch",
            )
        proposal = claim_latest_proposal(locked)
        if proposal is not None:
            context.reason = context.reason.strip() or proposal.reason
            context.requested_document_kinds = list(proposal.requested_document_kinds)

    return check


def claim_approve(*, claim: Claim, actor: Any, note: str = "") -> Claim:
    """A checker confirms a proposed approval: proposed -> approved."""
    return _move(
        claim=claim,
        actor=actor,
        transition=Transition.APPROVE,
        note=note,
        check=_confirming(ProposedOutcome.APPROVE),
    )


def claim_reject(*, claim: Claim, actor: Any, reason: str = "", note: str = "") -> Claim:
    """A checker confirms a proposed rejection: proposed -> rejected.

    The customer reads the maker's reason unless the checker gives another. The prize goes
    back: to stock, or to the next reserve of a draw.
    """
    confirm = _confirming(ProposedOutcome.REJECT)

    def check(locked: Claim, context: _Context) -> None:
        confirm(locked, context)
        context.requested_document_kinds = []
        context.event_extra = {"reason": context.reason}

    def apply(locked: Claim, now: datetime, context: _Context) -> list[str]:
        claim_prize_give_back(
            claim=locked, actor=actor, reason=f"Claim {locked.number} was rejected."
        )
        return []

    return _move(
        claim=claim,
        actor=actor,
        transition=Transition.REJECT,
        reason=reason,
        note=note,
        check=check,
        apply=apply,
    )


def claim_request_resubmission(
    *, claim: Claim, actor: Any, reason: str = "", note: str = ""
) -> Claim:
    """A checker confirms a proposed request for documents: proposed -> resubmission_requested.

    The customer gets the scheme's ``resubmission_days`` to upload them; after that the
    claim is forfeited.
    """
    confirm = _confirming(ProposedOutcome.RESUBMIT)

    def check(locked: Claim, context: _Context) -> None:
        confirm(locked, context)
        if not context.requested_document_kinds:
            raise ClaimTransitionError(
                _("The proposal names no documents to upload again."), code="invalid"
            )

    def apply(locked: Claim, now: datetime, context: _Context) -> list[str]:
        days = requirements_for_scheme(locked.scheme_id).resubmission_days
        locked.deadline_at = now + timedelta(days=days)
        locked.requested_document_kinds = context.requested_document_kinds
        zone = ZoneInfo(locked.scheme.time_zone)
        context.event_extra = {
            "reason": context.reason,
            "deadline_on": locked.deadline_at.astimezone(zone).date().isoformat(),
        }
        return ["deadline_at", "requested_document_kinds"]

    return _move(
        claim=claim,
        actor=actor,
        transition=Transition.REQUEST_RESUBMISSION,
        reason=reason,
        note=note,
        check=check,
        apply=apply,
    )


# -- fulfilment ---------------------------------------------------------------------------


def claim_release(*, claim: Claim, actor: Any, note: str = "") -> Claim:
    """An approved claim goes to fulfilment: approved -> released. Nothing else can."""
    return _move(claim=claim, actor=actor, transition=Transition.RELEASE, note=note)


def claim_dispatch(
    *,
    claim: Claim,
    actor: Any,
    carrier: str,
    tracking_number: str,
    tracking_url: str = "",
    note: str = "",
) -> Claim:
    """The prize is handed to a carrier: released (or returned) -> dispatched.

    A parcel that came back is sent again the same way, as a new shipment.
    """
    carrier, tracking_number = carrier.strip(), tracking_number.strip()
    if not carrier or not tracking_number:
        raise ClaimTransitionError(_("Give the carrier and the tracking number."), code="invalid")

    def apply(locked: Claim, now: datetime, context: _Context) -> list[str]:
        shipment = Shipment.objects.create(
            claim=locked,
            carrier=carrier,
            tracking_number=tracking_number,
            tracking_url=tracking_url,
            dispatched_at=now,
        )
        audit_record(action="claim.shipment_created", actor=actor, target=shipment)
        context.event_extra = {
            "carrier": carrier,
            "tracking_number": tracking_number,
            # The carrier's page when we have it; otherwise the claim's own status page.
            "tracking_url": tracking_url or claim_public_url(locked),
        }
        return []

    return _move(claim=claim, actor=actor, transition=Transition.DISPATCH, note=note, apply=apply)


def _shipment_under_way(claim: Claim) -> Shipment | None:
    return (
        Shipment.objects.select_for_update()
        .filter(claim=claim, delivered_at__isnull=True, returned_at__isnull=True)
        .first()
    )


def claim_mark_returned(*, claim: Claim, actor: Any, note: str = "") -> Claim:
    """The carrier brought the parcel back: dispatched -> returned (then dispatch again)."""

    def apply(locked: Claim, now: datetime, context: _Context) -> list[str]:
        shipment = _shipment_under_way(locked)
        if shipment is not None:
            shipment.returned_at = now
            shipment.save(update_fields=["returned_at"])
        return []

    return _move(
        claim=claim, actor=actor, transition=Transition.MARK_RETURNED, note=note, apply=apply
    )


def claim_deliver(*, claim: Claim, actor: Any, note: str = "", voucher_code: str = "") -> Claim:
    """The prize reached the customer: dispatched -> delivered, or released -> delivered
    for a prize that is not posted (a voucher code, points, cashback).

    ``voucher_code``: the code issued for a voucher prize (by verification's fulfilment); it
    goes to the customer in ``claim.delivered`` as ``claim.voucher_code``."""
    from rewards.models import Prize

    def check(locked: Claim, context: _Context) -> None:
        if locked.status == ClaimStatus.RELEASED and locked.prize.kind == Prize.Kind.PHYSICAL:
            raise ClaimTransitionError(
                _("A physical prize must be dispatched before it can be delivered."),
                code="not_dispatched",
            )

    def apply(locked: Claim, now: datetime, context: _Context) -> list[str]:
        shipment = _shipment_under_way(locked)
        if shipment is not None:
            shipment.delivered_at = now
            shipment.save(update_fields=["delivered_at"])
        if voucher_code:
            context.event_extra = {"voucher_code": voucher_code}
        return []

    return _move(
        claim=claim,
        actor=actor,
        transition=Transition.DELIVER,
        note=note,
        check=check,
        apply=apply,
    )


# -- the deadline ---------------------------------------------------------------------------


def claim_forfeit(*, claim: Claim, now: datetime | None = None) -> Claim:
    """The system forfeits a draft or a claim waiting for documents whose deadline has
    passed: -> forfeited. The prize goes back to stock, or to a draw's next reserve."""

    def check(locked: Claim, context: _Context) -> None:
        moment = now or timezone.now()
        if locked.deadline_at is None or locked.deadline_at > moment:
            raise ClaimTransitionError(
                _("Claim %(number)s is not past its deadline.") % {"number": locked.number},
                code="not_overdue",
            )

    def apply(locked: Claim, now_: datetime, context: _Context) -> list[str]:
        claim_prize_give_back(
            claim=locked,
            actor="claim deadline",
            reason=f"Claim {locked.number} was not completed by its deadline.",
        )
        return []

    return _move(claim=claim, actor=None, transition=Transition.FORFEIT, check=check, apply=apply)
