"""The database refuses bad ledger rows even when the services are bypassed."""

import psycopg
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


# ------------------------------------------------------------------ references, per statement
# The ledger's bulk tables have no foreign key constraints: statement-level triggers refuse
# rows naming ids that do not exist, and the referenced rows cannot go away
# (rewards/migrations/0011_ledger_statement_checks.py).

_JOURNAL_AND_ENTRIES = """
WITH j AS (INSERT INTO rewards_journal (scheme_id, kind, idempotency_key, request_hash,
           participant_id, merchant_id, event_id, memo, posted_at)
           VALUES (%(scheme)s, 'award', 'refs', '', %(participant)s, %(merchant)s, %(event)s,
                   '', now()) RETURNING id)
INSERT INTO rewards_entry (journal_id, account_id, lot_id, amount_minor, posted_at)
SELECT j.id, v.account, v.lot, v.amount, now()
  FROM j, (VALUES (%(wallet)s::bigint, %(lot)s::bigint, 100),
                  (%(issued)s::bigint, NULL::bigint, -100)) AS v(account, lot, amount)
"""


def _refs(owner, **changes):
    wallet = wallet_of(owner)
    params = {
        "scheme": owner.scheme_id,
        "participant": owner.pk,
        "merchant": None,
        "event": None,
        "wallet": wallet.pk,
        "lot": None,
        "issued": Account.objects.get(scheme_id=owner.scheme_id, kind="points_issued").pk,
    }
    params.update(changes)
    return params


def _run_and_check(statement, params):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _refused_with(statement, params, message):
    with pytest.raises(IntegrityError) as error:
        _run_and_check(statement, params)
    assert message in str(error.value)


def test_a_well_formed_journal_written_by_sql_is_accepted(participant):
    _run_and_check(_JOURNAL_AND_ENTRIES, _refs(participant))

    assert Entry.objects.filter(journal__idempotency_key="refs").count() == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"wallet": 10**12}, "rewards_entry: account_id = 1000000000000 does not exist"),
        ({"lot": 10**12}, "rewards_entry: lot_id = 1000000000000 does not exist"),
        ({"participant": 10**12}, "rewards_journal: participant_id = 1000000000000 does not"),
        ({"scheme": 10**12}, "rewards_journal: scheme_id = 1000000000000 does not exist"),
        ({"merchant": 10**12}, "rewards_journal: merchant_id = 1000000000000 does not exist"),
        ({"event": 10**12}, "rewards_journal: event_id = 1000000000000 does not exist"),
    ],
)
def test_ledger_rows_naming_missing_rows_are_refused(participant, change, message):
    _refused_with(_JOURNAL_AND_ENTRIES, _refs(participant, **change), message)
    assert not Journal.objects.filter(idempotency_key="refs").exists()


def _copy_entry(row):
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        cursor.copy(
            "COPY rewards_entry (journal_id, account_id, amount_minor, posted_at) FROM STDIN"
        ) as copy,
    ):
        copy.write(row)


def test_an_entry_of_a_missing_journal_is_refused_also_through_copy(participant):
    wallet = wallet_of(participant)

    # COPY goes straight to psycopg, whose error Django does not wrap.
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as error:
        _copy_entry(f"{10**12}\t{wallet.pk}\t5\t2026-01-01 00:00:00+00\n")
    assert "rewards_entry: journal_id = 1000000000000 does not exist" in str(error.value)
    assert not Entry.objects.filter(journal_id=10**12).exists()


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("journal_id", 10**12, "rewards_awardlot: journal_id = 1000000000000 does not exist"),
        ("account_id", 10**12, "rewards_awardlot: account_id = 1000000000000 does not exist"),
        ("offer_id", 10**12, "rewards_awardlot: offer_id = 1000000000000 does not exist"),
    ],
)
def test_a_lot_naming_missing_rows_is_refused(posted, participant, column, value, message):
    lot = AwardLot.objects.get(journal_id=posted.journal_id)
    values = {"journal_id": lot.journal_id, "account_id": lot.account_id, "offer_id": None}
    values[column] = value

    _refused_with(
        """
        INSERT INTO rewards_awardlot (account_id, journal_id, offer_id, amount_minor,
            consumed_minor, expired_minor, reversed_minor, spend_method, awarded_at,
            available_from, expires_at)
        VALUES (%(account_id)s, %(journal_id)s, %(offer_id)s, 5, 0, 0, 0, 'wallet', now(),
                now(), NULL)
        """,
        values,
        message,
    )
    assert AwardLot.objects.filter(account_id=lot.account_id).count() == 1


