"""Merging a duplicate customer into the one that stays, keeping the history."""

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from claims.models import Claim, CustomerAccount
from crm.audit import audit_record
from crm.merge import MergeError, customer_merge_approve, customer_merge_propose
from crm.models import AuditEvent, Customer, CustomerMerge, HelpdeskNote, OutboundMessage
from rewards.models import Account, Code, Participant
from tests.crm.helpdesk.factories import (
    CustomerFactory,
    SchemeFactory,
    award,
    claim_for,
    helpdesk_user,
    message_for,
    note_for,
    operator_user,
    participant_for,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def duplicates():
    """A (kept) and B (the duplicate), each with history, sharing one loyalty scheme."""
    shared_scheme, b_only_scheme = SchemeFactory(name="Shared"), SchemeFactory(name="B only")
    a = CustomerFactory(
        first_name="Anna", last_name="", phone="+46706660001", email="", member_number=""
    )
    b = CustomerFactory(
        first_name="Anna B",
        last_name="Berg",
        phone="+46706660002",
        email="anna@example.com",
        member_number="M-9",
    )
    a_participant = participant_for(a, shared_scheme)
    award(a_participant, 100)
    b_shared = participant_for(b, shared_scheme)
    award(b_shared, 40)
    b_only = participant_for(b, b_only_scheme)
    award(b_only, 7)
    claim = claim_for(b)
    author = helpdesk_user()
    note = note_for(b, author, text="B called")
    message = message_for(b, body="B message")
    audit_record(action="customer.test_marker", actor=author, target=b)
    account = CustomerAccount.objects.create(
        customer=b, user=helpdesk_user(is_staff=False, username="portal-b")
    )
    return {
        "a": a,
        "b": b,
        "a_participant": a_participant,
        "b_shared": b_shared,
        "b_only": b_only,
        "claim": claim,
        "note": note,
        "message": message,
        "account": account,
    }


def test_merge_moves_everything_to_the_survivor_and_keeps_history(
    duplicates, django_capture_on_commit_callbacks
):
    a, b = duplicates["a"], duplicates["b"]
    maker, checker = operator_user(), operator_user()
    merge = customer_merge_propose(
        survivor=a, merged=b, reason="Same person, two phones", actor=maker
    )

    with django_capture_on_commit_callbacks(execute=True):
        customer_merge_approve(merge=merge, actor=checker)

    a.refresh_from_db()
    b.refresh_from_db()
    merge.refresh_from_db()
    # B is kept, inactive, pointing to A, without its unique contact details
    assert (b.merged_into_id, b.phone, b.email, b.member_number, b.first_name) == (
        a.pk,
        "",
        "",
        "",
        "Anna B",
    )
    assert b.merged_at is not None
    # A kept its own values and took B's where it had none
    assert (a.first_name, a.last_name, a.phone, a.email, a.member_number) == (
        "Anna",
        "Berg",
        "+46706660001",
        "anna@example.com",
        "M-9",
    )
    # crm rows moved
    assert HelpdeskNote.objects.get(pk=duplicates["note"].pk).customer_id == a.pk
    assert OutboundMessage.objects.get(pk=duplicates["message"].pk).customer_id == a.pk
    # claims (through the customer.merged subscriber) and the portal account moved
    assert Claim.objects.get(pk=duplicates["claim"].pk).customer_id == a.pk
    assert Code.objects.get(pk=duplicates["claim"].code_id).entered_by_id == a.pk
    assert CustomerAccount.objects.get(pk=duplicates["account"].pk).customer_id == a.pk
    # rewards: B's only participation moved; the shared one is terminated as a duplicate
    # with its balance transferred by a journal (the ledger keeps every entry)
    b_only = Participant.objects.get(pk=duplicates["b_only"].pk)
    b_shared = Participant.objects.get(pk=duplicates["b_shared"].pk)
    assert b_only.customer_id == a.pk
    assert (
        b_shared.customer_id,
        b_shared.status,
        b_shared.termination_reason,
        b_shared.replaced_by_id,
    ) == (b.pk, "terminated", "duplicate", duplicates["a_participant"].pk)
    assert Account.objects.get(participant=duplicates["a_participant"]).balance_minor == 140
    assert Account.objects.get(participant=b_shared).balance_minor == 0
    # the record: merge row with B as it was, and audit events by both operators
    assert (merge.status, merge.proposed_by_id, merge.decided_by_id) == (
        "completed",
        maker.pk,
        checker.pk,
    )
    assert merge.merged_snapshot["phone"] == "+46706660002"
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "customer_merge.propose",
        "customer_merge.approve",
        "customer.merged_into",
        "customer.merge_absorbed",
        "claims.customer_merged",
        "rewards.customer_merged",
        "participant.terminate",
    } <= actions


