"""Code batches (generation with COPY, seeded prize pre-assignment, verification, export),
code entry, and prize inventory under concurrency."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from config.celery import app as celery_app
from crm.models import AuditEvent
from rewards import codes as code_format
from rewards.models import Code, CodeBatch, Prize, Run
from rewards.services import codes as codes_service
from rewards.services.codes import (
    ASSIGNMENT_ALGORITHM,
    CodeBatchError,
    CodeEntryOutcome,
    code_batch_export,
    code_batch_generate,
    code_batch_run,
    code_batch_verify,
    code_enter,
    code_void,
    prize_assignment,
    seeded_shuffle,
)
from rewards.services.errors import InvalidRequest
from rewards.services.prizes import PrizeOutOfStock, prize_release, prize_reserve
from rewards.tasks_codes import code_batch_generate_task
from tests.crm.factories import CustomerFactory, UserFactory
from tests.rewards.factories import (
    InstantWinSchemeFactory,
    LuckyDrawSchemeFactory,
    PrizeFactory,
    SchemeFactory,
    make_code_batch,
    make_draw,
)

db = pytest.mark.django_db


def codes_of(batch: CodeBatch) -> list[Code]:
    return list(Code.objects.filter(batch=batch).order_by("serial"))


# --- generation --------------------------------------------------------------------------


@db
def test_a_small_batch_is_generated_inline_with_valid_unique_codes_in_serial_order():
    scheme = InstantWinSchemeFactory()

    batch = make_code_batch(scheme, 750)

    codes = codes_of(batch)
    assert batch.status == CodeBatch.Status.READY
    assert batch.completed_at is not None
    assert len(codes) == 750
    assert len({code.value for code in codes}) == 750
    assert all(code_format.is_valid(code.value) for code in codes)
    assert [code.serial for code in codes] == list(range(1, 751))
    assert {(code.status, code.scheme_id, code.prize_id) for code in codes} == {
        ("issued", scheme.pk, None)
    }
    run = Run.objects.get(pk=batch.run_id)
    assert (run.kind, run.status, run.total_items, run.processed_items, run.cursor) == (
        "code_generation",
        "succeeded",
        750,
        750,
        750,
    )
    assert list(
        AuditEvent.objects.filter(object_id=str(batch.pk), object_type="rewards.codebatch")
        .order_by("pk")
        .values_list("action", flat=True)
    ) == ["code_batch.generate", "code_batch.ready"]


@db
def test_codes_are_inserted_with_copy_not_insert_statements():
    scheme = InstantWinSchemeFactory()

    with CaptureQueriesContext(connection) as queries:
        batch = make_code_batch(scheme, 300)

    inserts = [query["sql"] for query in queries if 'INSERT INTO "rewards_code"' in query["sql"]]
    assert inserts == []
    assert Code.objects.filter(batch=batch).count() == 300


@db
def test_codes_spread_over_several_chunks_keep_contiguous_serials(monkeypatch):
    monkeypatch.setattr(codes_service, "CHUNK_SIZE", 64)
    scheme = InstantWinSchemeFactory()
    prize = PrizeFactory(scheme=scheme, quantity_total=50)

    batch = make_code_batch(scheme, 200, {prize.pk: 20})

    assert [code.serial for code in codes_of(batch)] == list(range(1, 201))
    assert Code.objects.filter(batch=batch, prize=prize).count() == 20
    assert code_batch_verify(batch=batch).is_ok


@db
def test_a_run_resumes_after_its_cursor_without_writing_a_serial_twice(monkeypatch):
    # Given a large batch whose worker died after committing one chunk
    monkeypatch.setattr(codes_service, "CHUNK_SIZE", 100)
    scheme = InstantWinSchemeFactory()
    batch = code_batch_generate(scheme=scheme, size=250, actor="tests", inline=False)
    Run.objects.filter(pk=batch.run_id).update(status=Run.Status.RUNNING)
    supply = codes_service._CodeSupply()
    codes_service._copy_next_chunk(
        run_id=batch.run_id,
        batch=batch,
        prizes=codes_service._prizes_by_serial(batch),
        supply=supply,
    )
    supply.close()
    assert Run.objects.get(pk=batch.run_id).cursor == 100

    # When the task is delivered again
    code_batch_generate_task.apply(args=[batch.run_id])

    # Then it wrote the remaining serials only, and running it once more changes nothing
    batch.refresh_from_db()
    assert batch.status == CodeBatch.Status.READY
    assert [code.serial for code in codes_of(batch)] == list(range(1, 251))
    code_batch_run(run_id=batch.run_id)
    assert Code.objects.filter(batch=batch).count() == 250


@db
def test_a_large_batch_goes_to_the_runs_queue_after_commit(django_capture_on_commit_callbacks):
    scheme = InstantWinSchemeFactory()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        batch = code_batch_generate(
            scheme=scheme, size=codes_service.INLINE_BATCH_MAX + 1, actor="tests"
        )

    assert batch.status == CodeBatch.Status.GENERATING
    assert Run.objects.get(pk=batch.run_id).status == Run.Status.QUEUED
    assert Code.objects.filter(batch=batch).count() == 0
    assert len(callbacks) == 1
    assert celery_app.amqp.router.route({}, code_batch_generate_task.name)["queue"].name == "runs"

    code_batch_generate_task.apply(args=[batch.run_id])

    batch.refresh_from_db()
    assert batch.status == CodeBatch.Status.READY
    assert Code.objects.filter(batch=batch).count() == codes_service.INLINE_BATCH_MAX + 1


@db
def test_a_second_generation_for_the_same_campaign_waits_for_the_first():
    scheme = InstantWinSchemeFactory()
    code_batch_generate(scheme=scheme, size=50_000, actor="tests", inline=False)

    with pytest.raises(CodeBatchError, match="already being generated"):
        code_batch_generate(scheme=scheme, size=10, actor="tests")

    assert CodeBatch.objects.filter(scheme=scheme).count() == 1


@db
def test_a_code_clash_with_an_earlier_batch_regenerates_the_chunk(monkeypatch):
    scheme = InstantWinSchemeFactory()
    existing = make_code_batch(scheme, 1)
    taken = Code.objects.get(batch=existing).value
    real_new_codes = codes_service.new_codes
    calls = []

    def first_chunk_clashes(count):
        calls.append(count)
        if len(calls) == 1:
            yield taken
            yield from real_new_codes(count - 1)
        else:
            yield from real_new_codes(count)

    monkeypatch.setattr(codes_service, "new_codes", first_chunk_clashes)

    batch = make_code_batch(scheme, 20)

    assert calls == [20, 20]
    assert batch.status == CodeBatch.Status.READY
    assert Code.objects.filter(batch=batch).count() == 20
    assert Code.objects.filter(value=taken).count() == 1


@db
@pytest.mark.parametrize(
    ("size", "message"),
    [(0, "between 1 and"), (codes_service.MAX_BATCH_SIZE + 1, "between 1 and")],
)
def test_batch_sizes_out_of_range_are_refused(size, message):
    with pytest.raises(CodeBatchError, match=message):
        code_batch_generate(scheme=InstantWinSchemeFactory(), size=size, actor="tests")
    assert CodeBatch.objects.count() == 0


@db
def test_codes_are_refused_for_a_loyalty_scheme_and_prizes_for_a_lucky_draw():
    loyalty = SchemeFactory()
    lucky = LuckyDrawSchemeFactory()
    prize = PrizeFactory(scheme=lucky)

    with pytest.raises(CodeBatchError, match="instant-win and lucky-draw"):
        code_batch_generate(scheme=loyalty, size=10, actor="tests")
    with pytest.raises(CodeBatchError, match="only in instant-win"):
        code_batch_generate(scheme=lucky, size=10, actor="tests", prize_plan={prize.pk: 1})

    assert CodeBatch.objects.count() == 0


@db
def test_a_plan_naming_another_campaigns_prize_or_more_prizes_than_codes_is_refused():
    scheme = InstantWinSchemeFactory()
    foreign = PrizeFactory()
    own = PrizeFactory(scheme=scheme)

    with pytest.raises(CodeBatchError, match="are not prizes of"):
        code_batch_generate(scheme=scheme, size=10, actor="tests", prize_plan={foreign.pk: 1})
    with pytest.raises(CodeBatchError, match="assigns 11 prizes but the batch has 10 codes"):
        code_batch_generate(scheme=scheme, size=10, actor="tests", prize_plan={own.pk: 11})


# --- pre-assignment and inventory --------------------------------------------------------


@db
def test_prizes_are_pre_assigned_by_the_recorded_seed_and_re_derive():
    scheme = InstantWinSchemeFactory()
    speaker = PrizeFactory(scheme=scheme, quantity_total=10)
    voucher = PrizeFactory(scheme=scheme, quantity_total=40)

    batch = make_code_batch(scheme, 500, {speaker.pk: 7, voucher.pk: 30})

    assert batch.prize_assignment_algorithm == ASSIGNMENT_ALGORITHM
    assert len(batch.prize_assignment_seed) == 64
    assert batch.prize_plan == {str(speaker.pk): 7, str(voucher.pk): 30}
    stored = [code.prize_id for code in codes_of(batch)]
    assert Counter(stored) == {None: 463, speaker.pk: 7, voucher.pk: 30}
    assert stored == prize_assignment(
        seed_hex=batch.prize_assignment_seed,
        algorithm=batch.prize_assignment_algorithm,
        size=500,
        prize_plan=batch.prize_plan,
    )
    # Pre-assignment promises stock; nothing is won until a code is entered.
    assert Prize.objects.get(pk=speaker.pk).quantity_awarded == 0
    verification = code_batch_verify(batch=batch)
    assert (verification.is_ok, verification.codes_checked) == (True, 500)


def test_the_shuffle_is_pinned_by_a_published_test_vector():
    # docs/CODES_AND_DRAWS.md gives this vector so an auditor can check a re-implementation.
    items = list(range(10))

    seeded_shuffle(items, bytes(32))

    assert items == [7, 6, 9, 5, 4, 2, 3, 1, 0, 8]


def test_different_seeds_give_different_assignments_and_the_same_seed_the_same():
    plan = {"1": 5}
    first = prize_assignment(
        seed_hex="11" * 32, algorithm=ASSIGNMENT_ALGORITHM, size=100, prize_plan=plan
    )
    again = prize_assignment(
        seed_hex="11" * 32, algorithm=ASSIGNMENT_ALGORITHM, size=100, prize_plan=plan
    )
    other = prize_assignment(
        seed_hex="22" * 32, algorithm=ASSIGNMENT_ALGORITHM, size=100, prize_plan=plan
    )

    assert first == again
    assert first != other
    assert first.count(1) == other.count(1) == 5


@db
def test_verify_code_batch_reports_a_moved_prize(capsys):
    scheme = InstantWinSchemeFactory()
    prize = PrizeFactory(scheme=scheme, quantity_total=5)
    batch = make_code_batch(scheme, 100, {prize.pk: 5})
    call_command("verify_code_batch", batch.pk)
    assert "OK: all 100 codes" in capsys.readouterr().out

    # When someone moves a prize from its code to a code of their choosing
    winner = Code.objects.filter(batch=batch, prize=prize).order_by("serial").first()
    loser = Code.objects.filter(batch=batch, prize__isnull=True).order_by("serial").first()
    Code.objects.filter(pk=winner.pk).update(prize=None)
    Code.objects.filter(pk=loser.pk).update(prize=prize)

    # Then verification names both codes and the command fails
    result = code_batch_verify(batch=batch)
    assert result.mismatch_count == 2
    assert {mismatch.serial for mismatch in result.mismatches} == {winner.serial, loser.serial}
    with pytest.raises(CommandError, match="does NOT match its seed: 2 codes differ"):
        call_command("verify_code_batch", batch.pk)
    out = capsys.readouterr().out
    assert f"serial {loser.serial} ({code_format.display(loser.value)})" in out


@db
def test_a_replaced_seed_is_caught_by_the_audit_trail_even_if_prizes_match_it():
    # Given someone who replaces the seed and rewrites every prize to match the new seed
    scheme = InstantWinSchemeFactory()
    prize = PrizeFactory(scheme=scheme, quantity_total=5)
    batch = make_code_batch(scheme, 50, {prize.pk: 5})
    forged_seed = "ab" * 32
    CodeBatch.objects.filter(pk=batch.pk).update(prize_assignment_seed=forged_seed)
    forged = prize_assignment(
        seed_hex=forged_seed, algorithm=ASSIGNMENT_ALGORITHM, size=50, prize_plan=batch.prize_plan
    )
    for code in codes_of(batch):
        Code.objects.filter(pk=code.pk).update(prize_id=forged[code.serial - 1])
    batch.refresh_from_db()

    result = code_batch_verify(batch=batch)

    assert result.mismatch_count == 0
    assert result.problems == [
        "The batch's seed, algorithm, plan or size differ from what the audit trail recorded "
        "at generation."
    ]
    assert not result.is_ok


@db
def test_a_missing_code_is_reported():
    scheme = InstantWinSchemeFactory()
    batch = make_code_batch(scheme, 10)
    Code.objects.filter(batch=batch, serial=10).delete()

    result = code_batch_verify(batch=batch)

    assert result.problems == ["The batch should have 10 codes; 9 are stored."]


@db
def test_a_plan_may_not_promise_more_than_the_stock_left():
    scheme = InstantWinSchemeFactory()
    prize = PrizeFactory(scheme=scheme, quantity_total=10, quantity_awarded=2)
    make_code_batch(scheme, 20, {prize.pk: 5})

    # 10 in stock, 2 won, 5 on unentered codes: 3 are left
    with pytest.raises(CodeBatchError, match=r"Only 3 of .* are left to assign"):
        code_batch_generate(scheme=scheme, size=20, actor="tests", prize_plan={prize.pk: 4})
    assert CodeBatch.objects.filter(scheme=scheme).count() == 1

    batch = make_code_batch(scheme, 20, {prize.pk: 3})
    assert Code.objects.filter(batch=batch, prize=prize).count() == 3


@db
def test_voiding_a_pre_assigned_code_frees_its_promise():
    scheme = InstantWinSchemeFactory()
    prize = PrizeFactory(scheme=scheme, quantity_total=1)
    batch = make_code_batch(scheme, 5, {prize.pk: 1})
    winner = Code.objects.get(batch=batch, prize=prize)
    with pytest.raises(CodeBatchError):
        code_batch_generate(scheme=scheme, size=5, actor="tests", prize_plan={prize.pk: 1})

    code_void(code=winner, actor="tests", reason="Card reported stolen")

    assert Code.objects.get(pk=winner.pk).status == Code.Status.VOID
    assert make_code_batch(scheme, 5, {prize.pk: 1}).status == CodeBatch.Status.READY
    assert AuditEvent.objects.filter(action="code.void", object_id=str(winner.pk)).exists()


# --- export ------------------------------------------------------------------------------


@db
def test_the_printing_export_has_codes_in_display_form_and_no_prizes():
    scheme = InstantWinSchemeFactory()
    prize = PrizeFactory(scheme=scheme, name="Bluetooth speaker")
    batch = make_code_batch(scheme, 30, {prize.pk: 3})
    operator = UserFactory()

    rows = list(code_batch_export(batch=batch, actor=operator))

    assert rows[0] == ["code"]
    assert rows[1:] == [[code_format.display(code.value)] for code in codes_of(batch)]
    assert AuditEvent.objects.get(action="code_batch.export").after == {
        "include_prizes": False,
        "codes": 30,
    }


@db
def test_the_confidential_export_lists_serial_code_and_prize():
    scheme = InstantWinSchemeFactory()
    prize = PrizeFactory(scheme=scheme, name="Bluetooth speaker")
    batch = make_code_batch(scheme, 10, {prize.pk: 2})

    rows = list(code_batch_export(batch=batch, actor="tests", include_prizes=True))

    assert rows[0] == ["serial", "code", "prize"]
    assert sorted(row[2] for row in rows[1:]) == [""] * 8 + ["Bluetooth speaker"] * 2
    assert [row[0] for row in rows[1:]] == [str(serial) for serial in range(1, 11)]


@db
def test_admin_streams_the_export_and_finds_codes_typed_any_way(client, settings):
    settings.STAFF_OTP_REQUIRED = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    scheme = InstantWinSchemeFactory()
    batch = make_code_batch(scheme, 5)
    code = codes_of(batch)[2]
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.post(
        reverse("admin:rewards_codebatch_changelist"),
        {"action": "export_for_printing", "_selected_action": [batch.pk]},
    )
    typed = code_format.display(code.value).lower().replace("-", " ")
    search = client.get(reverse("admin:rewards_code_changelist"), {"q": typed})
    prefix = client.get(reverse("admin:rewards_code_changelist"), {"q": code.value[:6]})

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[0] == "code"
    assert code_format.display(code.value) in body
    assert search.status_code == 200
    assert code_format.display(code.value) in search.content.decode()
    assert code_format.display(code.value) in prefix.content.decode()
    assert client.get(reverse("admin:rewards_codebatch_add")).status_code == 200
    page = client.get(reverse("admin:rewards_codebatch_change", args=[batch.pk]))
    assert "Succeeded 5 / 5 (100%)" in page.content.decode()
    code_page = client.get(reverse("admin:rewards_code_change", args=[code.pk]))
    assert code_format.display(code.value) in code_page.content.decode()


@db
def test_admin_generates_a_batch_from_the_add_form(client, settings):
    settings.STAFF_OTP_REQUIRED = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    scheme = InstantWinSchemeFactory()
    prize = PrizeFactory(scheme=scheme, name="Cinema voucher", quantity_total=10)
    operator = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(operator)

    response = client.post(
        reverse("admin:rewards_codebatch_add"),
        {"scheme": scheme.pk, "size": 40, "prize_plan_text": "cinema voucher = 4"},
    )

    assert response.status_code == 302
    batch = CodeBatch.objects.get(scheme=scheme)
    assert (batch.size, batch.status, batch.created_by) == (40, "ready", operator)
    assert Code.objects.filter(batch=batch, prize=prize).count() == 4
    refused = client.post(
        reverse("admin:rewards_codebatch_add"),
        {"scheme": scheme.pk, "size": 40, "prize_plan_text": "no such prize = 4"},
    )
    assert refused.status_code == 200
    assert "name a prize of this campaign" in refused.content.decode()


# --- entry -------------------------------------------------------------------------------


@pytest.fixture
def instant_win(db):
    scheme = InstantWinSchemeFactory()
    prize = PrizeFactory(scheme=scheme, name="Bluetooth speaker", quantity_total=3)
    batch = make_code_batch(scheme, 20, {prize.pk: 2})
    winning = list(Code.objects.filter(batch=batch, prize=prize).order_by("serial"))
    losing = list(Code.objects.filter(batch=batch, prize__isnull=True).order_by("serial"))
    return scheme, prize, winning, losing


def test_a_winning_code_typed_loosely_wins_its_prize_and_takes_it_from_stock(instant_win):
    scheme, prize, winning, _losing = instant_win
    customer = CustomerFactory()
    typed = " " + code_format.display(winning[0].value).lower().replace("-", " - ") + " "

    result = code_enter(scheme_or_none=scheme, text=typed, customer=customer)

    assert result.outcome == CodeEntryOutcome.WON
    assert result.accepted
    assert result.is_winner
    assert (result.prize_id, result.prize_name, result.code_id) == (
        prize.pk,
        "Bluetooth speaker",
        winning[0].pk,
    )
    assert result.message == "Congratulations! You have won: Bluetooth speaker."
    code = Code.objects.get(pk=winning[0].pk)
    assert (code.status, code.entered_by) == ("entered", customer)
    assert Prize.objects.get(pk=prize.pk).quantity_awarded == 1
    assert AuditEvent.objects.filter(action="code.enter", object_id=str(code.pk)).count() == 1


def test_a_losing_code_is_entered_without_a_prize(instant_win):
    _scheme, prize, _winning, losing = instant_win

    result = code_enter(scheme_or_none=None, text=losing[0].value, customer=CustomerFactory())

    assert result.outcome == CodeEntryOutcome.NO_PRIZE
    assert result.accepted
    assert not result.is_winner
    assert result.message == "Sorry, this code did not win. Thank you for taking part!"
    assert Code.objects.get(pk=losing[0].pk).status == "entered"
    assert Prize.objects.get(pk=prize.pk).quantity_awarded == 0


def test_a_typo_is_a_format_error_before_any_lookup(instant_win, django_assert_num_queries):
    scheme, _prize, winning, _losing = instant_win
    value = winning[0].value
    typo = value[:3] + ("A" if value[3] != "A" else "B") + value[4:]

    with django_assert_num_queries(0):
        result = code_enter(scheme_or_none=scheme, text=typo, customer=CustomerFactory.build())
        too_short = code_enter(scheme_or_none=scheme, text="ABC", customer=CustomerFactory.build())

    assert result.outcome == CodeEntryOutcome.FORMAT_ERROR
    assert result.message == "This code has a typo. Check each character and try again."
    assert too_short.message == "A code has 13 characters; this has 3."
    assert not result.accepted


def test_an_unknown_code_or_one_of_another_campaign_is_unknown(instant_win):
    scheme, _prize, winning, _losing = instant_win
    never_issued = next(code_format.new_codes(1))
    other_scheme = InstantWinSchemeFactory()
    customer = CustomerFactory()

    unknown = code_enter(scheme_or_none=scheme, text=never_issued, customer=customer)
    elsewhere = code_enter(scheme_or_none=other_scheme, text=winning[0].value, customer=customer)

    assert unknown.outcome == elsewhere.outcome == CodeEntryOutcome.UNKNOWN
    assert unknown.message == "We do not know this code for this campaign. Check it and try again."
    assert Code.objects.get(pk=winning[0].pk).status == "issued"


def test_a_code_entered_by_someone_else_is_already_used(instant_win):
    scheme, prize, winning, _losing = instant_win
    first, second = CustomerFactory(), CustomerFactory()
    code_enter(scheme_or_none=scheme, text=winning[0].value, customer=first)

    result = code_enter(scheme_or_none=scheme, text=winning[0].value, customer=second)

    assert result.outcome == CodeEntryOutcome.ALREADY_ENTERED
    assert result.message == "This code has already been used."
    assert result.prize_id is None
    assert Code.objects.get(pk=winning[0].pk).entered_by == first
    assert Prize.objects.get(pk=prize.pk).quantity_awarded == 1


def test_the_same_customer_entering_again_gets_their_prize_back_without_a_second_win(instant_win):
    scheme, prize, winning, _losing = instant_win
    customer = CustomerFactory()
    code_enter(scheme_or_none=scheme, text=winning[0].value, customer=customer)

    again = code_enter(scheme_or_none=scheme, text=winning[0].value, customer=customer)

    assert again.outcome == CodeEntryOutcome.ALREADY_YOURS
    assert again.is_winner
    assert again.prize_id == prize.pk
    assert Prize.objects.get(pk=prize.pk).quantity_awarded == 1


def test_a_void_code_is_refused(instant_win):
    scheme, _prize, winning, _losing = instant_win
    code_void(code=winning[0], actor="tests", reason="stolen")

    result = code_enter(scheme_or_none=scheme, text=winning[0].value, customer=CustomerFactory())

    assert result.outcome == CodeEntryOutcome.VOID
    assert result.message == "This code has been cancelled and can no longer be used."


@pytest.mark.parametrize(
    ("moment", "outcome", "message"),
    [
        ("before_start", CodeEntryOutcome.NOT_STARTED, "This campaign has not started yet."),
        ("after_end", CodeEntryOutcome.ENDED, "This campaign has ended."),
    ],
)
def test_entries_outside_the_campaign_are_refused(instant_win, moment, outcome, message):
    scheme, prize, winning, _losing = instant_win
    now = scheme.starts_at - timedelta(hours=1) if moment == "before_start" else scheme.ends_at

    result = code_enter(
        scheme_or_none=scheme, text=winning[0].value, customer=CustomerFactory(), now=now
    )

    assert (result.outcome, result.message) == (outcome, message)
    assert Code.objects.get(pk=winning[0].pk).status == "issued"
    assert Prize.objects.get(pk=prize.pk).quantity_awarded == 0


def test_after_the_claim_deadline_entries_and_returning_winners_are_refused(instant_win):
    scheme, _prize, winning, _losing = instant_win
    customer = CustomerFactory()
    code_enter(scheme_or_none=scheme, text=winning[0].value, customer=customer)
    scheme.ends_at = None
    scheme.save(update_fields=["ends_at"])
    late = scheme.claim_deadline_at + timedelta(minutes=1)

    returning = code_enter(
        scheme_or_none=scheme, text=winning[0].value, customer=customer, now=late
    )
    new = code_enter(scheme_or_none=scheme, text=winning[1].value, customer=customer, now=late)

    expected = "The deadline for claiming prizes in this campaign has passed."
    assert (returning.outcome, returning.message) == (
        CodeEntryOutcome.CLAIM_DEADLINE_PASSED,
        expected,
    )
    assert (new.outcome, new.message) == (CodeEntryOutcome.CLAIM_DEADLINE_PASSED, expected)
    assert Code.objects.get(pk=winning[1].pk).status == "issued"


def test_a_winning_code_whose_prize_ran_out_is_refused_and_left_unused(instant_win):
    scheme, prize, winning, _losing = instant_win
    Prize.objects.filter(pk=prize.pk).update(quantity_total=0)

    result = code_enter(scheme_or_none=scheme, text=winning[0].value, customer=CustomerFactory())

    assert result.outcome == CodeEntryOutcome.PRIZE_UNAVAILABLE
    assert not result.accepted
    assert Code.objects.get(pk=winning[0].pk).status == "issued"
    assert Prize.objects.get(pk=prize.pk).quantity_awarded == 0


@db
def test_a_code_of_a_batch_still_generating_is_unknown():
    scheme = InstantWinSchemeFactory()
    batch = make_code_batch(scheme, 3)
    CodeBatch.objects.filter(pk=batch.pk).update(status=CodeBatch.Status.GENERATING)

    result = code_enter(
        scheme_or_none=scheme, text=codes_of(batch)[0].value, customer=CustomerFactory()
    )

    assert result.outcome == CodeEntryOutcome.UNKNOWN


@db
def test_a_lucky_draw_code_enters_the_open_draw_once():
    scheme = LuckyDrawSchemeFactory()
    draw = make_draw(scheme, winners=1)
    code = codes_of(make_code_batch(scheme, 3))[0]
    customer = CustomerFactory()

    result = code_enter(scheme_or_none=scheme, text=code.value, customer=customer)
    again = code_enter(scheme_or_none=scheme, text=code.value, customer=customer)

    assert result.outcome == CodeEntryOutcome.DRAW_ENTERED
    assert result.draw_id == draw.pk
    assert result.message == f"You are in the draw for {draw.prize.name}. Good luck!"
    assert (again.outcome, again.draw_entry_id) == (
        CodeEntryOutcome.ALREADY_YOURS,
        result.draw_entry_id,
    )
    assert draw.entries.count() == 1


@db
def test_a_lucky_draw_code_with_no_open_draw_is_kept_for_later():
    scheme = LuckyDrawSchemeFactory()
    code = codes_of(make_code_batch(scheme, 1))[0]

    result = code_enter(scheme_or_none=scheme, text=code.value, customer=CustomerFactory())

    assert result.outcome == CodeEntryOutcome.NO_OPEN_DRAW
    assert result.message == "No draw is open for entries right now; your code has not been used."
    assert Code.objects.get(pk=code.pk).status == "issued"


# --- concurrency -------------------------------------------------------------------------


def _in_threads(count, work):
    """Runs ``work(index)`` in ``count`` threads released together; each thread has its own
    database connection, closed at the end."""
    barrier = threading.Barrier(count)
    results = [None] * count
    errors = []

    def run(index):
        try:
            barrier.wait(timeout=10)
            results[index] = work(index)
        except Exception as error:  # reported by the test
            errors.append(error)
        finally:
            connections[DEFAULT_DB_ALIAS].close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    return results


@pytest.mark.django_db(transaction=True)
def test_two_customers_entering_one_winning_code_at_once_make_one_winner():
    scheme = InstantWinSchemeFactory()
    prize = PrizeFactory(scheme=scheme, quantity_total=1)
    batch = make_code_batch(scheme, 2, {prize.pk: 1})
    winning = Code.objects.get(batch=batch, prize=prize)
    customers = [CustomerFactory(), CustomerFactory()]

    results = _in_threads(
        2,
        lambda index: (
            code_enter(scheme_or_none=scheme, text=winning.value, customer=customers[index]).outcome
        ),
    )

    assert sorted(results) == [CodeEntryOutcome.ALREADY_ENTERED, CodeEntryOutcome.WON]
    winner = customers[results.index(CodeEntryOutcome.WON)]
    assert Code.objects.get(pk=winning.pk).entered_by == winner
    assert Prize.objects.get(pk=prize.pk).quantity_awarded == 1


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_reservations_of_the_last_five_prizes_take_exactly_five():
    prize = PrizeFactory(quantity_total=10, quantity_awarded=5)

    def reserve(_index):
        try:
            prize_reserve(prize_id=prize.pk)
        except PrizeOutOfStock as error:
            return error.message
        return "reserved"

    results = _in_threads(20, reserve)

    assert Counter(results) == {"reserved": 5, f"{prize.name} is out of stock.": 15}
    assert Prize.objects.get(pk=prize.pk).quantity_awarded == 10


@db
def test_inventory_can_never_go_below_zero_or_release_more_than_won():
    prize = PrizeFactory(quantity_total=2, quantity_awarded=1)

    stock = prize_reserve(prize_id=prize.pk)
    with pytest.raises(PrizeOutOfStock, match="is out of stock"):
        prize_reserve(prize_id=prize.pk)
    with pytest.raises(PrizeOutOfStock):
        prize_reserve(prize_id=prize.pk, quantity=3)
    released = prize_release(prize_id=prize.pk, quantity=2)
    with pytest.raises(InvalidRequest, match="More prizes would be released than were ever won"):
        prize_release(prize_id=prize.pk)

    assert (stock.quantity_left, released.quantity_left) == (0, 2)
    assert Prize.objects.get(pk=prize.pk).quantity_awarded == 0


@db
def test_a_missing_prize_is_a_clear_error():
    with pytest.raises(InvalidRequest, match="There is no prize 987654"):
        prize_reserve(prize_id=987654)
