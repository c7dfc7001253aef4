"""Merchant settlement: each merchant's share of the awards it caused and of the spends it
accepted, per period, against figures worked out by hand; a period is settled once."""

import csv
import io
import threading
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection
from django.urls import reverse

from rewards.models import Run, SchemeMerchant, SettlementLine, SettlementPeriod
from rewards.services.errors import InvalidRequest
from rewards.services.runs import RunOutcome, run_execute, run_start
from rewards.services.settlement import settlement_period_settle
from rewards.services.spends import spend_create
from tests.rewards.conftest import purchase, refund
from tests.rewards.factories import OfferFactory, SchemeFactory, make_participant, merchant_in

# October 2026 in Stockholm (the scheme's zone): summer time ends on the 25th.
OCTOBER_STARTS = datetime(2026, 9, 30, 22, 0, tzinfo=UTC)
OCTOBER_ENDS = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)


def rules(merchant, *, contribution, reimbursement):
    SchemeMerchant.objects.filter(merchant=merchant).update(
        award_contribution_basis_points=contribution,
        spend_reimbursement_basis_points=reimbursement,
    )


@pytest.fixture
def october(db):
    """A scheme whose October activity is known:

    merchant A (contributes 50% of awards, reimbursed 100% of spends):
      purchases 10000 (P1) and 5000 (P2) earn 1000 + 500; P1 refunds half of the 10000,
      which takes back 500: issued 1000 net, 3 journals. P2 spends 200 there.
    merchant B (contributes 33.33%, reimbursed 90%):
      purchase 3000 (P1) earns 300; P1 spends 700 there.
    merchant C (no rules): purchase 2000 (P2) earns 200.
    In November P2 buys for 1000 at A (earns 100): not October's.
    """
    scheme = SchemeFactory(time_zone="Europe/Stockholm")
    OfferFactory(scheme=scheme)  # 10% of every purchase
    a, b, c = (merchant_in(scheme, code=code) for code in ("shop-a", "shop-b", "shop-c"))
    rules(a, contribution=5000, reimbursement=10000)
    rules(b, contribution=3333, reimbursement=9000)
    with time_machine.travel(datetime(2026, 10, 10, 12, 0, tzinfo=UTC), tick=False):
        first, second = make_participant(scheme), make_participant(scheme)
        purchase(first, a, 10000, external_id="a-1")
        purchase(second, a, 5000)
        purchase(first, b, 3000)
        purchase(second, c, 2000)
        spend_create(participant_id=first.pk, amount_minor=700, merchant=b, idempotency_key="s1")
        spend_create(participant_id=second.pk, amount_minor=200, merchant=a, idempotency_key="s2")
        refund(first, a, 5000, original_external_id="a-1")
    with time_machine.travel(datetime(2026, 11, 3, 12, 0, tzinfo=UTC), tick=False):
        purchase(second, a, 1000)
    return scheme, a, b, c


def lines_of(period):
    return {
        (line.merchant.code, line.kind): (
            line.direction,
            line.base_minor,
            line.basis_points,
            line.amount_minor,
            line.journal_count,
        )
        for line in period.lines.select_related("merchant")
    }


EXPECTED = {
    ("shop-a", "award_contribution"): ("debit", 1000, 5000, 500, 3),
    ("shop-a", "spend_reimbursement"): ("credit", 200, 10000, 200, 1),
    ("shop-b", "award_contribution"): ("debit", 300, 3333, 99, 1),  # 99.99 rounded down
    ("shop-b", "spend_reimbursement"): ("credit", 700, 9000, 630, 1),
    ("shop-c", "award_contribution"): ("debit", 200, 0, 0, 1),
}


