"""Lucky draws: commitment to the seed, entries, the draw, verification (verify_draw),
claiming, forfeiture with promotion of reserves, and the periodic deadline sweep."""

import hashlib
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from crm.events import subscribe, unsubscribe
from crm.models import AuditEvent
from rewards.models import Code, Draw, DrawEntry, DrawResult, Prize, Run
from rewards.selectors_draws import (
    draw_open_for_scheme,
    draw_public_facts,
    draw_wins_for_customer,
)
from rewards.services.codes import CodeEntryOutcome, code_enter
from rewards.services.draws import (
    DRAW_ALGORITHM,
    FORFEIT_REASON_DEADLINE,
    RESERVE_PROMOTED_EVENT,
    DrawError,
    draw_enter_purchase,
    draw_result_claim,
    draw_result_forfeit,
    draw_results_forfeit_expired,
    draw_run,
    draw_schedule,
    draw_select,
    draw_verify,
    result_forfeit,
)
from rewards.services.errors import InvalidTransition
from tests.crm.factories import CustomerFactory, UserFactory
from tests.rewards.conftest import purchase
from tests.rewards.factories import (
    InstantWinSchemeFactory,
    LuckyDrawSchemeFactory,
    PrizeFactory,
    SchemeFactory,
    make_code_batch,
    make_draw,
    make_participant,
    merchant_in,
)

pytestmark = pytest.mark.django_db


def enter_codes(scheme, customers):
    """Each customer enters one fresh code of the scheme; returns the entries in order."""
    batch = make_code_batch(scheme, len(customers))
    codes = Code.objects.filter(batch=batch).order_by("serial")
    entries = []
    for code, customer in zip(codes, customers, strict=True):
        result = code_enter(scheme_or_none=scheme, text=code.value, customer=customer)
        assert result.outcome == CodeEntryOutcome.DRAW_ENTERED
        entries.append(DrawEntry.objects.get(pk=result.draw_entry_id))
    return entries


def closed(draw):
    return draw.entries_close_at + timedelta(seconds=1)


@pytest.fixture
def lucky():
    scheme = LuckyDrawSchemeFactory()
    prize = PrizeFactory(scheme=scheme, name="Weekend trip", quantity_total=3)
    return scheme, prize


@pytest.fixture
def drawn(lucky):
    """A draw of 2 winners and 3 reserves run over 10 customers' entries."""
    scheme, prize = lucky
    draw = make_draw(scheme, prize, winners=2, reserves=3)
    customers = [CustomerFactory() for _ in range(10)]
    enter_codes(scheme, customers)
    return draw_run(draw_id=draw.pk, actor="tests", now=closed(draw))


def results_of(draw):
    return list(DrawResult.objects.filter(draw=draw).order_by("position"))


# --- scheduling: the commitment ----------------------------------------------------------


def test_scheduling_publishes_the_seed_hash_and_keeps_the_seed_secret(lucky):
    scheme, prize = lucky

    draw = make_draw(scheme, prize, winners=2, reserves=1)

    assert draw.status == Draw.Status.SCHEDULED
    assert draw.algorithm == DRAW_ALGORITHM
    assert draw.seed_hash == hashlib.sha256(bytes.fromhex(draw.seed)).hexdigest()
    facts = draw_public_facts(draw)
    assert facts["seed_hash"] == draw.seed_hash
    assert "seed" not in facts
    assert draw.seed not in str(facts)
    audit = AuditEvent.objects.get(action="draw.schedule", object_id=str(draw.pk))
    assert audit.after["seed_hash"] == draw.seed_hash
    assert draw.seed not in str(audit.after)


