"""The claim state machine: every allowed move through its service, every other move refused
with nothing changed, who may make each move, and the side effects (timeline, audit trail,
notifications after commit, the prize going back)."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from claims import services
from claims.models import Claim, ClaimDocument, ClaimStatus, ClaimTransition, Shipment
from claims.selectors import claim_public_url
from claims.services import (
    ALLOWED_MOVES,
    TRANSITIONS,
    ClaimPermissionError,
    ClaimTransitionError,
    Transition,
)
from crm.events import subscribe, unsubscribe
from crm.models import AuditEvent
from rewards.models import Prize
from tests.claims.factories import (
    PrizeFactory,
    Staff,
    claim_in,
    draft_claim,
    invoice_upload,
    portal_customer,
    winning_code,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_storage")]

S = ClaimStatus


@pytest.fixture
def staff():
    return Staff()


# Each transition's service with arguments that are valid whenever the move itself is.
SERVICE_CALLS = {
    Transition.SUBMIT: ("claim_submit", "customer", {}),
    Transition.START_REVIEW: ("claim_start_review", "verifier", {}),
    Transition.PROPOSE: ("claim_propose", "verifier", {"outcome": "approve"}),
    Transition.SEND_BACK: ("claim_send_back", "checker", {"note": "Check the receipt date."}),
    Transition.APPROVE: ("claim_approve", "checker", {}),
    Transition.REJECT: ("claim_reject", "checker", {"reason": "Not eligible."}),
    Transition.REQUEST_RESUBMISSION: ("claim_request_resubmission", "checker", {}),
    Transition.RESUBMIT: ("claim_resubmit", "customer", {}),
    Transition.RELEASE: ("claim_release", "helpdesk", {}),
    Transition.DISPATCH: (
        "claim_dispatch",
        "helpdesk",
        {"carrier": "DHL", "tracking_number": "JD014600006281234567"},
    ),
    Transition.MARK_RETURNED: ("claim_mark_returned", "helpdesk", {}),
    Transition.DELIVER: ("claim_deliver", "helpdesk", {}),
    Transition.FORFEIT: ("claim_forfeit", None, {}),
}


def call(transition, claim, staff, *, actor="default", **overrides):
    service_name, who, arguments = SERVICE_CALLS[transition]
    service = getattr(services, service_name)
    if who is None:
        return service(claim=claim, **{**arguments, **overrides})
    if actor == "default":
        actor = claim.customer.portal_account.user if who == "customer" else getattr(staff, who)
    return service(claim=claim, actor=actor, **{**arguments, **overrides})


def snapshot(claim):
    row = Claim.objects.get(pk=claim.pk)
    return {
        "status": row.status,
        "proposed_outcome": row.proposed_outcome,
        "status_changed_at": row.status_changed_at,
        "deadline_at": row.deadline_at,
        "submitted_at": row.submitted_at,
        "transitions": ClaimTransition.objects.filter(claim=claim).count(),
        "audit": AuditEvent.objects.filter(object_id=str(claim.pk), action__startswith="claim.")
        .filter(object_type="claims.claim")
        .count(),
        "shipments": list(
            Shipment.objects.filter(claim=claim).values_list("pk", "delivered_at", "returned_at")
        ),
        "prize_awarded": Prize.objects.get(pk=claim.prize_id).quantity_awarded,
    }


def test_the_table_has_the_shape_of_the_design():
    assert {
        S.DRAFT: {S.SUBMITTED, S.FORFEITED},
        S.SUBMITTED: {S.IN_REVIEW},
        S.IN_REVIEW: {S.PROPOSED},
        S.PROPOSED: {S.IN_REVIEW, S.APPROVED, S.REJECTED, S.RESUBMISSION_REQUESTED},
        S.RESUBMISSION_REQUESTED: {S.SUBMITTED, S.FORFEITED},
        S.APPROVED: {S.RELEASED},
        S.RELEASED: {S.DISPATCHED, S.DELIVERED},
        S.DISPATCHED: {S.DELIVERED, S.RETURNED},
        S.RETURNED: {S.DISPATCHED},
        S.DELIVERED: set(),
        S.REJECTED: set(),
        S.FORFEITED: set(),
    } == ALLOWED_MOVES


ALLOWED = [
    (S.DRAFT, Transition.SUBMIT, S.SUBMITTED, {}),
    (S.SUBMITTED, Transition.START_REVIEW, S.IN_REVIEW, {}),
    (S.IN_REVIEW, Transition.PROPOSE, S.PROPOSED, {}),
    (S.PROPOSED, Transition.SEND_BACK, S.IN_REVIEW, {}),
    (S.PROPOSED, Transition.APPROVE, S.APPROVED, {}),
    (S.RESUBMISSION_REQUESTED, Transition.RESUBMIT, S.SUBMITTED, {}),
    (S.APPROVED, Transition.RELEASE, S.RELEASED, {}),
    (S.RELEASED, Transition.DISPATCH, S.DISPATCHED, {}),
    (S.DISPATCHED, Transition.MARK_RETURNED, S.RETURNED, {}),
    (S.RETURNED, Transition.DISPATCH, S.DISPATCHED, {}),
    (S.DISPATCHED, Transition.DELIVER, S.DELIVERED, {}),
]


@pytest.mark.parametrize(("start", "transition", "end", "extra"), ALLOWED)
def test_every_allowed_move_goes_through_its_service(staff, start, transition, end, extra):
    # Given a claim in the start status
    claim = claim_in(start, staff=staff)
    if transition == Transition.RESUBMIT:
        services.claim_document_add(
            claim=claim,
            actor=claim.customer.portal_account.user,
            kind="invoice",
            upload=invoice_upload("sharper.jpg"),
        )
    before = snapshot(claim)

    # When the move's service runs
    moved = call(transition, claim, staff, **extra)

    # Then the claim has moved, with one timeline row and one audit event saying who did it
    stored = Claim.objects.get(pk=claim.pk)
    assert (moved.status, stored.status) == (end, end)
    assert stored.status_changed_at > before["status_changed_at"]
    row = ClaimTransition.objects.filter(claim=claim).latest("occurred_at", "pk")
    assert (row.from_status, row.to_status) == (start, end)
    actor = row.actor
    assert row.actor_label == (actor.get_username() if actor else "system")
    event = AuditEvent.objects.filter(object_type="claims.claim", object_id=str(claim.pk)).latest(
        "pk"
    )
    assert event.action == f"claim.{transition}"
    assert event.before == {"status": start, "proposed_outcome": before["proposed_outcome"]}
    assert event.after["status"] == end
    assert event.after["transition_id"] == row.pk
    assert ClaimTransition.objects.filter(claim=claim).count() == before["transitions"] + 1


def test_a_rejection_confirms_the_proposal_and_gives_the_prize_back(staff):
    claim = claim_in(S.PROPOSED, staff=staff)
    services.claim_send_back(claim=claim, actor=staff.checker, note="Look again at the date.")
    claim = services.claim_propose(
        claim=claim,
        actor=staff.verifier,
        outcome="reject",
        reason="The receipt is dated before the campaign started.",
    )
    assert Prize.objects.get(pk=claim.prize_id).quantity_awarded == 1

    rejected = services.claim_reject(claim=claim, actor=staff.checker)

    assert rejected.status == S.REJECTED
    assert rejected.proposed_outcome == ""
    row = rejected.transitions.latest("occurred_at", "pk")
    # The customer reads the maker's reason, since the checker gave none of their own.
    assert row.reason == "The receipt is dated before the campaign started."
    assert Prize.objects.get(pk=claim.prize_id).quantity_awarded == 0


def test_a_request_for_resubmission_names_the_documents_and_sets_a_deadline(staff):
    claim = claim_in(S.RESUBMISSION_REQUESTED, staff=staff)

    assert claim.requested_document_kinds == ["invoice"]
    assert claim.deadline_at == claim.status_changed_at + timedelta(days=14)
    row = claim.transitions.latest("occurred_at", "pk")
    assert row.reason == "The receipt photo is too blurry to read."
    assert row.requested_document_kinds == ["invoice"]


def test_resubmitting_needs_a_new_upload_of_each_requested_document(staff):
    claim = claim_in(S.RESUBMISSION_REQUESTED, staff=staff)
    user = claim.customer.portal_account.user
    old = ClaimDocument.objects.get(claim=claim, kind="invoice")
    before = snapshot(claim)

    with pytest.raises(ClaimTransitionError) as refusal:
        services.claim_resubmit(claim=claim, actor=user)
    assert str(refusal.value) == "Upload the new invoice or receipt first."
    assert snapshot(claim) == before

    new = services.claim_document_add(
        claim=claim, actor=user, kind="invoice", upload=invoice_upload("new.jpg")
    )
    resubmitted = services.claim_resubmit(claim=claim, actor=user)

    assert resubmitted.status == S.SUBMITTED
    assert resubmitted.requested_document_kinds == []
    old.refresh_from_db()
    assert old.superseded_by == new
    assert old.superseded_at is not None
    assert list(claim.documents.filter(superseded_at__isnull=True)) == [new]


def test_a_returned_parcel_is_dispatched_again_as_a_new_shipment(staff):
    claim = claim_in(S.RETURNED, staff=staff)

    claim = services.claim_dispatch(
        claim=claim, actor=staff.helpdesk, carrier="Budbee", tracking_number="BB123"
    )
    claim = services.claim_deliver(claim=claim, actor=staff.helpdesk)

    shipments = list(claim.shipments.order_by("pk"))
    assert [
        (s.carrier, s.returned_at is not None, s.delivered_at is not None) for s in shipments
    ] == [
        ("PostNord", True, False),
        ("Budbee", False, True),
    ]


def test_a_voucher_is_delivered_without_a_parcel_but_a_physical_prize_is_not(staff):
    voucher = PrizeFactory(kind=Prize.Kind.E_VOUCHER)
    claim = claim_in(S.RELEASED, staff=staff, code=winning_code(voucher))
    assert services.claim_deliver(claim=claim, actor=staff.helpdesk).status == S.DELIVERED

    physical = claim_in(S.RELEASED, staff=staff)
    before = snapshot(physical)
    with pytest.raises(ClaimTransitionError, match="must be dispatched before"):
        services.claim_deliver(claim=physical, actor=staff.helpdesk)
    assert snapshot(physical) == before


@pytest.mark.parametrize("status", list(S.values))
def test_every_move_not_in_the_table_is_refused_and_changes_nothing(staff, status):
    # Given a claim in this status
    claim = claim_in(status, staff=staff)
    if status == S.DRAFT:
        # (a draft inside its deadline, so forfeiting is refused for the status's sake too)
        assert claim.deadline_at > timezone.now()
    refused = [t for t, spec in TRANSITIONS.items() if status not in spec.sources]
    assert refused, "every status refuses some moves"
    for transition in refused:
        before = snapshot(claim)
        # When the move is tried by someone who could make it from the right status
        with pytest.raises(ClaimTransitionError) as refusal:
            call(transition, claim, staff)
        # Then it is refused as a wrong-status move, and nothing changed
        assert refusal.value.code == "wrong_status", (transition, str(refusal.value))
        assert snapshot(claim) == before, transition


def test_the_wrong_status_message_says_where_the_claim_is(staff):
    claim = claim_in(S.DELIVERED, staff=staff)
    with pytest.raises(ClaimTransitionError) as refusal:
        services.claim_release(claim=claim, actor=staff.helpdesk)
    assert str(refusal.value) == (
        f"Claim {claim.number} is delivered; it cannot be moved to released to fulfilment "
        "from there."
    )


WRONG_ACTORS = [
    # (start status, transition, who tries)
    (S.DRAFT, Transition.SUBMIT, "other_customer"),
    (S.DRAFT, Transition.SUBMIT, "helpdesk"),
    (S.SUBMITTED, Transition.START_REVIEW, "customer"),
    (S.SUBMITTED, Transition.START_REVIEW, "helpdesk"),
    (S.SUBMITTED, Transition.START_REVIEW, "operator"),
    (S.IN_REVIEW, Transition.PROPOSE, "checker"),
    (S.PROPOSED, Transition.APPROVE, "verifier"),
    (S.PROPOSED, Transition.APPROVE, "helpdesk"),
    (S.PROPOSED, Transition.SEND_BACK, "verifier"),
    (S.APPROVED, Transition.RELEASE, "verifier"),
    (S.APPROVED, Transition.RELEASE, "customer"),
    (S.RELEASED, Transition.DISPATCH, "client_manager"),
    (S.DISPATCHED, Transition.DELIVER, "anonymous"),
]


@pytest.mark.parametrize(("start", "transition", "who"), WRONG_ACTORS)
def test_only_the_right_people_make_each_move(staff, start, transition, who):
    claim = claim_in(start, staff=staff)
    actor = {
        "customer": lambda: claim.customer.portal_account.user,
        "other_customer": lambda: portal_customer().user,
        "anonymous": lambda: None,
    }.get(who, lambda: getattr(staff, who))()
    before = snapshot(claim)

    with pytest.raises(ClaimPermissionError):
        call(transition, claim, staff, actor=actor)

    assert snapshot(claim) == before


def test_an_inactive_staff_user_makes_no_move(staff):
    claim = claim_in(S.SUBMITTED, staff=staff)
    staff.verifier.is_active = False
    staff.verifier.save()
    with pytest.raises(ClaimPermissionError):
        services.claim_start_review(claim=claim, actor=staff.verifier)


def test_only_the_system_forfeits(staff):
    claim = draft_claim()
    Claim.objects.filter(pk=claim.pk).update(deadline_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(ClaimPermissionError):
        services.transitions._move(claim=claim, actor=staff.helpdesk, transition=Transition.FORFEIT)
    assert services.claim_forfeit(claim=claim).status == S.FORFEITED


def test_a_higher_app_adds_its_own_rule_to_a_move(staff):
    # Given a rule (as verification will add maker-checker) refusing the maker as checker
    def maker_is_not_checker(claim, actor, transition):
        proposal = services.transitions.claim_latest_proposal(claim)
        if proposal is not None and proposal.actor_id == actor.pk:
            raise ClaimPermissionError("The checker must be another person than the maker.")

    both = Staff()
    both_roles = both.verifier
    both_roles.groups.add(*staff.checker.groups.all())
    services.transition_rule_add(Transition.APPROVE, maker_is_not_checker)
    try:
        claim = claim_in(S.IN_REVIEW, staff=staff)
        claim = services.claim_propose(claim=claim, actor=both_roles, outcome="approve")
        before = snapshot(claim)
        # When the maker tries to confirm their own proposal, it is refused
        with pytest.raises(ClaimPermissionError, match="another person"):
            services.claim_approve(claim=claim, actor=both_roles)
        assert snapshot(claim) == before
        # And another checker may
        assert services.claim_approve(claim=claim, actor=staff.checker).status == S.APPROVED
    finally:
        services.transition_rule_remove(Transition.APPROVE, maker_is_not_checker)


def test_a_checker_confirms_only_what_was_proposed(staff):
    claim = claim_in(S.PROPOSED, staff=staff)  # proposed: approve
    before = snapshot(claim)
    with pytest.raises(ClaimTransitionError) as refusal:
        services.claim_reject(claim=claim, actor=staff.checker, reason="No.")
    assert refusal.value.code == "proposal_mismatch"
    assert (
        str(refusal.value) == f"The proposal for claim {claim.number} is “Approve”, not “Reject”."
    )
    assert snapshot(claim) == before


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"outcome": "maybe"}, "Choose approve, reject or ask for documents again."),
        ({"outcome": "reject"}, "Give the reason for the rejection"),
        ({"outcome": "resubmit"}, "Name the documents the customer should upload again."),
        (
            {"outcome": "approve", "requested_document_kinds": ["invoice"]},
            "Documents are asked for again only with a request for resubmission.",
        ),
        (
            {"outcome": "resubmit", "requested_document_kinds": ["selfie"]},
            "Unknown document kind: selfie.",
        ),
    ],
)
def test_a_proposal_must_be_complete(staff, arguments, message):
    claim = claim_in(S.IN_REVIEW, staff=staff)
    before = snapshot(claim)
    with pytest.raises(ClaimTransitionError, match=message):
        services.claim_propose(claim=claim, actor=staff.verifier, **arguments)
    assert snapshot(claim) == before


def test_an_incomplete_draft_cannot_be_submitted(staff):
    account = portal_customer()
    claim = draft_claim(account=account, complete=False)
    before = snapshot(claim)
    with pytest.raises(ClaimTransitionError) as refusal:
        services.claim_submit(claim=claim, actor=account.user)
    assert refusal.value.code == "incomplete"
    assert str(refusal.value) == (
        "Your claim is not complete yet. Still needed: your full name, your delivery address, "
        "invoice or receipt."
    )
    assert snapshot(claim) == before


def test_a_draft_past_its_deadline_cannot_be_submitted(staff):
    account = portal_customer()
    claim = draft_claim(account=account)
    Claim.objects.filter(pk=claim.pk).update(deadline_at=timezone.now() - timedelta(seconds=1))
    before = snapshot(claim)
    with pytest.raises(ClaimTransitionError) as refusal:
        services.claim_submit(claim=claim, actor=account.user)
    assert refusal.value.code == "deadline_passed"
    assert snapshot(claim) == before


def test_the_database_refuses_a_second_claim_for_one_code():
    claim = draft_claim(complete=False)
    other = portal_customer()
    with pytest.raises(IntegrityError), transaction.atomic():
        Claim.objects.create(
            number="C-TEST-1",
            customer=other.customer,
            code=claim.code,
            scheme=claim.scheme,
            prize=claim.prize,
        )
    assert Claim.objects.filter(code=claim.code).count() == 1


def test_the_database_keeps_the_status_and_proposal_consistent():
    claim = draft_claim(complete=False)
    with pytest.raises(IntegrityError), transaction.atomic():
        Claim.objects.filter(pk=claim.pk).update(status="proposed")
    with pytest.raises(IntegrityError), transaction.atomic():
        Claim.objects.filter(pk=claim.pk).update(status="lost")
    with pytest.raises(IntegrityError), transaction.atomic():
        Claim.objects.filter(pk=claim.pk).update(status="submitted")  # without submitted_at


# -- notifications ----------------------------------------------------------------------


@pytest.fixture
def published():
    """Every claim event delivered to subscribers (after commit), in order."""
    received = []

    def record(*, event_name, **payload):
        received.append((event_name, payload))

    names = [spec.event for spec in TRANSITIONS.values() if spec.event]
    for name in names:
        subscribe(name, record)
    yield received
    for name in names:
        unsubscribe(name, record)


def test_a_transition_is_announced_once_and_only_after_commit(
    staff, published, django_capture_on_commit_callbacks, settings
):
    settings.NOTIFICATION_PUBLIC_BASE_URL = "https://rewards.example.com/"
    claim = draft_claim()
    user = claim.customer.portal_account.user

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        submitted = services.claim_submit(claim=claim, actor=user)
    # Nothing reached a subscriber before the commit
    assert [name for name, _payload in published] == []
    for callback in callbacks:
        callback()

    row = submitted.transitions.get(to_status=S.SUBMITTED)
    url = f"https://rewards.example.com/claim/claims/{claim.number}/"
    assert claim_public_url(submitted) == url
    assert published == [
        (
            "claim.submitted",
            {
                "customer_id": claim.customer_id,
                "event_id": f"claim-{claim.pk}-transition-{row.pk}",
                "claim": {
                    "number": claim.number,
                    "status": "submitted",
                    "prize_name": claim.prize.name,
                    "campaign_name": claim.scheme.name,
                    "url": url,
                    "tracking_url": url,
                },
            },
        )
    ]


def test_a_refused_or_rolled_back_move_announces_nothing(
    staff, published, django_capture_on_commit_callbacks
):
    claim = draft_claim(complete=False)
    user = claim.customer.portal_account.user
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ClaimTransitionError):
        services.claim_submit(claim=claim, actor=user)
    assert published == []

    claim = draft_claim()

    def submit_then_fail():
        with transaction.atomic():
            services.claim_submit(claim=claim, actor=claim.customer.portal_account.user)
            raise RuntimeError("the request failed after the move")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        submit_then_fail()
    assert published == []
    assert Claim.objects.get(pk=claim.pk).status == S.DRAFT


def test_the_whole_journey_announces_each_customer_facing_step_once(
    staff, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        claim = claim_in(S.RESUBMISSION_REQUESTED, staff=staff)
    user = claim.customer.portal_account.user
    with django_capture_on_commit_callbacks(execute=True):
        services.claim_document_add(
            claim=claim, actor=user, kind="invoice", upload=invoice_upload("again.jpg")
        )
        claim = services.claim_resubmit(claim=claim, actor=user)
        claim = services.claim_start_review(claim=claim, actor=staff.verifier)
        claim = services.claim_propose(claim=claim, actor=staff.verifier, outcome="approve")
        claim = services.claim_approve(claim=claim, actor=staff.checker)
        claim = services.claim_release(claim=claim, actor=staff.helpdesk)
        claim = services.claim_dispatch(
            claim=claim,
            actor=staff.helpdesk,
            carrier="PostNord",
            tracking_number="00370712345678901234",
            tracking_url="https://tracking.example.com/00370712345678901234",
        )
        claim = services.claim_deliver(claim=claim, actor=staff.helpdesk)

    assert [(name, payload["claim"]["status"]) for name, payload in published] == [
        ("claim.submitted", "submitted"),
        ("claim.in_review", "in_review"),
        ("claim.resubmission_requested", "resubmission_requested"),
        ("claim.submitted", "submitted"),
        ("claim.in_review", "in_review"),
        ("claim.approved", "approved"),
        ("claim.dispatched", "dispatched"),
        ("claim.delivered", "delivered"),
    ]
    event_ids = [payload["event_id"] for _name, payload in published]
    assert len(set(event_ids)) == len(event_ids)
    resubmission = published[2][1]["claim"]
    assert resubmission["reason"] == "The receipt photo is too blurry to read."
    assert (
        resubmission["deadline_on"]
        == (
            claim.transitions.get(to_status=S.RESUBMISSION_REQUESTED)
            .occurred_at.astimezone(timezone.get_default_timezone())
            .date()
            + timedelta(days=14)
        ).isoformat()
    )
    dispatched = published[6][1]["claim"]
    assert (dispatched["carrier"], dispatched["tracking_number"], dispatched["tracking_url"]) == (
        "PostNord",
        "00370712345678901234",
        "https://tracking.example.com/00370712345678901234",
    )


def test_a_rejection_tells_the_customer_why(staff, published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        claim_in(S.REJECTED, staff=staff)
    assert published[-1][0] == "claim.rejected"
    assert published[-1][1]["claim"]["reason"] == "The receipt is from before the campaign."


# -- the deadline ---------------------------------------------------------------------------


def test_claims_are_forfeited_at_their_deadline_and_their_prizes_go_back(staff, time_machine):
    from claims.tasks import claims_forfeit_overdue_task

    start = timezone.now().replace(microsecond=0)
    time_machine.move_to(start, tick=False)
    # Given a scheme whose claims must be sent within 60 days, and three winners of it
    prize = PrizeFactory(scheme__claim_deadline_at=start + timedelta(days=60))
    draft = draft_claim(code=winning_code(prize))
    sent = claim_in(S.SUBMITTED, staff=staff, code=winning_code(prize))
    waiting = claim_in(S.RESUBMISSION_REQUESTED, staff=staff, code=winning_code(prize))
    assert Prize.objects.get(pk=prize.pk).quantity_awarded == 3
    assert waiting.deadline_at == start + timedelta(days=14)

    # When the forfeiture runs the minute before the documents' deadline, nothing happens
    time_machine.move_to(start + timedelta(days=14, minutes=-1), tick=False)
    assert services.claims_forfeit_overdue() == 0

    # At the documents' deadline the claim waiting for them is forfeited
    time_machine.move_to(start + timedelta(days=14), tick=False)
    assert claims_forfeit_overdue_task.apply().get() == 1
    assert Claim.objects.get(pk=waiting.pk).status == S.FORFEITED
    assert Prize.objects.get(pk=prize.pk).quantity_awarded == 2

    # At the campaign's claim deadline the unsent draft goes too; the sent claim stays
    time_machine.move_to(start + timedelta(days=60), tick=False)
    assert services.claims_forfeit_overdue() == 1
    assert Claim.objects.get(pk=draft.pk).status == S.FORFEITED
    assert Claim.objects.get(pk=sent.pk).status == S.SUBMITTED
    assert Prize.objects.get(pk=prize.pk).quantity_awarded == 1
    row = ClaimTransition.objects.get(claim=draft, to_status=S.FORFEITED)
    assert (row.from_status, row.actor, row.actor_label) == (S.DRAFT, None, "system")
    assert AuditEvent.objects.filter(
        action="claim.forfeit", object_id=str(draft.pk), actor_label="system"
    ).exists()

    # Running again finds nothing more to do
    assert services.claims_forfeit_overdue() == 0
    assert Prize.objects.get(pk=prize.pk).quantity_awarded == 1


def test_a_claim_not_yet_overdue_is_not_forfeited(staff):
    claim = draft_claim()
    before = snapshot(claim)
    with pytest.raises(ClaimTransitionError) as refusal:
        services.claim_forfeit(claim=claim)
    assert refusal.value.code == "not_overdue"
    assert snapshot(claim) == before


def test_the_forfeiture_is_scheduled_in_beat():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="claims.tasks.claims_forfeit_overdue")
    assert (task.enabled, task.interval.every, task.interval.period) == (True, 15, "minutes")


# -- lucky-draw wins ------------------------------------------------------------------------


def test_a_draw_winner_claims_and_a_final_rejection_promotes_the_reserve(staff, drawn):
    from tests.claims.factories import complete_draft

    winner, reserve = drawn
    account = winner.customer.portal_account
    claim = services.claim_start_from_draw_result(
        customer=winner.customer, actor=account.user, result_id=winner.pk
    )
    assert (claim.status, claim.draw_result_id, claim.code_id) == (
        S.DRAFT,
        winner.pk,
        winner.entry.code_id,
    )
    assert claim.deadline_at == winner.claim_deadline_at
    # Asking again opens no second claim
    assert (
        services.claim_start_from_draw_result(
            customer=winner.customer, actor=account.user, result_id=winner.pk
        ).pk
        == claim.pk
    )
    complete_draft(claim, account.user)
    claim = services.claim_submit(claim=claim, actor=account.user)
    winner.refresh_from_db()
    assert winner.status == "claimed"

    claim = services.claim_start_review(claim=claim, actor=staff.verifier)
    claim = services.claim_propose(
        claim=claim, actor=staff.verifier, outcome="reject", reason="The name does not match."
    )
    services.claim_reject(claim=claim, actor=staff.checker)

    winner.refresh_from_db()
    reserve.refresh_from_db()
    assert winner.status == "forfeited"
    assert reserve.status == "promoted"
    assert reserve.replaces_id == winner.pk
    # The prize passed to the reserve, so it stays counted as won
    assert Prize.objects.get(pk=claim.prize_id).quantity_awarded == 1


def test_another_customers_draw_win_cannot_be_claimed(drawn):
    winner, reserve = drawn
    thief = reserve.customer.portal_account
    with pytest.raises(ClaimTransitionError) as refusal:
        services.claim_start_from_draw_result(
            customer=thief.customer, actor=thief.user, result_id=winner.pk
        )
    assert refusal.value.code == "unknown"
    # A reserve not (yet) promoted has nothing to claim either
    with pytest.raises(ClaimTransitionError) as refusal:
        services.claim_start_from_draw_result(
            customer=thief.customer, actor=thief.user, result_id=reserve.pk
        )
    assert refusal.value.code == "draw_result_closed"
    assert not Claim.objects.exists()


def test_an_unsent_draw_claim_is_forfeited_at_the_deadline_and_the_reserve_promoted(
    drawn, time_machine
):
    winner, reserve = drawn
    account = winner.customer.portal_account
    claim = services.claim_start_from_draw_result(
        customer=winner.customer, actor=account.user, result_id=winner.pk
    )
    time_machine.move_to(winner.claim_deadline_at, tick=False)

    assert services.claims_forfeit_overdue() == 1

    assert Claim.objects.get(pk=claim.pk).status == S.FORFEITED
    reserve.refresh_from_db()
    assert reserve.status == "promoted"