def test_a_settlement_run_settles_last_month_per_merchant(october):
    scheme, *_merchants = october
    with time_machine.travel(datetime(2026, 11, 15, 9, 0, tzinfo=UTC), tick=False):
        run, _created = run_start(kind="settlement", scheme=scheme, actor="beat")
        result = run_execute(run_id=run.pk)

    run.refresh_from_db()
    period = SettlementPeriod.objects.get()
    assert result.outcome == RunOutcome.SUCCEEDED
    assert (period.starts_at, period.ends_at, period.run) == (OCTOBER_STARTS, OCTOBER_ENDS, run)
    assert run.parameters["starts_at"] == OCTOBER_STARTS.isoformat()
    assert lines_of(period) == EXPECTED
    assert (run.processed_items, run.posted_items) == (5, 5)


def test_a_period_is_never_settled_twice(october):
    scheme, *_merchants = october
    with time_machine.travel(datetime(2026, 11, 15, 9, 0, tzinfo=UTC), tick=False):
        first, created = settlement_period_settle(
            scheme=scheme, starts_at=OCTOBER_STARTS, ends_at=OCTOBER_ENDS
        )
        again, created_again = settlement_period_settle(
            scheme=scheme, starts_at=OCTOBER_STARTS, ends_at=OCTOBER_ENDS
        )
        run, _created = run_start(kind="settlement", scheme=scheme, actor="beat")
        by_run = run_execute(run_id=run.pk)
        with pytest.raises(InvalidRequest, match="overlaps a period settled already"):
            settlement_period_settle(
                scheme=scheme,
                starts_at=datetime(2026, 10, 15, tzinfo=UTC),
                ends_at=datetime(2026, 11, 15, tzinfo=UTC),
            )

    run.refresh_from_db()
    assert (created, created_again, again.pk) == (True, False, first.pk)
    assert by_run.outcome == RunOutcome.SUCCEEDED
    assert run.processed_items == 0  # nothing left to settle
    assert SettlementPeriod.objects.count() == 1
    assert SettlementLine.objects.count() == 5


def test_scheduled_settlement_skips_a_month_settled_already(
    october, django_capture_on_commit_callbacks
):
    from rewards.services.runs import runs_start_scheduled

    scheme, *_merchants = october
    with time_machine.travel(datetime(2026, 11, 1, 12, 0, tzinfo=UTC), tick=False):
        settlement_period_settle(scheme=scheme, starts_at=OCTOBER_STARTS, ends_at=OCTOBER_ENDS)
        with django_capture_on_commit_callbacks() as callbacks:
            started = runs_start_scheduled(kind="settlement")

    assert started == []
    assert callbacks == []
    assert Run.objects.count() == 0


def test_a_period_not_over_is_refused(october):
    scheme, *_merchants = october
    with (
        time_machine.travel(datetime(2026, 10, 20, tzinfo=UTC), tick=False),
        pytest.raises(InvalidRequest, match="only once it is over"),
    ):
        settlement_period_settle(scheme=scheme, starts_at=OCTOBER_STARTS, ends_at=OCTOBER_ENDS)
    assert SettlementPeriod.objects.count() == 0


def test_more_taken_back_than_issued_turns_the_line_around(db):
    scheme = SchemeFactory(time_zone="UTC")
    OfferFactory(scheme=scheme)
    shop = merchant_in(scheme, code="shop-r")
    rules(shop, contribution=5000, reimbursement=10000)
    with time_machine.travel(datetime(2026, 9, 20, 12, 0, tzinfo=UTC), tick=False):
        buyer = make_participant(scheme)
        purchase(buyer, shop, 4000, external_id="r-1")  # earns 400 in September
    with time_machine.travel(datetime(2026, 10, 5, 12, 0, tzinfo=UTC), tick=False):
        refund(buyer, shop, 4000, original_external_id="r-1")  # takes 400 back in October

    with time_machine.travel(datetime(2026, 11, 2, tzinfo=UTC), tick=False):
        period, _created = settlement_period_settle(
            scheme=scheme,
            starts_at=datetime(2026, 10, 1, tzinfo=UTC),
            ends_at=datetime(2026, 11, 1, tzinfo=UTC),
        )

    assert lines_of(period) == {("shop-r", "award_contribution"): ("credit", -400, 5000, 200, 1)}


