"""Fulfilment: only approved claims are released, in batches by prize kind; physical prizes
go through the courier CSV and tracking numbers; vouchers get unique codes; points reach the
wallet through the ledger exactly once."""

import csv
import io

import pytest
from django.db import IntegrityError, connection, transaction

from claims import services as claim_services
from claims.models import ClaimStatus, Shipment
from claims.services.errors import ClaimPermissionError
from rewards.models import Account, Journal, Participant, Prize
from tests.claims.factories import PrizeFactory
from tests.crm.factories import UserFactory
from tests.verification.factories import (
    approved_claim,
    fulfiller,
    proposed_claim,
    submitted_claim,
)
from verification import services
from verification.errors import VerificationError, VerificationPermissionError
from verification.models import FulfilmentBatch, FulfilmentItem

pytestmark = pytest.mark.django_db


def superuser():
    user = UserFactory(is_staff=True, is_superuser=True)
    return user


@pytest.mark.parametrize("status", ["submitted", "in_review", "proposed", "rejected"])
def test_release_refuses_a_claim_that_is_not_approved_even_for_a_superuser(status):
    approved, _decision = approved_claim()
    if status == "submitted":
        claim = submitted_claim()
    elif status == "rejected":
        claim, _proposal = proposed_claim(outcome="reject")
        from tests.verification.factories import checker

        services.proposal_decide(claim=claim, actor=checker(), decision="confirm")
    else:
        claim, _proposal = proposed_claim()
        if status == "in_review":
            from tests.verification.factories import checker

            services.proposal_decide(claim=claim, actor=checker(), decision="send_back", note="x")
    claim.refresh_from_db()
    assert claim.status == status
    for actor in (fulfiller(), superuser()):
        with pytest.raises(VerificationError, match="Only approved claims") as refused:
            services.fulfilment_release(claim_ids=[approved.pk, claim.pk], actor=actor)
        assert refused.value.code == "not_approved"
    approved.refresh_from_db()
    assert approved.status == ClaimStatus.APPROVED  # all or nothing
    assert not FulfilmentBatch.objects.exists()


def test_release_needs_the_fulfil_permission():
    claim, _decision = approved_claim()
    with pytest.raises(VerificationPermissionError):
        services.fulfilment_release(claim_ids=[claim.pk], actor=UserFactory(is_staff=True))


def test_the_claims_rule_refuses_releasing_a_claim_approved_by_its_maker():
    """Even the claims service called directly wants a checker other than the maker."""
    from django.contrib.auth.models import Group

    from crm.roles import Role
    from tests.verification.factories import verifier

    claim = submitted_claim()
    maker = verifier()
    maker.groups.add(Group.objects.get(name=Role.CHECKER), Group.objects.get(name=Role.HELPDESK))
    claim_services.claim_start_review(claim=claim, actor=maker)
    claim_services.claim_propose(claim=claim, actor=maker, outcome="approve")
    # Forge an approval by the maker around the services: the release rule still refuses.
    from django.utils import timezone

    from claims.models import Claim, ClaimTransition

    ClaimTransition.objects.create(
        claim=claim, from_status="proposed", to_status="approved", actor=maker, actor_label="x"
    )
    Claim.objects.filter(pk=claim.pk).update(
        status="approved", proposed_outcome="", status_changed_at=timezone.now()
    )
    with pytest.raises(ClaimPermissionError, match="other than its maker"):
        claim_services.claim_release(claim=claim, actor=maker)
    with pytest.raises(VerificationError, match="not approved in the review queue"):
        services.fulfilment_release(claim_ids=[claim.pk], actor=maker)


def test_the_database_refuses_a_fulfilment_item_without_an_approval():
    claim, _proposal = proposed_claim(outcome="reject")
    from tests.verification.factories import checker

    decision = services.proposal_decide(claim=claim, actor=checker(), decision="confirm")
    batch = FulfilmentBatch.objects.create(prize_kind="physical", created_by=fulfiller())
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO verification_fulfilmentitem (batch_id, claim_id, approval_id,"
            " approval_result, voucher_code) VALUES (%s, %s, %s, 'approved', '')",
            [batch.pk, claim.pk, decision.pk],
        )
    assert not FulfilmentItem.objects.exists()