def test_scheduling_refuses_the_wrong_campaign_prize_or_time(lucky):
    scheme, prize = lucky
    soon = timezone.now() + timedelta(days=1)
    instant = InstantWinSchemeFactory()

    with pytest.raises(DrawError, match="lucky-draw campaigns"):
        draw_schedule(
            scheme=instant,
            prize=PrizeFactory(scheme=instant),
            winners_count=1,
            reserves_count=0,
            entries_close_at=soon,
            actor="tests",
        )
    with pytest.raises(DrawError, match="is not a prize of"):
        draw_schedule(
            scheme=scheme,
            prize=PrizeFactory(),
            winners_count=1,
            reserves_count=0,
            entries_close_at=soon,
            actor="tests",
        )
    with pytest.raises(DrawError, match="Entries must close in the future"):
        draw_schedule(
            scheme=scheme,
            prize=prize,
            winners_count=1,
            reserves_count=0,
            entries_close_at=timezone.now(),
            actor="tests",
        )
    assert Draw.objects.count() == 0


def test_scheduled_draws_may_not_promise_more_winners_than_the_stock(lucky):
    scheme, prize = lucky
    make_draw(scheme, prize, winners=2)

    with pytest.raises(DrawError, match=r"Only 1 of Weekend trip are left for a new draw"):
        make_draw(scheme, prize, winners=2)

    assert Draw.objects.filter(prize=prize).count() == 1


# --- entries -----------------------------------------------------------------------------


def test_entries_go_to_the_draw_closing_first_and_stop_when_it_closes(lucky):
    scheme, prize = lucky
    later = make_draw(scheme, prize, winners=1, closes_in=timedelta(days=7))
    sooner = make_draw(scheme, prize, winners=1, closes_in=timedelta(days=1))
    code = Code.objects.get(batch=make_code_batch(scheme, 1))

    assert draw_open_for_scheme(scheme=scheme) == sooner
    result = code_enter(
        scheme_or_none=scheme,
        text=code.value,
        customer=CustomerFactory(),
        now=sooner.entries_close_at + timedelta(minutes=1),
    )

    assert result.draw_id == later.pk


def test_the_database_refuses_a_second_entry_for_one_code(lucky):
    scheme, prize = lucky
    first_draw = make_draw(scheme, prize)
    second_draw = make_draw(scheme, prize, closes_in=timedelta(days=3))
    (entry,) = enter_codes(scheme, [CustomerFactory()])

    with pytest.raises(IntegrityError), transaction.atomic():
        DrawEntry.objects.create(
            draw=second_draw, customer=entry.customer, kind=DrawEntry.Kind.CODE, code=entry.code
        )

    assert entry.draw == first_draw
    assert DrawEntry.objects.filter(code=entry.code).count() == 1


def test_a_purchase_enters_an_open_draw_once(lucky):
    scheme, prize = lucky
    draw = make_draw(scheme, prize)
    # Purchases are events of the same client's loyalty scheme.
    loyalty = SchemeFactory(client=scheme.client)
    loyalty_participant = make_participant(loyalty)
    purchase(loyalty_participant, merchant_in(loyalty), 5000)
    event = loyalty_participant.events.get(type="purchase")
    other_clients_participant = make_participant(SchemeFactory())
    purchase(other_clients_participant, merchant_in(other_clients_participant.scheme), 100)

    entry = draw_enter_purchase(draw=draw, customer_event=event, actor="tests")

    assert (entry.kind, entry.customer_id, entry.ticket) == (
        "purchase",
        loyalty_participant.customer_id,
        f"purchase:{event.pk}",
    )
    with pytest.raises(DrawError, match="already entered this draw"):
        draw_enter_purchase(draw=draw, customer_event=event, actor="tests")
    with pytest.raises(DrawError, match="another client's campaign"):
        draw_enter_purchase(
            draw=draw,
            customer_event=other_clients_participant.events.get(type="purchase"),
            actor="tests",
        )
    with pytest.raises(DrawError, match="closed"):
        draw_enter_purchase(
            draw=draw, customer_event=event, actor="tests", now=draw.entries_close_at
        )
    assert draw.entries.count() == 1


# --- the draw ----------------------------------------------------------------------------


