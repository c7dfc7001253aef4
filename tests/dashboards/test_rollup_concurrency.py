"""A posting that commits after a later one was counted is still counted, exactly once:
the cursor waits at the gap while the posting holding the missing id is running."""

import threading

import pytest
from django.db import connection, transaction

from dashboards.models import CountedJournal, LedgerMonth
from dashboards.services import ledger_rollup_refresh
from rewards.models import Account, Journal
from tests.rewards.conftest import award
from tests.rewards.factories import SchemeFactory, make_participant

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_posting_committed_late_is_counted_once():
    scheme = SchemeFactory()
    early, late = make_participant(scheme), make_participant(scheme)
    started, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def slow_posting() -> None:
        try:
            with transaction.atomic():
                award(early, 7)
                started.set()
                release.wait(timeout=20)
        except BaseException as error:  # reported by the test below
            failures.append(error)
            started.set()
        finally:
            connection.close()

    # Given a posting that took a journal id and has not committed yet
    worker = threading.Thread(target=slow_posting)
    worker.start()
    assert started.wait(timeout=20)
    # and a later posting, committed
    award(late, 11)
    late_journal = Journal.objects.get(participant=late)

    # When the rollups are refreshed meanwhile
    first = ledger_rollup_refresh()

    # Then the committed journal is counted, and the cursor waits below the running one
    assert first.rows == 1
    assert list(CountedJournal.objects.values_list("journal_id", flat=True)) == [late_journal.pk]

    # When the slow posting commits and the rollups are refreshed again
    release.set()
    worker.join(timeout=20)
    assert not failures
    early_journal = Journal.objects.get(participant=early)
    assert early_journal.pk < late_journal.pk
    assert first.cursor_id < early_journal.pk
    second = ledger_rollup_refresh()

    # Then it is counted too, once, and the cursor has passed both
    assert second.rows == 1
    assert second.cursor_id == late_journal.pk
    assert CountedJournal.objects.count() == 0
    liability = sum(LedgerMonth.objects.values_list("wallet_net_minor", flat=True))
    wallets = sum(
        Account.objects.filter(kind=Account.Kind.WALLET).values_list("balance_minor", flat=True)
    )
    assert liability == wallets == 18
    assert ledger_rollup_refresh().rows == 0