def test_a_batch_holds_one_prize_kind():
    physical, _d1 = approved_claim()
    voucher, _d2 = approved_claim(prize=PrizeFactory(kind=Prize.Kind.E_VOUCHER))
    with pytest.raises(VerificationError, match="one kind"):
        services.fulfilment_release(claim_ids=[physical.pk, voucher.pk], actor=fulfiller())


def test_a_physical_prize_is_exported_dispatched_by_tracking_csv_and_delivered():
    first, _d1 = approved_claim()
    second, _d2 = approved_claim()
    helpdesk = fulfiller()
    batch = services.fulfilment_release(claim_ids=[first.pk, second.pk], actor=helpdesk)
    first.refresh_from_db()
    assert first.status == ClaimStatus.RELEASED

    rows = list(csv.DictReader(io.StringIO(services.courier_csv(batch=batch, actor=helpdesk))))
    assert [row["reference"] for row in rows] == [first.number, second.number]
    assert rows[0]["address_line1"] == first.address_line1
    assert rows[0]["prize"] == first.prize.name

    tracking = (
        "reference,carrier,tracking_number,tracking_url\n"
        f"{first.number},PostNord,00370712345678901234,https://tracking.example/1\n"
        "C-1999-000001,PostNord,1,\n"
    )
    result = services.tracking_import(batch=batch, actor=helpdesk, text=tracking)
    assert result.dispatched == [first.number]
    assert result.errors == ["Line 3: C-1999-000001 is not in this batch."]
    # The same file again dispatches nothing twice.
    again = services.tracking_import(batch=batch, actor=helpdesk, text=tracking)
    assert again.dispatched == []
    assert Shipment.objects.filter(claim=first).count() == 1

    services.parcel_dispatch(
        claim=second, actor=helpdesk, carrier="DHL", tracking_number="JD014600003SE"
    )
    services.parcel_deliver(claim=first, actor=helpdesk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (ClaimStatus.DELIVERED, ClaimStatus.DISPATCHED)
    assert Shipment.objects.get(claim=first).delivered_at is not None


def test_vouchers_are_issued_with_unique_codes_and_delivered():
    prize = PrizeFactory(kind=Prize.Kind.E_VOUCHER, name="Gift card")
    claims = [approved_claim(prize=prize)[0] for _ in range(3)]
    helpdesk = fulfiller()
    batch = services.fulfilment_release(claim_ids=[c.pk for c in claims], actor=helpdesk)
    for item in batch.items.all():
        services.fulfilment_item_complete(item=item, actor=helpdesk)
    codes = list(FulfilmentItem.objects.values_list("voucher_code", flat=True))
    assert len(set(codes)) == 3
    assert all(len(code) == 19 for code in codes)
    for claim in claims:
        claim.refresh_from_db()
        assert claim.status == ClaimStatus.DELIVERED


def test_points_are_posted_to_the_wallet_exactly_once_even_when_retried(points_prize):
    claim, _decision = approved_claim(prize=points_prize)
    helpdesk = fulfiller()
    batch = services.fulfilment_release(claim_ids=[claim.pk], actor=helpdesk)
    item = batch.items.get()
    services.fulfilment_item_complete(item=item, actor=helpdesk)
    # A retry of the whole step, and of the posting itself.
    services.fulfilment_item_complete(item=item, actor=helpdesk)
    with transaction.atomic():
        journal_id = services.prize_wallet_post(claim=claim, actor=helpdesk)

    journal = Journal.objects.get(idempotency_key=f"claim:{claim.pk}:prize")
    assert journal.pk == journal_id == FulfilmentItem.objects.get().journal_id
    participant = Participant.objects.get(customer_id=claim.customer_id)
    wallet = Account.objects.get(participant=participant)
    assert wallet.balance_minor == 500
    assert journal.entries.count() == 2
    assert sorted(journal.entries.values_list("amount_minor", flat=True)) == [-500, 500]
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.DELIVERED


def test_a_wallet_prize_without_a_wallet_scheme_is_refused_and_nothing_changes():
    claim, _decision = approved_claim(
        prize=PrizeFactory(kind=Prize.Kind.CASHBACK, value_minor=1000)
    )
    helpdesk = fulfiller()
    batch = services.fulfilment_release(claim_ids=[claim.pk], actor=helpdesk)
    with pytest.raises(VerificationError, match="names no loyalty scheme"):
        services.fulfilment_item_complete(item=batch.items.get(), actor=helpdesk)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.RELEASED
    assert not Journal.objects.exists()
