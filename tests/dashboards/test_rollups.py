"""The rollup tables against figures worked out by hand over a small ledger built with the
rewards services; incremental refreshes after new postings; idempotency; the rebuild."""

from datetime import date

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection

from dashboards.models import (
    CountedJournal,
    LedgerMonth,
    OfferMonth,
    ParticipantUnit,
    RollupState,
    SignUpMonth,
    TerminationMonth,
)
from dashboards.scoping import scope_for_user
from dashboards.selectors import BoardFilters, loyalty_board
from dashboards.services import ledger_rollup_refresh, rollups_rebuild, rollups_refresh
from dashboards.tasks import rollups_refresh_task
from rewards.models import Account, Journal
from tests.dashboards.conftest import AUG, EXPECTED_MONTHS, OCT, SEP, at, spend
from tests.rewards.conftest import purchase

pytestmark = pytest.mark.django_db

RANGE = BoardFilters(scheme=None, month_from=AUG, month_to=OCT)


def board_for(user, scheme=None, month_from=AUG, month_to=OCT):
    return loyalty_board(
        scope=scope_for_user(user),
        filters=BoardFilters(scheme=scheme, month_from=month_from, month_to=month_to),
    )


def month_dicts(board) -> dict[date, dict[str, int]]:
    keys = EXPECTED_MONTHS[AUG].keys()
    return {row.month: {key: getattr(row, key) for key in keys} for row in board.months}


def wallet_total(scheme) -> int:
    return sum(
        Account.objects.filter(scheme=scheme, kind=Account.Kind.WALLET).values_list(
            "balance_minor", flat=True
        )
    )


def rollup_rows():
    """Every rollup row, comparable across runs."""
    return (
        sorted(
            LedgerMonth.objects.values_list(
                "scheme_id",
                "month",
                "kind",
                "reversed_kind",
                "journal_count",
                "issued_minor",
                "redeemed_minor",
                "expired_minor",
                "wallet_net_minor",
            )
        ),
        sorted(
            OfferMonth.objects.values_list(
                "scheme_id", "offer_id", "month", "award_count", "awarded_minor"
            )
        ),
        sorted(SignUpMonth.objects.values_list("scheme_id", "month", "sign_ups")),
        sorted(
            TerminationMonth.objects.values_list("scheme_id", "month", "reason", "terminations")
        ),
        sorted(
            ParticipantUnit.objects.values_list(
                "scheme_id", "merchant_id", "effective", "terminated"
            ),
            key=str,
        ),
    )


def test_monthly_figures_equal_the_hand_computed_ones(ledger, operator):
    rollups_refresh()

    board = board_for(operator, scheme=ledger.scheme_a)

    assert month_dicts(board) == EXPECTED_MONTHS


def test_months_follow_the_scheme_time_zone(ledger):
    # P3's purchase at 23:30 UTC on 31 August is 1 September in Stockholm.
    rollups_refresh()

    september = LedgerMonth.objects.get(scheme=ledger.scheme_a, month=SEP, kind="award")
    assert (september.journal_count, september.issued_minor) == (1, 25)


def test_liability_is_exactly_the_sum_of_the_wallet_balances(ledger, operator):
    rollups_refresh()

    board = board_for(operator)
    liability = {row.scheme_id: row.liability_minor for row in board.schemes}
    assert liability == {ledger.scheme_a.pk: 85, ledger.scheme_b.pk: 500}
    assert liability[ledger.scheme_a.pk] == wallet_total(ledger.scheme_a)
    assert liability[ledger.scheme_b.pk] == wallet_total(ledger.scheme_b)


def test_scheme_participant_and_unit_figures(ledger, operator):
    rollups_refresh()

    board = board_for(operator, scheme=ledger.scheme_a)

    (scheme,) = board.schemes
    assert (
        scheme.participants_effective,
        scheme.participants_terminated,
        scheme.liability_minor,
        scheme.awarded_not_spent_minor,
    ) == (2, 2, 85, 165)
    assert [
        (unit.merchant_name, unit.effective, unit.terminated) for unit in board.sign_up_units
    ] == [("Shop North", 2, 0), ("Shop South", 0, 1), ("", 0, 1)]
    assert board.participants_effective == 2
    assert board.liability_minor == 85
    assert board.awarded_not_spent_minor == 165


