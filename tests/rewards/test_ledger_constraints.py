"""The database refuses bad ledger rows even when the services are bypassed."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from rewards.models import (
    Account,
    AwardLot,
    CustomerEvent,
    Entry,
    Journal,
    Offer,
    OfferActivation,
    Participant,
)
from rewards.services.errors import UnbalancedJournal
from rewards.services.ledger import Posting, ledger_post, wallet_lock
from tests.crm.factories import UserFactory
from tests.rewards.conftest import award, wallet_of
from tests.rewards.factories import OfferFactory, make_participant

pytestmark = pytest.mark.django_db


def refused(statement, params=()):
    """Runs ``statement`` and checks deferred constraints at once; True when refused."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, params)
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    except IntegrityError:
        return True
    return False


@pytest.fixture
def posted(participant):
    return award(participant, 100)


def test_entries_and_journals_cannot_be_changed_or_deleted(posted):
    entry = Entry.objects.filter(journal_id=posted.journal_id).first()

    assert refused("UPDATE rewards_entry SET amount_minor = 1 WHERE id = %s", [entry.pk])
    assert refused("DELETE FROM rewards_entry WHERE id = %s", [entry.pk])
    assert refused("UPDATE rewards_journal SET memo = 'x' WHERE id = %s", [posted.journal_id])
    assert refused("DELETE FROM rewards_journal WHERE id = %s", [posted.journal_id])
    assert Entry.objects.get(pk=entry.pk).amount_minor == entry.amount_minor


def test_an_unbalanced_journal_is_refused_at_commit(participant):
    wallet = wallet_of(participant)

    assert refused(
        """
        WITH j AS (INSERT INTO rewards_journal (scheme_id, kind, idempotency_key, request_hash,
                   memo, posted_at) VALUES (%s, 'award', 'bad', '', '', now()) RETURNING id)
        INSERT INTO rewards_entry (journal_id, account_id, amount_minor, posted_at)
        SELECT j.id, %s, 100, now() FROM j
        """,
        [wallet.scheme_id, wallet.pk],
    )
    assert not Journal.objects.filter(idempotency_key="bad").exists()


def test_a_journal_without_entries_is_refused(participant):
    assert refused(
        "INSERT INTO rewards_journal (scheme_id, kind, idempotency_key, request_hash, memo, "
        "posted_at) VALUES (%s, 'award', 'empty', '', '', now())",
        [participant.scheme_id],
    )


def test_the_service_refuses_an_unbalanced_posting_before_writing(participant):
    with transaction.atomic():
        wallet = wallet_lock(participant_id=participant.pk)
        posting = Posting(
            scheme_id=wallet.scheme_id, kind="award", idempotency_key="x", posted_at=timezone.now()
        )
        posting.add_wallet_entry(wallet.account_id, 10)
        with pytest.raises(UnbalancedJournal):
            ledger_post(posting=posting)
    assert not Journal.objects.filter(idempotency_key="x").exists()


def test_zero_entries_are_refused(posted, participant):
    assert refused(
        "INSERT INTO rewards_entry (journal_id, account_id, amount_minor, posted_at) "
        "VALUES (%s, %s, 0, now())",
        [posted.journal_id, wallet_of(participant).pk],
    )


def test_a_wallet_balance_cannot_go_negative_unless_allowed(participant):
    wallet = wallet_of(participant)

    assert refused("UPDATE rewards_account SET balance_minor = -1 WHERE id = %s", [wallet.pk])
    assert not refused(
        "UPDATE rewards_account SET balance_minor = -1, allows_negative_balance = true "
        "WHERE id = %s",
        [wallet.pk],
    )


def test_a_lot_cannot_be_over_consumed(posted):
    lot = AwardLot.objects.get(journal_id=posted.journal_id)

    assert refused("UPDATE rewards_awardlot SET consumed_minor = 101 WHERE id = %s", [lot.pk])
    assert refused(
        "UPDATE rewards_awardlot SET consumed_minor = 60, expired_minor = 41 WHERE id = %s",
        [lot.pk],
    )
    assert refused("UPDATE rewards_awardlot SET reversed_minor = -1 WHERE id = %s", [lot.pk])


def test_an_offer_budget_cannot_be_exceeded(scheme):
    offer = OfferFactory(scheme=scheme, budget_total_minor=100)

    with pytest.raises(IntegrityError), transaction.atomic():
        Offer.objects.filter(pk=offer.pk).update(budget_used_minor=101)


def test_the_checker_of_an_activation_is_not_its_maker(scheme):
    offer = OfferFactory(scheme=scheme, status="draft")
    maker = UserFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        OfferActivation.objects.create(
            offer=offer,
            proposed_by=maker,
            proposed_at=timezone.now(),
            decision="approved",
            decided_by=maker,
            decided_at=timezone.now(),
        )


def test_a_duplicate_names_its_survivor(scheme, participant):
    with pytest.raises(IntegrityError), transaction.atomic():
        Participant.objects.filter(pk=participant.pk).update(
            status="terminated", terminated_at=timezone.now(), termination_reason="duplicate"
        )


def test_one_event_per_source_and_external_id(scheme, participant):
    fields = {
        "scheme": scheme,
        "participant": participant,
        "source": "pos",
        "external_id": "1",
        "type": "purchase",
        "occurred_at": timezone.now(),
        "received_at": timezone.now(),
        "payload": {},
        "payload_hash": "x",
        "status": "queued",
    }
    CustomerEvent.objects.create(**fields)

    with pytest.raises(IntegrityError), transaction.atomic():
        CustomerEvent.objects.create(**fields)


def test_system_accounts_are_unique_per_scheme(scheme, participant):
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.create(scheme=scheme, kind="points_issued")


def test_a_wallet_needs_a_participant_and_a_balance(scheme):
    make_participant(scheme)

    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.create(scheme=scheme, kind="wallet", balance_minor=0)