def test_a_draw_cannot_run_before_entries_close(lucky):
    scheme, prize = lucky
    draw = make_draw(scheme, prize)

    with pytest.raises(DrawError, match="the draw runs after that"):
        draw_run(draw_id=draw.pk, actor="tests")

    assert Draw.objects.get(pk=draw.pk).status == Draw.Status.SCHEDULED
    assert not Run.objects.filter(kind=Run.Kind.DRAW).exists()


def test_the_draw_picks_winners_and_ordered_reserves_and_reveals_the_seed(drawn, lucky):
    _scheme, prize = lucky
    results = results_of(drawn)

    assert [(result.position, result.is_reserve, result.status) for result in results] == [
        (1, False, "pending_claim"),
        (2, False, "pending_claim"),
        (3, True, "reserve"),
        (4, True, "reserve"),
        (5, True, "reserve"),
    ]
    assert len({result.customer_id for result in results}) == 5
    assert results[0].claim_deadline_at == drawn.scheme.claim_deadline_at
    assert results[2].claim_deadline_at is None
    assert Prize.objects.get(pk=prize.pk).quantity_awarded == 2
    assert (drawn.status, drawn.entries_count) == (Draw.Status.DRAWN, 10)
    run = Run.objects.get(pk=drawn.run_id)
    assert (run.kind, run.status, run.processed_items, run.posted_items) == (
        "draw",
        "succeeded",
        10,
        5,
    )
    facts = draw_public_facts(drawn)
    assert facts["seed"] == drawn.seed
    assert hashlib.sha256(bytes.fromhex(facts["seed"])).hexdigest() == facts["seed_hash"]
    assert facts["drawn_entry_ids"] == [result.entry_id for result in results]
    assert facts["entries_digest"] == drawn.entries_digest


def test_running_a_drawn_draw_again_changes_nothing(drawn):
    before = [(result.pk, result.entry_id) for result in results_of(drawn)]

    again = draw_run(draw_id=drawn.pk, actor="tests")

    assert again.drawn_at == drawn.drawn_at
    assert [(result.pk, result.entry_id) for result in results_of(drawn)] == before
    assert Prize.objects.get(pk=drawn.prize_id).quantity_awarded == 2


def test_one_customer_with_many_entries_is_picked_at_most_once(lucky):
    scheme, prize = lucky
    draw = make_draw(scheme, prize, winners=2, reserves=5)
    keen, other = CustomerFactory(), CustomerFactory()
    enter_codes(scheme, [keen] * 6 + [other])

    draw_run(draw_id=draw.pk, actor="tests", now=closed(draw))

    assert sorted(result.customer_id for result in results_of(draw)) == sorted([keen.pk, other.pk])


def test_a_draw_with_no_entries_has_no_results_and_takes_no_stock(lucky):
    scheme, prize = lucky
    draw = make_draw(scheme, prize, winners=2)

    drawn = draw_run(draw_id=draw.pk, actor="tests", now=closed(draw))

    assert (drawn.status, drawn.entries_count) == (Draw.Status.DRAWN, 0)
    assert results_of(drawn) == []
    assert Prize.objects.get(pk=prize.pk).quantity_awarded == 0


def test_a_draw_without_stock_for_its_winners_is_refused_and_writes_nothing(lucky):
    scheme, prize = lucky
    draw = make_draw(scheme, prize, winners=2)
    enter_codes(scheme, [CustomerFactory(), CustomerFactory()])
    Prize.objects.filter(pk=prize.pk).update(quantity_total=1)

    with pytest.raises(DrawError, match="has fewer than 2 left"):
        draw_run(draw_id=draw.pk, actor="tests", now=closed(draw))

    assert Draw.objects.get(pk=draw.pk).status == Draw.Status.SCHEDULED
    assert results_of(draw) == []
    assert Prize.objects.get(pk=prize.pk).quantity_awarded == 0