@pytest.mark.django_db(transaction=True)
def test_two_settlements_of_one_period_at_once_write_it_once():
    scheme = SchemeFactory(time_zone="UTC")
    OfferFactory(scheme=scheme)
    shop = merchant_in(scheme, code="shop-t")
    rules(shop, contribution=10000, reimbursement=0)
    with time_machine.travel(datetime(2026, 10, 5, 12, 0, tzinfo=UTC), tick=False):
        purchase(make_participant(scheme), shop, 1000)
    starts_at, ends_at = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    barrier = threading.Barrier(2)
    created = []

    def settle() -> None:
        barrier.wait()
        try:
            created.append(
                settlement_period_settle(scheme=scheme, starts_at=starts_at, ends_at=ends_at)[1]
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=settle) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(created) == [False, True]
    assert SettlementPeriod.objects.count() == 1
    assert list(SettlementLine.objects.values_list("amount_minor", flat=True)) == [100]


def test_finance_exports_the_lines_as_csv(client, settings, october):
    from crm.models import AuditEvent
    from tests.crm.factories import UserFactory

    scheme, *_merchants = october
    with time_machine.travel(datetime(2026, 11, 15, tzinfo=UTC), tick=False):
        period, _created = settlement_period_settle(
            scheme=scheme, starts_at=OCTOBER_STARTS, ends_at=OCTOBER_ENDS
        )
    settings.STAFF_OTP_REQUIRED = False
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.post(
        reverse("admin:rewards_settlementperiod_changelist"),
        {"action": "export_csv", "_selected_action": [period.pk]},
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == [
        "scheme",
        "period_start",
        "period_end",
        "merchant_code",
        "merchant_name",
        "kind",
        "base_minor",
        "basis_points",
        "debit_minor",
        "credit_minor",
        "journals",
    ]
    assert [(row[3], row[5], row[8], row[9]) for row in rows[1:]] == [
        ("shop-a", "award_contribution", "500", "0"),
        ("shop-a", "spend_reimbursement", "0", "200"),
        ("shop-b", "award_contribution", "99", "0"),
        ("shop-b", "spend_reimbursement", "0", "630"),
        ("shop-c", "award_contribution", "0", "0"),
    ]
    assert AuditEvent.objects.filter(action="settlement.export").count() == 1
    page = client.get(reverse("admin:rewards_settlementperiod_change", args=[period.pk]))
    assert page.status_code == 200


def test_client_staff_cannot_see_or_export_another_clients_settlement(client, settings, october):
    from django.contrib.auth.models import Permission

    from crm.models import AuditEvent
    from tests.crm.factories import ClientFactory, StaffProfileFactory, UserFactory

    scheme, *_merchants = october
    with time_machine.travel(datetime(2026, 11, 15, tzinfo=UTC), tick=False):
        period, _created = settlement_period_settle(
            scheme=scheme, starts_at=OCTOBER_STARTS, ends_at=OCTOBER_ENDS
        )
    settings.STAFF_OTP_REQUIRED = False
    user = UserFactory(is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="rewards", codename="view_settlementperiod")
    )
    StaffProfileFactory(user=user, client=ClientFactory())
    client.force_login(user)

    page = client.get(reverse("admin:rewards_settlementperiod_change", args=[period.pk]))
    assert page.status_code == 404
    listing = client.get(reverse("admin:rewards_settlementperiod_changelist"))
    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == []
    response = client.post(
        reverse("admin:rewards_settlementperiod_changelist"),
        {"action": "export_csv", "_selected_action": [period.pk]},
    )
    # The action runs on the scoped selection only: another client's period is not in it.
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[1:] == []
    assert AuditEvent.objects.get(action="settlement.export").after == {"periods": []}
