"""Maker-checker on every path: the service, the claims rule, the admin action, the bulk
action, the API and the database; the checker role; proposals bound to the claim as
reviewed; locks; concurrent confirmations."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import IntegrityError, connection, transaction
from django.db.utils import DatabaseError
from django.utils import timezone

from claims import services as claim_services
from claims.models import Claim, ClaimDocument, ClaimStatus, ClaimTransition
from claims.services.errors import ClaimPermissionError
from crm.models import AuditEvent, Customer
from crm.roles import Role
from tests.crm.factories import staff_user
from tests.verification.factories import (
    checker,
    checklist,
    proposed_claim,
    submitted_claim,
    verifier,
)
from verification import services
from verification.errors import VerificationError, VerificationPermissionError
from verification.models import CheckerDecision, Proposal, ReviewLock

pytestmark = pytest.mark.django_db


def state(claim: Claim) -> tuple:
    claim.refresh_from_db()
    return (
        claim.status,
        claim.proposed_outcome,
        ClaimTransition.objects.filter(claim=claim).count(),
        CheckerDecision.objects.filter(claim=claim).count(),
        list(Proposal.objects.filter(claim=claim).values_list("status", flat=True)),
    )


def maker_with_checker_role():
    """A user who is both verifier and checker: the one who could check their own work."""
    user = verifier()
    user.groups.add(Group.objects.get(name=Role.CHECKER))
    return user


# -- the service --------------------------------------------------------------------------


def test_a_different_checker_confirms_and_the_claim_is_approved():
    maker, the_checker = verifier(), checker()
    claim, proposal = proposed_claim(maker=maker)
    decision = services.proposal_decide(claim=claim, actor=the_checker, decision="confirm")
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.APPROVED
    assert (decision.maker_id, decision.checker_id, decision.result) == (
        maker.pk,
        the_checker.pk,
        "approved",
    )
    proposal.refresh_from_db()
    assert proposal.status == Proposal.Status.CONFIRMED


def test_the_maker_cannot_check_their_own_proposal_in_the_service():
    maker = maker_with_checker_role()
    claim, _proposal = proposed_claim(maker=maker)
    before = state(claim)
    with pytest.raises(VerificationPermissionError, match="another person"):
        services.proposal_decide(claim=claim, actor=maker, decision="confirm")
    with pytest.raises(VerificationPermissionError):
        services.proposal_decide(claim=claim, actor=maker, decision="send_back", note="No.")
    assert state(claim) == before


def test_the_claims_rule_refuses_the_maker_on_a_direct_call():
    maker = maker_with_checker_role()
    claim = submitted_claim()
    claim_services.claim_start_review(claim=claim, actor=maker)
    claim_services.claim_propose(claim=claim, actor=maker, outcome="approve")
    before = state(claim)
    with pytest.raises(ClaimPermissionError, match="another person"):
        claim_services.claim_approve(claim=claim, actor=maker)
    assert state(claim) == before


def test_a_queue_proposal_cannot_be_confirmed_around_the_queue():
    claim, _proposal = proposed_claim()
    before = state(claim)
    with pytest.raises(ClaimPermissionError, match="review queue"):
        claim_services.claim_approve(claim=claim, actor=checker())
    assert state(claim) == before


def test_a_verifier_without_the_checker_role_cannot_confirm():
    claim, _proposal = proposed_claim()
    other_verifier = verifier()
    before = state(claim)
    with pytest.raises(VerificationPermissionError):
        services.proposal_decide(claim=claim, actor=other_verifier, decision="confirm")
    assert state(claim) == before


def test_a_signal_needs_the_checkers_acknowledgement():
    first = submitted_claim(ip="192.0.2.1")
    submitted_claim(ip="192.0.2.1")
    claim, _proposal = proposed_claim(ip="192.0.2.1")
    the_checker = checker()
    before = state(claim)
    with pytest.raises(VerificationError, match="acknowledge") as refused:
        services.proposal_decide(claim=claim, actor=the_checker, decision="confirm")
    assert refused.value.code == "signals_not_acknowledged"
    assert state(claim) == before
    decision = services.proposal_decide(
        claim=claim, actor=the_checker, decision="confirm", acknowledge_signals=True
    )
    assert [signal["kind"] for signal in decision.acknowledged_signals] == ["ip_velocity"]
    assert first.number in decision.acknowledged_signals[0]["claims"]


def test_an_approval_needs_every_checklist_item_ticked():
    maker = verifier()
    claim = submitted_claim()
    items = checklist(claim.scheme, "Invoice date inside the campaign period", "Name matches")
    services.review_lock_take(claim=claim, actor=maker)
    with pytest.raises(VerificationError, match="checklist"):
        services.proposal_make(
            claim=claim, actor=maker, outcome="approve", checklist={items[0].pk: True}
        )
    proposal = services.proposal_make(
        claim=claim,
        actor=maker,
        outcome="approve",
        checklist={item.pk: True for item in items},
    )
    assert [(row["text"], row["passed"]) for row in proposal.checklist] == [
        ("Invoice date inside the campaign period", True),
        ("Name matches", True),
    ]


def test_a_rejection_takes_its_reason_from_the_list_and_the_checker_confirms_it():
    claim, proposal = proposed_claim(outcome="reject")
    assert proposal.reason == "The receipt is from before the campaign started."
    services.proposal_decide(claim=claim, actor=checker(), decision="confirm")
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REJECTED
    assert claim.transitions.order_by("-pk").first().reason == proposal.reason


def test_a_send_back_returns_the_claim_to_review_with_the_note():
    claim, proposal = proposed_claim()
    services.proposal_decide(
        claim=claim, actor=checker(), decision="send_back", note="Check the date again."
    )
    claim.refresh_from_db()
    proposal.refresh_from_db()
    assert (claim.status, proposal.status) == (ClaimStatus.IN_REVIEW, Proposal.Status.SENT_BACK)


# -- bound to the claim as reviewed -------------------------------------------------------


def test_an_edit_to_the_claim_after_the_proposal_voids_it():
    claim, proposal = proposed_claim()
    Claim.objects.filter(pk=claim.pk).update(address_line1="Another street 1")
    with pytest.raises(services.ProposalVoidedError):
        services.proposal_decide(claim=claim, actor=checker(), decision="confirm")
    claim.refresh_from_db()
    proposal.refresh_from_db()
    assert claim.status == ClaimStatus.IN_REVIEW
    assert proposal.status == Proposal.Status.VOIDED
    assert not CheckerDecision.objects.filter(claim=claim).exists()


def test_a_changed_document_after_the_proposal_voids_it():
    claim, proposal = proposed_claim()
    current = ClaimDocument.objects.get(claim=claim, superseded_at__isnull=True)
    ClaimDocument.objects.filter(pk=current.pk).update(sha256="0" * 64)
    with pytest.raises(services.ProposalVoidedError):
        services.proposal_decide(claim=claim, actor=checker(), decision="confirm")
    proposal.refresh_from_db()
    assert proposal.status == Proposal.Status.VOIDED


def test_a_change_to_the_customers_contact_details_voids_it():
    claim, proposal = proposed_claim()
    Customer.objects.filter(pk=claim.customer_id).update(email="new-address@example.com")
    with pytest.raises(services.ProposalVoidedError):
        services.proposal_decide(claim=claim, actor=checker(), decision="confirm")
    proposal.refresh_from_db()
    assert proposal.status == Proposal.Status.VOIDED


# -- locks --------------------------------------------------------------------------------


def test_two_verifiers_cannot_hold_the_same_claim():
    claim = submitted_claim()
    first, second = verifier(), verifier()
    services.review_lock_take(claim=claim, actor=first)
    with pytest.raises(VerificationError, match="is reviewing") as refused:
        services.review_lock_take(claim=claim, actor=second)
    assert refused.value.code == "locked"
    assert list(ReviewLock.objects.values_list("claim_id", "holder_id")) == [(claim.pk, first.pk)]
    # Nor can the second propose on it.
    with pytest.raises(VerificationError, match="Take claim"):
        services.proposal_make(claim=claim, actor=second, outcome="approve")


def test_the_database_holds_one_lock_per_claim():
    claim = submitted_claim()
    first, second = verifier(), verifier()
    services.review_lock_take(claim=claim, actor=first)
    lock = ReviewLock.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        ReviewLock.objects.create(claim_id=claim.pk, holder=second, expires_at=lock.expires_at)


def test_an_expired_lock_is_taken_over(time_machine):
    claim = submitted_claim()
    first, second = verifier(), verifier()
    services.review_lock_take(claim=claim, actor=first)
    time_machine.move_to(timezone.now() + timedelta(minutes=31))
    lock = services.review_lock_take(claim=claim, actor=second)
    assert lock.holder_id == second.pk
    assert ReviewLock.objects.count() == 1


# -- other paths: admin action, bulk action, API, raw SQL ----------------------------------


def test_the_admin_action_refuses_the_maker(client, sign_in):
    maker = maker_with_checker_role()
    maker.is_staff = True
    maker.save(update_fields=["is_staff"])
    maker.user_permissions.add(Permission.objects.get(codename="view_proposal"))
    claim, proposal = proposed_claim(maker=maker)
    before = state(claim)
    sign_in(maker)
    response = client.post(
        "/admin/verification/proposal/",
        {"action": "confirm_selected", "_selected_action": [proposal.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "another person than the maker" in response.content.decode()
    assert state(claim) == before


def test_the_admin_action_lets_another_checker_confirm(client, sign_in):
    claim, proposal = proposed_claim()
    admin_checker = staff_user(Role.CHECKER, is_staff=True)
    admin_checker.user_permissions.add(Permission.objects.get(codename="view_proposal"))
    sign_in(admin_checker)
    client.post(
        "/admin/verification/proposal/",
        {"action": "confirm_selected", "_selected_action": [proposal.pk]},
    )
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.APPROVED
    assert CheckerDecision.objects.get(claim=claim).path == "admin"


def test_the_bulk_action_refuses_the_maker_and_confirms_the_others(client, sign_in):
    maker = maker_with_checker_role()
    own, _p1 = proposed_claim(maker=maker)
    others, _p2 = proposed_claim()
    sign_in(maker)
    response = client.post(
        "/verification/bulk-confirm/", {"claims": [own.pk, others.pk]}, follow=True
    )
    text = response.content.decode()
    assert f"{own.number}: You proposed this decision" in text
    own.refresh_from_db()
    others.refresh_from_db()
    assert own.status == ClaimStatus.PROPOSED
    assert others.status == ClaimStatus.APPROVED
    assert CheckerDecision.objects.get(claim=others).path == "bulk"


def test_the_api_refuses_the_maker(client, sign_in):
    maker = maker_with_checker_role()
    claim = submitted_claim()
    api = sign_in(maker)
    assert api.post(f"/api/v1/verification/claims/{claim.pk}/take/").status_code == 200
    response = api.post(
        f"/api/v1/verification/claims/{claim.pk}/propose/",
        {"outcome": "approve"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    before = state(claim)
    response = api.post(
        f"/api/v1/verification/claims/{claim.pk}/decide/",
        {"decision": "confirm"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert state(claim) == before


def test_the_api_lets_another_checker_confirm(client, sign_in):
    claim, _proposal = proposed_claim()
    api = sign_in(checker())
    response = api.post(
        f"/api/v1/verification/claims/{claim.pk}/decide/",
        {"decision": "confirm"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["claim_status"] == "approved"
    assert response.json()["result"] == "approved"


def test_the_api_refuses_a_verifier_without_the_checker_role(client, sign_in):
    claim, _proposal = proposed_claim()
    api = sign_in(verifier())
    response = api.post(
        f"/api/v1/verification/claims/{claim.pk}/decide/",
        {"decision": "confirm"},
        content_type="application/json",
    )
    assert response.status_code == 403
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.PROPOSED


def test_the_database_refuses_a_decision_by_the_maker():
    maker = verifier()
    claim, proposal = proposed_claim(maker=maker)
    with (
        pytest.raises(IntegrityError, match="decision_checker_is_not_maker"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            """
            INSERT INTO verification_checkerdecision
                (proposal_id, claim_id, maker_id, checker_id, decision, result, note,
                 acknowledged_signals, path, decided_at)
            VALUES (%s, %s, %s, %s, 'confirm', 'approved', '', '[]', 'sql', now())
            """,
            [proposal.pk, claim.pk, maker.pk, maker.pk],
        )
    assert not CheckerDecision.objects.exists()


def test_the_database_refuses_a_decision_naming_another_maker():
    """Lying about the maker to get past the check constraint fails on the composite key."""
    maker, accomplice = verifier(), verifier()
    claim, proposal = proposed_claim(maker=maker)
    with (
        pytest.raises(DatabaseError, match="decision_maker_is_proposal_maker"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            """
                INSERT INTO verification_checkerdecision
                    (proposal_id, claim_id, maker_id, checker_id, decision, result, note,
                     acknowledged_signals, path, decided_at)
                VALUES (%s, %s, %s, %s, 'confirm', 'approved', '', '[]', 'sql', now())
                """,
            [proposal.pk, claim.pk, accomplice.pk, maker.pk],
        )
    assert not CheckerDecision.objects.exists()
    assert AuditEvent.objects.filter(action="verification.decide").count() == 0