def test_the_draw_algorithm_is_pinned_by_a_published_test_vector():
    # docs/CODES_AND_DRAWS.md gives these vectors for re-implementations.
    everyone = draw_select(
        seed_hex="00" * 32,
        algorithm=DRAW_ALGORITHM,
        customer_ids=list(range(1, 11)),
        picks_wanted=4,
    )
    repeated = draw_select(
        seed_hex="00" * 32,
        algorithm=DRAW_ALGORITHM,
        customer_ids=[1, 1, 1, 1, 1, 2, 2, 2, 3, 3],
        picks_wanted=4,
    )

    assert everyone == [8, 1, 3, 6]
    assert repeated == [8, 1, 6]


def test_every_entry_has_the_same_chance_to_win():
    # 10 entries, one winner, 20,000 seeds: each entry wins about 2,000 times
    # (standard deviation ~42); five deviations either way is a generous bound.
    wins = Counter(
        draw_select(
            seed_hex=hashlib.sha256(str(seed).encode()).hexdigest(),
            algorithm=DRAW_ALGORITHM,
            customer_ids=list(range(10)),
            picks_wanted=1,
        )[0]
        for seed in range(20_000)
    )

    assert sorted(wins) == list(range(10))
    assert all(1790 <= count <= 2210 for count in wins.values()), wins


# --- verification ------------------------------------------------------------------------


def test_verify_draw_re_derives_the_same_winners(drawn, capsys):
    result = draw_verify(draw=drawn)
    call_command("verify_draw", drawn.pk)

    assert result.is_ok
    assert result.derived_entry_ids == [r.entry_id for r in results_of(drawn)]
    out = capsys.readouterr().out
    assert f"revealed seed:       {drawn.seed}" in out
    assert "OK: the seed matches its published hash and re-derives all 5 results." in out


def test_an_entry_added_after_the_draw_is_detected(drawn):
    late_code = Code.objects.get(batch=make_code_batch(drawn.scheme, 1))
    DrawEntry.objects.create(
        draw=drawn, customer=CustomerFactory(), kind=DrawEntry.Kind.CODE, code=late_code
    )

    result = draw_verify(draw=drawn)

    assert not result.is_ok
    assert result.problems[0].startswith("The entry list has changed since the draw (11 entries")
    with pytest.raises(CommandError, match="does NOT verify"):
        call_command("verify_draw", drawn.pk)


def test_an_entry_moved_to_another_customer_is_detected(drawn):
    entry = DrawEntry.objects.filter(draw=drawn).exclude(result__isnull=False).first()
    DrawEntry.objects.filter(pk=entry.pk).update(customer=CustomerFactory())

    assert "The entry list has changed" in " ".join(draw_verify(draw=drawn).problems)


def test_a_changed_seed_is_detected(drawn):
    # Even a seed and hash replaced together disagree with the hash published at scheduling.
    forged = "cd" * 32
    Draw.objects.filter(pk=drawn.pk).update(
        seed=forged, seed_hash=hashlib.sha256(bytes.fromhex(forged)).hexdigest()
    )
    drawn.refresh_from_db()

    problems = draw_verify(draw=drawn).problems

    assert "The seed hash differs from the one published when the draw was scheduled." in problems
    assert (
        "The stored winners and reserves differ from the ones the seed and the entry list give."
        in problems
    )


def test_a_seed_that_does_not_match_its_hash_is_detected(drawn):
    Draw.objects.filter(pk=drawn.pk).update(seed="ee" * 32)
    drawn.refresh_from_db()

    assert "The revealed seed does not match the published seed hash." in (
        draw_verify(draw=drawn).problems
    )


def test_swapped_results_are_detected(drawn):
    first, _second, third, *_ = results_of(drawn)
    DrawResult.objects.filter(pk=first.pk).update(position=99)
    DrawResult.objects.filter(pk=third.pk).update(position=1)
    DrawResult.objects.filter(pk=first.pk).update(position=3)

    assert draw_verify(draw=drawn).problems == [
        "The stored winners and reserves differ from the ones the seed and the entry list give."
    ]


