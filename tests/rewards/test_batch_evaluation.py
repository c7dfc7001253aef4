"""The set-based evaluation run (rewards.services.batch_evaluation) against the one-by-one
path (rewards.services.events.event_process): the same queued events give the same
journals, lots, entries, balances, purchase counts, budgets and responses; a rerun posts
nothing; events held by another worker are left to it."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection, transaction

from rewards.models import AwardLot, CustomerEvent, Entry, Journal, Offer, Participant, Scheme
from rewards.services.batch_evaluation import events_evaluate_batch, events_evaluate_queued
from rewards.services.events import EventInput, LineInput, event_submit, events_process_queued
from rewards.services.participants import participant_terminate
from rewards.services.spends import spend_create
from tests.rewards.conftest import assert_ledger_consistent, balance_of, purchase, refund
from tests.rewards.factories import (
    MerchantGroupFactory,
    OfferFactory,
    ProductCategoryFactory,
    ProductFactory,
    make_participant,
    merchant_in,
)

pytestmark = pytest.mark.django_db

# A Saturday: weekday conditions and cap periods are reckoned in the participants' zone.
NOW = datetime(2026, 6, 13, 10, 0, tzinfo=UTC)


def _queue(participant, merchant, external_id, *, total=0, lines=(), at, type="purchase", **kw):
    response, created = event_submit(
        event=EventInput(
            source="pos",
            external_id=external_id,
            type=type,
            participant_id=participant.pk,
            occurred_at=at,
            merchant=merchant,
            lines=tuple(LineInput(*line) for line in lines),
            total_minor=total,
            **kw,
        ),
        queue=True,
    )
    assert created
    assert response["status"] == "queued"


def _ledger_snapshot(scheme):
    """Everything the evaluation writes, keyed by what stays the same across two runs of the
    same events: events by (source, external_id) and journals by key, not by the ids of new
    rows (a referral event raised in each run gets a new id), and no posting times."""
    event_keys = {
        pk: f"{source}:{external_id}"
        for pk, source, external_id in CustomerEvent.objects.filter(scheme=scheme).values_list(
            "pk", "source", "external_id"
        )
    }

    def journal_key(key):
        kind, _, rest = key.partition(":")
        if kind != "event":
            return key
        event_id, _, suffix = rest.partition(":")
        return f"event:{event_keys[int(event_id)]}:{suffix}"

    def response(body):
        return {**body, "id": event_keys.get(body.get("id"))} if body else body

    journals = {
        journal.pk: journal_key(journal.idempotency_key)
        for journal in Journal.objects.filter(scheme=scheme)
    }
    lots = {
        lot.pk: (journals[lot.journal_id], lot.offer_id, lot.amount_minor)
        for lot in AwardLot.objects.filter(journal_id__in=journals)
    }
    return {
        "journals": sorted(
            (journal_key(key), kind, participant, merchant, event_keys.get(event), result, hash_)
            for key, kind, participant, merchant, event, result, hash_ in (
                Journal.objects.filter(scheme=scheme).values_list(
                    "idempotency_key",
                    "kind",
                    "participant_id",
                    "merchant_id",
                    "event_id",
                    "result",
                    "request_hash",
                )
            )
        ),
        "lots": sorted(
            (
                journals[lot.journal_id],
                lot.account_id,
                lot.offer_id or 0,
                lot.amount_minor,
                lot.consumed_minor,
                lot.expired_minor,
                lot.reversed_minor,
                lot.spend_method,
                lot.awarded_at,
                lot.available_from,
                lot.expires_at or NOW,
            )
            for lot in AwardLot.objects.filter(journal_id__in=journals)
        ),
        "entries": sorted(
            (
                journals[entry.journal_id],
                entry.account_id,
                lots.get(entry.lot_id, ()),
                entry.amount_minor,
            )
            for entry in Entry.objects.filter(journal_id__in=journals)
        ),
        "wallets": sorted(
            Participant.objects.filter(scheme=scheme).values_list(
                "pk", "wallet__balance_minor", "wallet__allows_negative_balance", "purchase_count"
            )
        ),
        "budgets": sorted(
            Offer.objects.filter(scheme=scheme).values_list("pk", "budget_used_minor")
        ),
        "events": sorted(
            (source, external_id, status, response(body), clawback, original)
            for source, external_id, status, body, clawback, original in (
                CustomerEvent.objects.filter(scheme=scheme).values_list(
                    "source",
                    "external_id",
                    "status",
                    "response",
                    "clawback_demanded_minor",
                    "original_event_id",
                )
            )
        ),
    }


def _run_both_ways(scheme, run_batch, capture):
    """Runs the one-by-one path on the queued events, snapshots and rolls it back, then the
    batch path on the same events; returns both snapshots."""
    with transaction.atomic():
        with capture(execute=True):
            while events_process_queued(scheme_id=scheme.pk, limit=1000):
                pass
        one_by_one = _ledger_snapshot(scheme)
        transaction.set_rollback(True)
    assert CustomerEvent.objects.filter(status="queued").exists()
    with capture(execute=True):
        run_batch()
    return one_by_one, _ledger_snapshot(scheme)


@pytest.fixture
def busy_scheme(db):
    """A scheme with offers of every shape the evaluation must carry from one event to the
    next: a capped percentage, every 3rd purchase, an instant discount per item, a category
    offer with a nested family, a merchant group offer at weekends, a budget that runs out,
    two apply-only-if-best offers, a pending award, an achievement and a referral offer."""
    scheme = Scheme.objects.create(
        client=ProductCategoryFactory().client,
        name="Busy",
        code="busy",
        kind=Scheme.Kind.LOYALTY,
        starts_at=NOW - timedelta(days=400),
        time_zone="Europe/Stockholm",
        return_policy=Scheme.ReturnPolicy.ALLOW_NEGATIVE,
    )
    family = ProductCategoryFactory(client=scheme.client, code="drinks")
    coffee_category = ProductCategoryFactory(client=scheme.client, code="coffee", parent=family)
    coffee = ProductFactory(client=scheme.client, code="COFFEE")
    coffee.categories.add(coffee_category)
    ProductFactory(client=scheme.client, code="BREAD")
    group = MerchantGroupFactory(code="city")
    city_shop = merchant_in(scheme, area="south")
    city_shop.groups.add(group)
    other_shop = merchant_in(scheme, area="north")
    offers = [
        OfferFactory(
            scheme=scheme,
            rules={
                "award": {"type": "percentage", "basis_points": 1000},
                "award_validity": {"expires_after_days": 30},
                "participant_cap": {"period": "month", "amount_minor": 250},
            },
        ),
        OfferFactory(
            scheme=scheme,
            classification="purchase_count",
            rules={"every_nth_purchase": 3, "award": {"type": "fixed", "amount_minor": 40}},
        ),
        OfferFactory(
            scheme=scheme,
            classification="item_quantity",
            rules={
                "conditions": {"products": ["COFFEE"]},
                "award": {"type": "per_item", "amount_minor": 15},
                "spend_method": "instant_discount",
            },
        ),
        OfferFactory(
            scheme=scheme,
            rules={
                "conditions": {"categories": ["drinks"]},
                "award": {"type": "percentage", "basis_points": 500},
                "award_validity": {"available_after_days": 14, "expires_after_days": 60},
            },
        ),
        OfferFactory(
            scheme=scheme,
            rules={
                "conditions": {"merchant_groups": ["city"], "weekdays": ["sat", "sun"]},
                "award": {"type": "fixed", "amount_minor": 7},
            },
            budget_total_minor=30,
        ),
        OfferFactory(
            scheme=scheme,
            rules={
                "conditions": {"segments_include": ["gold"]},
                "award": {"type": "fixed", "amount_minor": 20},
                "apply_only_if_best": True,
            },
        ),
        OfferFactory(
            scheme=scheme,
            rules={
                "award": {
                    "type": "tiers",
                    "tiers": [
                        {"min_spend_minor": 500, "amount_minor": 10},
                        {"min_spend_minor": 1500, "amount_minor": 35},
                    ],
                },
                "apply_only_if_best": True,
            },
        ),
        OfferFactory(
            scheme=scheme,
            classification="achievement",
            rules={"achievement_codes": ["QUIZ"], "award": {"type": "fixed", "amount_minor": 60}},
        ),
        OfferFactory(
            scheme=scheme,
            classification="referral",
            rules={"award": {"type": "fixed", "amount_minor": 25}},
        ),
    ]
    return scheme, city_shop, other_shop, offers


def _queue_mixed_events(scheme, city_shop, other_shop):
    """Participants in several situations, their events interleaved in the queue."""
    plain = make_participant(scheme)
    gold = make_participant(scheme, segments=["gold"], time_zone="America/New_York")
    referrer = make_participant(scheme)
    referred = make_participant(scheme, referred_by=referrer)
    leaving = make_participant(scheme)
    indebted = make_participant(scheme)
    # An overdrawn wallet: awarded, spent, then refunded under allow_negative.
    purchase(indebted, other_shop, 1000, external_id="indebted-buy", occurred_at=NOW)
    spend_create(
        participant_id=indebted.pk,
        amount_minor=100,
        merchant=other_shop,
        idempotency_key="indebted-spend",
    )
    refund(indebted, other_shop, 1000, original_external_id="indebted-buy")
    assert balance_of(indebted) < 0
    people = [plain, gold, referrer, referred, leaving, indebted]
    baskets = [
        (600, [("BREAD", 2, 600)]),
        (1800, [("COFFEE", 2, 1200), ("BREAD", 1, 600)]),
        (300, [("COFFEE", 1, 300)]),
        (2500, [("BREAD", 5, 2500)]),
        (900, []),
    ]
    number = 0
    for round_number in range(6):
        for index, person in enumerate(people):
            total, lines = baskets[(round_number + index) % len(baskets)]
            shop = city_shop if (round_number + index) % 2 else other_shop
            number += 1
            _queue(
                person,
                shop,
                f"e{number}",
                total=total,
                lines=lines,
                at=NOW - timedelta(days=round_number * 9, hours=index),
                payment_medium="card",
            )
    _queue(gold, city_shop, "quiz", type="achievement", at=NOW, achievement_code="QUIZ")
    _queue(plain, None, "quiz-wrong", type="achievement", at=NOW, achievement_code="NOPE")
    participant_terminate(participant=leaving, reason="customer_request", actor="tests")
    return people


@time_machine.travel(NOW, tick=False)
def test_batch_gives_the_same_results_as_one_by_one(
    busy_scheme, django_capture_on_commit_callbacks
):
    scheme, city_shop, other_shop, _offers = busy_scheme
    _queue_mixed_events(scheme, city_shop, other_shop)

    one_by_one, batch = _run_both_ways(
        scheme,
        lambda: events_evaluate_queued(scheme_id=scheme.pk, chunk_size=1000),
        django_capture_on_commit_callbacks,
    )

    assert batch == one_by_one
    # The scenario exercised what it is meant to: awards, an instant discount, a pending
    # lot, a budget spent to the last unit, a capped offer, debt recovered, a referral.
    assert len(batch["journals"]) > 20
    assert any(lot[7] == "instant_discount" for lot in batch["lots"])
    assert any(lot[9] > NOW for lot in batch["lots"])
    assert (_offers[4].pk, 30) in batch["budgets"]
    assert CustomerEvent.objects.get(type="referral").status == "processed"
    assert not CustomerEvent.objects.filter(status="queued").exists()
    assert_ledger_consistent()


@time_machine.travel(NOW, tick=False)
def test_small_chunks_give_the_same_results_as_one_chunk(
    busy_scheme, django_capture_on_commit_callbacks
):
    """Caps, budgets, purchase counts and balances carry over from one chunk to the next."""
    scheme, city_shop, other_shop, _offers = busy_scheme
    _queue_mixed_events(scheme, city_shop, other_shop)

    one_by_one, batch = _run_both_ways(
        scheme,
        lambda: events_evaluate_queued(scheme_id=scheme.pk, chunk_size=4),
        django_capture_on_commit_callbacks,
    )

    assert batch == one_by_one
    assert_ledger_consistent()


@time_machine.travel(NOW, tick=False)
def test_a_rerun_posts_nothing_twice(busy_scheme):
    scheme, city_shop, other_shop, _offers = busy_scheme
    _queue_mixed_events(scheme, city_shop, other_shop)
    events_evaluate_queued(scheme_id=scheme.pk)
    before = _ledger_snapshot(scheme)

    again = events_evaluate_batch(scheme_id=scheme.pk)

    assert again.processed == 0
    assert _ledger_snapshot(scheme) == before


@time_machine.travel(NOW, tick=False)
def test_an_empty_queue_does_nothing(busy_scheme):
    scheme, _city_shop, _other_shop, _offers = busy_scheme

    result = events_evaluate_batch(scheme_id=scheme.pk)

    assert (result.processed, result.posted, result.last_event_id) == (0, 0, 0)


@pytest.mark.django_db(transaction=True)
def test_events_another_worker_holds_are_skipped_and_posted_once():
    """Two workers at once: the events one holds are skipped by the other, and every event
    is posted exactly once."""
    scheme = Scheme.objects.create(
        client=ProductCategoryFactory().client,
        name="Race",
        code="race",
        kind=Scheme.Kind.LOYALTY,
        starts_at=NOW - timedelta(days=400),
    )
    shop = merchant_in(scheme)
    OfferFactory(scheme=scheme)
    people = [make_participant(scheme) for _ in range(4)]
    for number in range(20):
        _queue(people[number % 4], shop, f"r{number}", total=1000, at=NOW)
    first_ids = list(
        CustomerEvent.objects.filter(status="queued").order_by("pk").values_list("pk", flat=True)
    )[:5]
    held = threading.Event()
    release = threading.Event()

    def hold_first_five():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "SELECT id FROM rewards_customerevent WHERE id = ANY(%s) FOR UPDATE",
                    [first_ids],
                )
                held.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_first_five)
    holder.start()
    held.wait(timeout=30)
    try:
        skipped = events_evaluate_queued(scheme_id=scheme.pk, chunk_size=6)
    finally:
        release.set()
        holder.join()
    remaining = events_evaluate_queued(scheme_id=scheme.pk, chunk_size=6)

    assert (skipped, remaining) == (15, 5)
    assert Journal.objects.filter(kind="award", event__isnull=False).count() == 20
    assert sum(balance_of(person) for person in people) == 20 * 100
    assert_ledger_consistent()


@pytest.mark.parametrize(
    ("used_meanwhile", "evaluated_again"),
    [(900, False), (995, True)],
    ids=["budget-still-covers-the-chunk", "budget-spent-meanwhile"],
)
@time_machine.travel(NOW, tick=False)
def test_budget_spent_while_the_chunk_was_evaluated_gives_the_one_by_one_awards(
    busy_scheme, django_capture_on_commit_callbacks, monkeypatch, used_meanwhile, evaluated_again
):
    """A chunk reads the budgets unlocked and locks them only to write. When another
    posting spends a budget meanwhile, the chunk's awards are still those the one-by-one
    path gives with the budget as it was at the lock: kept when what is left still covers
    them, evaluated again under the lock when it does not."""
    from rewards.services import batch_evaluation

    scheme, city_shop, other_shop, offers = busy_scheme
    budgeted = offers[4]
    Offer.objects.filter(pk=budgeted.pk).update(budget_total_minor=1000)
    _queue_mixed_events(scheme, city_shop, other_shop)

    with transaction.atomic():
        Offer.objects.filter(pk=budgeted.pk).update(budget_used_minor=used_meanwhile)
        with django_capture_on_commit_callbacks(execute=True):
            while events_process_queued(scheme_id=scheme.pk, limit=1000):
                pass
        one_by_one = _ledger_snapshot(scheme)
        transaction.set_rollback(True)

    evaluate, taken = batch_evaluation._Chunk.evaluate, []

    def evaluate_then_spend_elsewhere(chunk):
        evaluate(chunk)
        taken.append(chunk.budget_taken.get(budgeted.pk, 0))
        if len(taken) == 1:  # another posting spends the budget before the chunk locks it
            Offer.objects.filter(pk=budgeted.pk).update(budget_used_minor=used_meanwhile)

    monkeypatch.setattr(batch_evaluation._Chunk, "evaluate", evaluate_then_spend_elsewhere)
    with django_capture_on_commit_callbacks(execute=True):
        events_evaluate_batch(scheme_id=scheme.pk, limit=1000)
    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        events_evaluate_queued(scheme_id=scheme.pk)  # the referral event raised after commit

    assert taken[0] > 0  # the first evaluation awarded the budgeted offer
    assert (len(taken) == 2) is evaluated_again
    assert _ledger_snapshot(scheme) == one_by_one
    assert_ledger_consistent()


@pytest.mark.django_db(transaction=True)
def test_two_workers_written_chunks_take_a_budget_one_after_the_other(monkeypatch):
    """Two workers have each written a chunk (their lots lock the budgeted offer FOR KEY
    SHARE) before either takes the budget: they take it one after the other instead of
    deadlocking, and the budget counts both chunks."""
    from rewards.services import batch_evaluation

    scheme = Scheme.objects.create(
        client=ProductCategoryFactory().client,
        name="Budget race",
        code="budget-race",
        kind=Scheme.Kind.LOYALTY,
        starts_at=NOW - timedelta(days=400),
    )
    shop = merchant_in(scheme)
    offer = OfferFactory(
        scheme=scheme,
        rules={"award": {"type": "fixed", "amount_minor": 5}},
        budget_total_minor=10_000,
    )
    people = [make_participant(scheme) for _ in range(16)]  # two chunks, no wallet in both
    for number, person in enumerate(people):
        _queue(person, shop, f"b{number}", total=1000, at=NOW)
    both_written = threading.Barrier(2, timeout=30)
    settle = batch_evaluation._Chunk.budgets_cover_the_awards

    def settle_when_both_have_written(chunk):
        both_written.wait()
        return settle(chunk)

    monkeypatch.setattr(
        batch_evaluation._Chunk, "budgets_cover_the_awards", settle_when_both_have_written
    )
    errors = []

    def worker(after_id):
        try:
            events_evaluate_batch(scheme_id=scheme.pk, limit=8, after_id=after_id)
        except Exception as error:  # reported by the assertion below
            errors.append(error)
            both_written.abort()
        finally:
            connection.close()

    first_chunk_end = (
        CustomerEvent.objects.filter(status="queued").order_by("pk").values_list("pk", flat=True)
    )[7]
    workers = [threading.Thread(target=worker, args=(after,)) for after in (0, first_chunk_end)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()

    assert errors == []
    assert not CustomerEvent.objects.filter(status="queued").exists()
    offer.refresh_from_db()
    assert offer.budget_used_minor == 16 * 5
    assert sum(balance_of(person) for person in people) == 16 * 5
    assert_ledger_consistent()


@pytest.mark.django_db(transaction=True)
def test_a_chunk_evaluated_again_holds_the_budget_lock_until_it_commits(monkeypatch):
    """When another posting spent the budget while the chunk was evaluated, the chunk's
    writing is rolled back to a savepoint and done again: the budget lock it then holds is
    the transaction's own (not the rolled-back savepoint's), so nobody can take from the
    budget before the chunk's share is counted."""
    from psycopg.errors import LockNotAvailable

    from rewards.services import batch_evaluation

    scheme = Scheme.objects.create(
        client=ProductCategoryFactory().client,
        name="Budget relock",
        code="budget-relock",
        kind=Scheme.Kind.LOYALTY,
        starts_at=NOW - timedelta(days=400),
    )
    shop = merchant_in(scheme)
    offer = OfferFactory(
        scheme=scheme,
        rules={"award": {"type": "fixed", "amount_minor": 5}},
        budget_total_minor=100,
    )
    people = [make_participant(scheme) for _ in range(8)]
    for number, person in enumerate(people):
        _queue(person, shop, f"relock{number}", total=1000, at=NOW)

    def in_another_connection(work):
        outcome = []

        def run():
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    outcome.append(work(cursor))
            except LockNotAvailable as error:
                outcome.append(error)
            except Exception as error:  # a wrapped LockNotAvailable
                outcome.append(error.__cause__ or error)
            finally:
                connection.close()

        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        return outcome[0]

    evaluate, write_budgets, seen = (
        batch_evaluation._Chunk.evaluate,
        batch_evaluation._Chunk.write_budgets,
        {},
    )

    def evaluate_while_another_posting_spends(chunk):
        evaluate(chunk)
        if "evaluations" not in seen:  # commits 70 of the 100 before the chunk locks it
            in_another_connection(
                lambda cursor: cursor.execute(
                    "UPDATE rewards_offer SET budget_used_minor = 70 WHERE id = %s", [offer.pk]
                )
            )
        seen["evaluations"] = seen.get("evaluations", 0) + 1

    def write_budgets_after_trying_the_lock(chunk):
        seen["other taker"] = in_another_connection(
            lambda cursor: cursor.execute(
                "SELECT id FROM rewards_offer WHERE id = %s FOR NO KEY UPDATE NOWAIT", [offer.pk]
            )
        )
        write_budgets(chunk)

    monkeypatch.setattr(batch_evaluation._Chunk, "evaluate", evaluate_while_another_posting_spends)
    monkeypatch.setattr(
        batch_evaluation._Chunk, "write_budgets", write_budgets_after_trying_the_lock
    )
    events_evaluate_batch(scheme_id=scheme.pk, limit=8)

    assert seen["evaluations"] == 2  # 8 x 5 no longer fitted in the 30 left: evaluated again
    assert isinstance(seen["other taker"], LockNotAvailable)
    offer.refresh_from_db()
    assert offer.budget_used_minor == 100
    assert sum(balance_of(person) for person in people) == 30
    assert_ledger_consistent()
