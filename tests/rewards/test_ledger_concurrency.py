"""Races with real threads, each on its own PostgreSQL connection."""

import json
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from rewards.models import Entry, Journal, Offer
from rewards.services.errors import InsufficientFunds
from rewards.services.events import EventInput, event_submit
from rewards.services.spends import spend_create
from tests.rewards.conftest import assert_ledger_consistent, award, balance_of
from tests.rewards.factories import OfferFactory, SchemeFactory, make_participant, merchant_in

pytestmark = pytest.mark.django_db(transaction=True)


def race(count: int, work: Callable[[int], object]) -> list[object]:
    """Runs ``work(i)`` in ``count`` threads released at the same moment; returns each
    thread's result or exception."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as error:
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.parametrize("attempt", range(5))
def test_thirty_concurrent_spends_of_ten_against_a_hundred(attempt):
    scheme = SchemeFactory()
    merchant = merchant_in(scheme)
    participant = make_participant(scheme)
    award(participant, 60, expires_in_days=5)
    award(participant, 40)

    results = race(
        30,
        lambda index: spend_create(
            participant_id=participant.pk,
            amount_minor=10,
            merchant=merchant,
            idempotency_key=f"spend-{attempt}-{index}",
        ),
    )

    outcomes = Counter(type(result).__name__ for result in results)
    assert outcomes == {"tuple": 10, "InsufficientFunds": 20}
    assert all(isinstance(result, tuple | InsufficientFunds) for result in results), results
    assert balance_of(participant) == 0
    assert Journal.objects.filter(kind="spend").count() == 10
    assert sorted(
        result[0]["balance_minor"] for result in results if isinstance(result, tuple)
    ) == list(range(0, 100, 10))
    assert_ledger_consistent()


def test_twenty_concurrent_replays_of_one_event_post_once():
    scheme = SchemeFactory()
    merchant = merchant_in(scheme)
    participant = make_participant(scheme)
    OfferFactory(scheme=scheme)
    event = EventInput(
        source="pos",
        external_id="receipt-7",
        type="purchase",
        participant_id=participant.pk,
        occurred_at=timezone.now() - timedelta(minutes=1),
        merchant=merchant,
        total_minor=1000,
    )

    results = race(20, lambda index: event_submit(event=event))

    assert all(isinstance(result, tuple) for result in results), results
    assert sum(1 for _body, created in results if created) == 1
    assert len({json.dumps(body, sort_keys=True) for body, _created in results}) == 1
    assert Journal.objects.filter(kind="award").count() == 1
    assert Entry.objects.filter(journal__kind="award").count() == 2
    assert balance_of(participant) == 100
    assert_ledger_consistent()


def test_concurrent_awards_never_exceed_an_offer_budget():
    scheme = SchemeFactory()
    merchant = merchant_in(scheme)
    participants = [make_participant(scheme) for _ in range(10)]
    offer = OfferFactory(scheme=scheme, budget_total_minor=450)

    def buy(index: int) -> object:
        return event_submit(
            event=EventInput(
                source="pos",
                external_id=f"r-{index}",
                type="purchase",
                participant_id=participants[index].pk,
                occurred_at=timezone.now() - timedelta(minutes=1),
                merchant=merchant,
                total_minor=1000,
            )
        )

    results = race(10, buy)

    assert all(isinstance(result, tuple) for result in results), results
    awarded = sorted(
        award["amount_minor"] for body, _created in results for award in body["awards"]
    )
    assert sum(awarded) == 450
    assert awarded == [50, 100, 100, 100, 100]
    assert Offer.objects.get(pk=offer.pk).budget_used_minor == 450
    assert_ledger_consistent()


def test_every_nth_purchase_pays_exactly_under_concurrent_purchases_on_one_wallet():
    # Given an offer paying 50 on every 2nd purchase and one participant (a hot wallet)
    scheme = SchemeFactory()
    merchant = merchant_in(scheme)
    participant = make_participant(scheme)
    OfferFactory(
        scheme=scheme,
        classification="purchase_count",
        rules={"award": {"type": "fixed", "amount_minor": 50}, "every_nth_purchase": 2},
    )

    # When 20 purchases arrive at the same moment
    def buy(index: int) -> object:
        return event_submit(
            event=EventInput(
                source="pos",
                external_id=f"hot-{index}",
                type="purchase",
                participant_id=participant.pk,
                occurred_at=timezone.now() - timedelta(minutes=1),
                merchant=merchant,
                total_minor=1000,
            )
        )

    results = race(20, buy)

    # Then each waits for the wallet and counts from the purchases committed before it:
    # exactly every 2nd purchase is paid
    assert all(isinstance(result, tuple) for result in results), results
    assert sum(len(body["awards"]) for body, _created in results) == 10
    assert balance_of(participant) == 500
    participant.refresh_from_db()
    assert participant.purchase_count == 20
    assert_ledger_consistent()