def test_a_draw_not_yet_run_cannot_be_verified(lucky):
    scheme, prize = lucky
    draw = make_draw(scheme, prize)

    assert draw_verify(draw=draw).problems == [
        "The draw has not been run, so its seed is not revealed yet."
    ]


# --- claiming and forfeiting -------------------------------------------------------------


@pytest.fixture
def promotions():
    calls = []

    def subscriber(**payload):
        calls.append(payload)

    subscribe(RESERVE_PROMOTED_EVENT, subscriber)
    yield calls
    unsubscribe(RESERVE_PROMOTED_EVENT, subscriber)


def test_a_forfeited_winner_is_replaced_by_the_first_reserve_notified_once(
    drawn, promotions, django_capture_on_commit_callbacks
):
    winner, _second, first_reserve, second_reserve, _third = results_of(drawn)

    with django_capture_on_commit_callbacks(execute=True):
        outcome = draw_result_forfeit(
            result=winner, reason="Claim finally rejected: invoice forged.", actor="tests"
        )
    with django_capture_on_commit_callbacks(execute=True):
        repeated = result_forfeit(result=winner, reason="again", actor="tests")

    winner.refresh_from_db()
    first_reserve.refresh_from_db()
    second_reserve.refresh_from_db()
    assert (winner.status, winner.forfeit_reason) == (
        "forfeited",
        "Claim finally rejected: invoice forged.",
    )
    assert outcome.promoted == first_reserve
    assert (first_reserve.status, first_reserve.replaces_id) == ("promoted", winner.pk)
    assert first_reserve.claim_deadline_at == drawn.scheme.claim_deadline_at
    assert second_reserve.status == "reserve"
    assert (repeated.changed, repeated.promoted) == (False, None)
    assert len(promotions) == 1
    assert promotions[0]["event_name"] == RESERVE_PROMOTED_EVENT
    assert promotions[0]["customer_id"] == first_reserve.customer_id
    assert promotions[0]["event_id"] == f"draw-result-{first_reserve.pk}-promoted"
    assert promotions[0]["draw"]["prize_name"] == "Weekend trip"
    # The prize passed from the winner to the reserve: stock unchanged.
    assert Prize.objects.get(pk=drawn.prize_id).quantity_awarded == 2
    assert list(
        AuditEvent.objects.filter(action__startswith="draw_result.")
        .order_by("pk")
        .values_list("action", "object_id")
    ) == [("draw_result.forfeit", str(winner.pk)), ("draw_result.promote", str(first_reserve.pk))]


def test_with_no_reserve_left_the_prize_goes_back_to_stock(lucky, promotions):
    scheme, prize = lucky
    draw = make_draw(scheme, prize, winners=1, reserves=0)
    enter_codes(scheme, [CustomerFactory(), CustomerFactory()])
    draw_run(draw_id=draw.pk, actor="tests", now=closed(draw))
    (winner,) = results_of(draw)
    assert Prize.objects.get(pk=prize.pk).quantity_awarded == 1

    outcome = draw_result_forfeit(result=winner, reason="rejected", actor="tests")

    assert (outcome.changed, outcome.promoted) == (True, None)
    assert Prize.objects.get(pk=prize.pk).quantity_awarded == 0
    assert promotions == []


def test_a_reserve_cannot_forfeit_before_promotion(drawn):
    reserve = results_of(drawn)[2]

    with pytest.raises(InvalidTransition):
        draw_result_forfeit(result=reserve, reason="x", actor="tests")

    assert DrawResult.objects.get(pk=reserve.pk).status == "reserve"