def test_the_survivors_page_shows_the_duplicates_history(
    client, sign_in_verified, duplicates, django_capture_on_commit_callbacks
):
    a, b = duplicates["a"], duplicates["b"]
    merge = customer_merge_propose(survivor=a, merged=b, reason="dup", actor=operator_user())
    with django_capture_on_commit_callbacks(execute=True):
        customer_merge_approve(merge=merge, actor=operator_user())
    sign_in_verified(helpdesk_user())

    page = client.get(reverse("admin:crm_customer_change", args=[a.pk])).content.decode()
    merged_page = client.get(reverse("admin:crm_customer_change", args=[b.pk])).content.decode()

    for expected in [
        duplicates["claim"].number,
        "B called",
        "+46706660002",
        "customer.test_marker",
        "B only",
    ]:
        assert expected in page, expected
    assert "This customer was merged into" in merged_page


def test_the_proposer_cannot_approve_their_own_merge(duplicates):
    maker = operator_user()
    merge = customer_merge_propose(
        survivor=duplicates["a"], merged=duplicates["b"], reason="dup", actor=maker
    )

    with pytest.raises(MergeError, match="Another operator"):
        customer_merge_approve(merge=merge, actor=maker)
    # and the database refuses it too
    with pytest.raises(IntegrityError), transaction.atomic():
        CustomerMerge.objects.filter(pk=merge.pk).update(status="completed", decided_by=maker)

    duplicates["b"].refresh_from_db()
    assert duplicates["b"].merged_into_id is None
    assert Claim.objects.get(pk=duplicates["claim"].pk).customer_id == duplicates["b"].pk


def test_operators_propose_and_approve_on_the_customer_page_and_the_helpdesk_cannot(
    client, sign_in_verified, duplicates, django_capture_on_commit_callbacks
):
    a, b = duplicates["a"], duplicates["b"]
    agent = helpdesk_user()
    sign_in_verified(agent)
    refused = client.post(
        reverse("admin:crm_customer_merge_propose", args=[a.pk]),
        {"duplicate": b.pk, "reason": "dup"},
    )
    assert refused.status_code == 403
    assert not CustomerMerge.objects.exists()

    client.logout()
    sign_in_verified(operator_user())
    client.post(
        reverse("admin:crm_customer_merge_propose", args=[a.pk]),
        {"duplicate": b.pk, "reason": "dup"},
    )
    merge = CustomerMerge.objects.get()

    client.logout()
    sign_in_verified(operator_user())
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:crm_customer_merge_decide", args=[a.pk, merge.pk, "approve"])
        )

    assert response.status_code == 302
    merge.refresh_from_db()
    assert merge.status == "completed"
    assert Customer.objects.get(pk=b.pk).merged_into_id == a.pk


def test_redelivering_the_merge_event_moves_nothing_twice(
    duplicates, django_capture_on_commit_callbacks
):
    from crm.merge import customer_merge_redeliver

    a, b = duplicates["a"], duplicates["b"]
    merge = customer_merge_propose(survivor=a, merged=b, reason="dup", actor=operator_user())
    checker = operator_user()
    with django_capture_on_commit_callbacks(execute=True):
        customer_merge_approve(merge=merge, actor=checker)
    balance = Account.objects.get(participant=duplicates["a_participant"]).balance_minor

    with django_capture_on_commit_callbacks(execute=True):
        customer_merge_redeliver(merge=CustomerMerge.objects.get(pk=merge.pk), actor=checker)

    assert (
        Account.objects.get(participant=duplicates["a_participant"]).balance_minor == balance == 140
    )
    assert AuditEvent.objects.filter(action="claims.customer_merged").count() == 1
    assert AuditEvent.objects.filter(action="rewards.customer_merged").count() == 1