def test_terminations_by_reason_per_month(ledger, operator):
    rollups_refresh()

    board = board_for(operator, scheme=ledger.scheme_a)

    assert board.termination_reasons == [("fraud", "Fraud"), ("inactivity", "Inactivity")]
    assert [(row.month, row.by_reason, row.total) for row in board.terminations] == [
        (AUG, {"fraud": 0, "inactivity": 0}, 0),
        (SEP, {"fraud": 1, "inactivity": 0}, 1),
        (OCT, {"fraud": 0, "inactivity": 1}, 1),
    ]


def test_top_offers_of_last_month(ledger, operator):
    rollups_refresh()

    with time_machine.travel(at("2026-11-23"), tick=False):
        board = board_for(operator, scheme=ledger.scheme_a)
        september_board = board_for(operator, scheme=ledger.scheme_a, month_to=SEP)

    assert board.top_offers_month == OCT
    assert [(o.offer_name, o.awards, o.awarded_minor) for o in board.top_offers] == [
        ("Ten percent back", 2, 40),
        ("Five for a visit", 2, 10),
    ]
    # A range ending before last month shows its own last month.
    assert september_board.top_offers_month == SEP
    assert [(o.offer_name, o.awards, o.awarded_minor) for o in september_board.top_offers] == [
        ("Ten percent back", 1, 20),
        ("Five for a visit", 1, 5),
    ]


def test_a_second_refresh_counts_nothing_twice(ledger):
    first = rollups_refresh()
    rows = rollup_rows()

    second = rollups_refresh()

    assert first[0].rows == Journal.objects.count()
    assert second[0].rows == 0
    assert rollup_rows() == rows
    assert CountedJournal.objects.count() == 0  # the cursor passed every counted journal
    assert second[0].cursor_id == Journal.objects.order_by("-pk").values_list("pk", flat=True)[0]


def test_new_postings_are_added_incrementally(ledger, operator):
    rollups_refresh()
    p1, p4 = ledger.participants["P1"], ledger.participants["P4"]
    m1 = ledger.merchants["M1"]

    # When more is posted in October and in November
    with time_machine.travel(at("2026-10-25"), tick=False):
        purchase(p4, m1, 500)  # 50 + 5
    with time_machine.travel(at("2026-11-02"), tick=False):
        spend(p1, m1, 20, "nov-2")
    result = ledger_rollup_refresh()

    # Then only the new journals are counted, into their months
    assert result.rows == 2
    board = board_for(operator, scheme=ledger.scheme_a, month_to=date(2026, 11, 1))
    october, november = board.months[2], board.months[3]
    assert (october.awards, october.awarded_minor, october.liability_minor) == (3, 105, 140)
    assert (november.spends, november.spent_minor, november.liability_minor) == (1, 20, 120)
    assert board.liability_minor == wallet_total(ledger.scheme_a) == 120


def test_the_rebuild_gives_the_same_figures_as_the_increments(ledger):
    rollups_refresh()
    incremental = rollup_rows()

    call_command("rollups_rebuild", stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert rollup_rows() == incremental
    assert (
        RollupState.objects.get(name="ledger").journal_cursor_id == Journal.objects.latest("pk").pk
    )


def test_the_rebuild_repairs_damaged_rollups(ledger, operator):
    rollups_refresh()
    expected = rollup_rows()
    LedgerMonth.objects.filter(scheme=ledger.scheme_a).update(wallet_net_minor=0)

    rollups_rebuild()

    assert rollup_rows() == expected


def test_the_task_refreshes_both_rollups_and_records_when(ledger):
    counted = rollups_refresh_task.apply().get()

    assert counted == {"ledger": Journal.objects.count(), "participants": 5}
    states = {state.name: state for state in RollupState.objects.all()}
    assert states["ledger"].computed_at is not None
    assert states["participants"].computed_at is not None
    assert states["participants"].last_run_rows == 5


def test_a_journal_id_skipped_by_a_rolled_back_posting_is_passed(ledger):
    # Given an id taken by a posting that never committed (a sequence value is never reused)
    rollups_refresh()
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('rewards_journal', 'id'))")
    with time_machine.travel(at("2026-10-26"), tick=False):
        purchase(ledger.participants["P4"], ledger.merchants["M1"], 100)

    # When the rollups are refreshed with no other transaction running
    result = ledger_rollup_refresh()

    # Then the new journal is counted and the cursor moved past the gap
    assert result.rows == 1
    assert result.cursor_id == Journal.objects.latest("pk").pk
    assert CountedJournal.objects.count() == 0