def test_a_promoted_reserve_gets_at_least_the_minimum_days_to_claim(drawn):
    winner, _second, first_reserve, *_ = results_of(drawn)
    late = drawn.scheme.claim_deadline_at - timedelta(days=1)

    draw_result_forfeit(result=winner, reason="rejected", actor="tests", now=late)

    first_reserve.refresh_from_db()
    assert first_reserve.claim_deadline_at == late + timedelta(days=drawn.minimum_claim_days)


def test_a_winner_claims_in_time_but_not_after_the_deadline(drawn):
    winner, second, *_ = results_of(drawn)

    claimed = draw_result_claim(result=winner, actor="tests")
    with pytest.raises(InvalidTransition, match="deadline for claiming this prize has passed"):
        draw_result_claim(result=second, actor="tests", now=second.claim_deadline_at)

    assert (claimed.status, claimed.claimed_at is not None) == ("claimed", True)
    assert DrawResult.objects.get(pk=second.pk).status == "pending_claim"
    assert list(draw_wins_for_customer(customer=winner.customer)) == [claimed]


def test_the_deadline_sweep_forfeits_unclaimed_winners_and_promotes_reserves(
    drawn, promotions, django_capture_on_commit_callbacks
):
    winner, second, first_reserve, second_reserve, third_reserve = results_of(drawn)
    draw_result_claim(result=winner, actor="tests")
    after_deadline = drawn.scheme.claim_deadline_at + timedelta(minutes=1)

    with django_capture_on_commit_callbacks(execute=True):
        forfeited = draw_results_forfeit_expired(now=after_deadline)
    again = draw_results_forfeit_expired(now=after_deadline)

    statuses = {result.pk: result.status for result in results_of(drawn)}
    assert (forfeited, again) == (1, 0)
    assert statuses == {
        winner.pk: "claimed",
        second.pk: "forfeited",
        first_reserve.pk: "promoted",
        second_reserve.pk: "reserve",
        third_reserve.pk: "reserve",
    }
    assert DrawResult.objects.get(pk=second.pk).forfeit_reason == FORFEIT_REASON_DEADLINE
    assert DrawResult.objects.get(pk=first_reserve.pk).claim_deadline_at == (
        after_deadline + timedelta(days=drawn.minimum_claim_days)
    )
    assert [call["customer_id"] for call in promotions] == [first_reserve.customer_id]


# --- admin -------------------------------------------------------------------------------


def test_admin_schedules_runs_and_verifies_a_draw(client, settings, lucky):
    settings.STAFF_OTP_REQUIRED = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    scheme, prize = lucky
    operator = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(operator)
    closes = timezone.localtime() + timedelta(days=2)

    response = client.post(
        reverse("admin:rewards_draw_add"),
        {
            "scheme": scheme.pk,
            "prize": prize.pk,
            "name": "Week 1",
            "winners_count": 1,
            "reserves_count": 1,
            "entries_close_at_0": closes.strftime("%Y-%m-%d"),
            "entries_close_at_1": closes.strftime("%H:%M:%S"),
            "minimum_claim_days": 14,
        },
    )
    draw = Draw.objects.get(scheme=scheme)
    page = client.get(reverse("admin:rewards_draw_change", args=[draw.pk]))
    enter_codes(scheme, [CustomerFactory(), CustomerFactory()])
    Draw.objects.filter(pk=draw.pk).update(entries_close_at=timezone.now())
    run = client.post(
        reverse("admin:rewards_draw_changelist"),
        {"action": "run_now", "_selected_action": [draw.pk]},
        follow=True,
    )
    verify = client.post(
        reverse("admin:rewards_draw_changelist"),
        {"action": "verify", "_selected_action": [draw.pk]},
        follow=True,
    )

    assert response.status_code == 302
    assert draw.created_by == operator
    assert draw.seed_hash in page.content.decode()
    assert draw.seed not in page.content.decode()
    assert "secret until the draw" in page.content.decode()
    assert "drawn from 2 entries; seed revealed." in run.content.decode()
    assert "Week 1 verifies" in verify.content.decode()
    assert len(results_of(draw)) == 2