_ONE_MORE_ENTRY = """
INSERT INTO rewards_entry (journal_id, account_id, amount_minor, posted_at)
SELECT id, %(wallet)s, 1, now() FROM rewards_journal WHERE idempotency_key = 'refs'
"""


def test_an_unbalanced_entry_added_in_the_same_transaction_is_refused_at_commit(participant):
    wallet = wallet_of(participant)

    _refused_with(
        f"{_JOURNAL_AND_ENTRIES}; {_ONE_MORE_ENTRY}",
        _refs(participant, wallet=wallet.pk),
        "does not balance: its entries sum to 1",
    )
    assert not Journal.objects.filter(idempotency_key="refs").exists()


@pytest.mark.django_db(transaction=True)
def test_entries_cannot_be_added_to_a_journal_of_an_earlier_transaction(participant):
    posted = award(participant, 100)  # committed
    wallet = wallet_of(participant)

    # Even balanced: entries are written only with their journal.
    _refused_with(
        "INSERT INTO rewards_entry (journal_id, account_id, amount_minor, posted_at) "
        "VALUES (%(j)s, %(w)s, 7, now()), (%(j)s, %(w)s, -7, now())",
        {"j": posted.journal_id, "w": wallet.pk},
        f"journal {posted.journal_id} was posted by another transaction",
    )
    assert Entry.objects.filter(journal_id=posted.journal_id).count() == 2


def test_lots_and_accounts_are_never_deleted(posted, participant):
    lot = AwardLot.objects.get(journal_id=posted.journal_id)

    assert refused("DELETE FROM rewards_awardlot WHERE id = %s", [lot.pk])
    assert refused("DELETE FROM rewards_account WHERE id = %s", [wallet_of(participant).pk])
    assert refused(
        "UPDATE rewards_awardlot SET account_id = %s WHERE id = %s",
        [Account.objects.get(scheme_id=participant.scheme_id, kind="points_issued").pk, lot.pk],
    )
    assert refused("UPDATE rewards_awardlot SET id = %s WHERE id = %s", [10**12, lot.pk])
    assert AwardLot.objects.filter(pk=lot.pk, account=wallet_of(participant)).exists()


def test_rows_named_by_the_ledger_cannot_be_deleted_or_renumbered(scheme, participant, merchant):
    offer = OfferFactory(scheme=scheme)
    posted = award(participant, 100, offer=offer)
    event = CustomerEvent.objects.create(
        scheme=scheme,
        participant=participant,
        source="pos",
        external_id="named",
        type="purchase",
        occurred_at=timezone.now(),
        received_at=timezone.now(),
        payload={},
        payload_hash="x",
        status="processed",
        processed_at=timezone.now(),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            _JOURNAL_AND_ENTRIES, _refs(participant, merchant=merchant.pk, event=event.pk)
        )

    assert refused("DELETE FROM rewards_offer WHERE id = %s", [offer.pk])
    assert refused("DELETE FROM rewards_customerevent WHERE id = %s", [event.pk])
    assert refused("DELETE FROM rewards_merchant WHERE id = %s", [merchant.pk])
    assert refused("DELETE FROM rewards_participant WHERE id = %s", [participant.pk])
    assert refused("DELETE FROM rewards_scheme WHERE id = %s", [scheme.pk])
    assert refused("UPDATE rewards_offer SET id = %s WHERE id = %s", [10**12, offer.pk])
    assert refused("UPDATE rewards_customerevent SET id = %s WHERE id = %s", [10**12, event.pk])
    assert Offer.objects.filter(pk=offer.pk).exists()
    assert CustomerEvent.objects.filter(pk=event.pk).exists()
    assert AwardLot.objects.get(journal_id=posted.journal_id).offer_id == offer.pk
    # Rows nothing names can still go.
    unused = OfferFactory(scheme=scheme, status="draft")
    assert not refused("DELETE FROM rewards_offer WHERE id = %s", [unused.pk])
