"""Runs (rewards.services.runs) called synchronously against the real database: starting,
executing, resuming, parking, retrying; the beat schedule; the daily birthday and name-day
events; automatic spend at purchase; the API's JSON errors and its documentation page.

The real Celery worker (kills, redelivery, rollback) is in test_run_crash.py."""

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from config.beat import SCHEDULE, beat_schedule_sync
from crm.models import AuditEvent
from crm.roles import Role
from rewards.models import (
    AwardLot,
    CustomerEvent,
    Journal,
    Offer,
    Participant,
    Run,
    SchemeMerchant,
)
from rewards.services.errors import InvalidRequest
from rewards.services.events import occasion_events_raise
from rewards.services.runs import RunOutcome, run_execute, run_retry, run_start
from tests.crm.factories import staff_user
from tests.rewards.conftest import assert_ledger_consistent, award, balance_of, purchase
from tests.rewards.factories import (
    OfferFactory,
    SchemeFactory,
    make_api_key,
    make_participant,
    merchant_in,
    queued_purchases,
)


@pytest.fixture
def queued_scheme(db):
    scheme = SchemeFactory(event_processing="queued")
    OfferFactory(scheme=scheme)  # 10% of the total
    return scheme


def award_journals_per_event() -> dict[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_id, count(*) FROM rewards_journal WHERE kind = 'award' GROUP BY event_id"
        )
        return dict(cursor.fetchall())


# ---------------------------------------------------------------------------- start


def test_a_second_start_returns_the_active_run(queued_scheme, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        first, first_created = run_start(kind="evaluation", scheme=queued_scheme, actor="beat")
        second, second_created = run_start(kind="evaluation", scheme=queued_scheme, actor="beat")

    assert (first_created, second_created) == (True, False)
    assert second.pk == first.pk
    assert Run.objects.count() == 1
    assert len(callbacks) == 1  # one task enqueued, after commit


def test_a_run_is_enqueued_only_when_its_transaction_commits(
    queued_scheme, django_capture_on_commit_callbacks
):
    def start_then_fail() -> None:
        with transaction.atomic():
            run_start(kind="evaluation", scheme=queued_scheme, actor="beat")
            raise RuntimeError("rolled back")

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError):
        start_then_fail()

    assert callbacks == []
    assert Run.objects.count() == 0


def test_unknown_or_bad_parameters_are_refused(queued_scheme):
    with pytest.raises(InvalidRequest, match="Unknown run parameters: speed"):
        run_start(kind="evaluation", scheme=queued_scheme, parameters={"speed": 2})
    with pytest.raises(InvalidRequest, match="chunk_size must be between 1 and 10000"):
        run_start(kind="evaluation", scheme=queued_scheme, parameters={"chunk_size": 0})
    with pytest.raises(InvalidRequest, match="only once it is over"):
        run_start(
            kind="settlement",
            scheme=queued_scheme,
            parameters={
                "starts_at": timezone.now().isoformat(),
                "ends_at": (timezone.now() + timedelta(days=1)).isoformat(),
            },
        )
    assert Run.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_two_starts_at_once_create_one_run():
    scheme = SchemeFactory(event_processing="queued")
    barrier = threading.Barrier(2)
    results = []

    def start() -> None:
        barrier.wait()
        try:
            results.append(run_start(kind="evaluation", scheme=scheme, actor="beat"))
        finally:
            connection.close()

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(created for _run, created in results) == [False, True]
    assert {run.pk for run, _created in results} == set(Run.objects.values_list("pk", flat=True))
    assert Run.objects.count() == 1


# ---------------------------------------------------------------------------- execute


def test_evaluation_run_posts_each_queued_event_once_and_records_progress(queued_scheme):
    merchant = merchant_in(queued_scheme)
    people = [make_participant(queued_scheme) for _ in range(3)]
    event_ids = queued_purchases(queued_scheme, merchant, people, 25, total_minor=1000)
    sign_ups = CustomerEvent.objects.filter(type="sign_up", status="queued").count()
    run, _created = run_start(
        kind="evaluation", scheme=queued_scheme, actor="beat", parameters={"chunk_size": 10}
    )

    result = run_execute(run_id=run.pk)
    again = run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert (result.outcome, again.outcome) == (RunOutcome.SUCCEEDED, RunOutcome.SKIPPED)
    assert sign_ups == 3  # joining raised them; no sign-up offer, so they earn nothing
    assert (run.status, run.total_items, run.processed_items, run.posted_items) == (
        "succeeded",
        28,
        28,
        25,
    )
    assert run.cursor == max(event_ids)
    assert run.attempts == 1
    assert award_journals_per_event() == dict.fromkeys(event_ids, 1)
    assert [balance_of(person) for person in people] == [900, 800, 800]  # 9, 8, 8 events of 100
    assert not CustomerEvent.objects.filter(status="queued").exists()
    assert_ledger_consistent()


def test_a_resumed_run_posts_only_what_is_left(queued_scheme):
    merchant = merchant_in(queued_scheme)
    people = [make_participant(queued_scheme) for _ in range(2)]
    event_ids = queued_purchases(queued_scheme, merchant, people, 12)
    run, _created = run_start(
        kind="evaluation",
        scheme=queued_scheme,
        actor="beat",
        parameters={"chunk_size": 5, "time_budget_seconds": 1},
    )
    # A first worker got through one chunk before it died: its work is committed.
    from rewards.services.batch_evaluation import events_evaluate_batch

    events_evaluate_batch(scheme_id=queued_scheme.pk, limit=5)
    Run.objects.filter(pk=run.pk).update(status="running", attempts=1)

    while (result := run_execute(run_id=run.pk)).outcome == RunOutcome.CONTINUE:
        pass

    run.refresh_from_db()
    assert result.outcome == RunOutcome.SUCCEEDED
    assert run.processed_items == 9  # only what the first worker left (12 + 2 sign-ups - 5)
    assert award_journals_per_event() == dict.fromkeys(event_ids, 1)
    assert_ledger_consistent()


@pytest.mark.django_db(transaction=True)
def test_the_same_run_executed_twice_at_once_does_the_work_once():
    scheme = SchemeFactory(event_processing="queued")
    OfferFactory(scheme=scheme)
    merchant = merchant_in(scheme)
    people = [make_participant(scheme) for _ in range(20)]
    event_ids = queued_purchases(scheme, merchant, people, 400)
    run, _created = run_start(
        kind="evaluation", scheme=scheme, actor="beat", parameters={"chunk_size": 20}
    )
    barrier = threading.Barrier(2)
    outcomes = []

    def execute() -> None:
        barrier.wait()
        try:
            outcomes.append(run_execute(run_id=run.pk).outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=execute) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    run.refresh_from_db()
    assert sorted(outcomes) == [RunOutcome.SKIPPED, RunOutcome.SUCCEEDED]
    assert (run.status, run.processed_items, run.attempts) == ("succeeded", 420, 1)  # + sign-ups
    assert award_journals_per_event() == dict.fromkeys(event_ids, 1)
    assert sum(balance_of(person) for person in people) == 400 * 100
    assert_ledger_consistent()


def test_a_failing_run_is_retried_with_backoff_then_parked(queued_scheme):
    merchant = merchant_in(queued_scheme)
    queued_purchases(queued_scheme, merchant, [make_participant(queued_scheme)], 3)
    # A poisoned offer (rules broken behind the service's back) fails every evaluation.
    Offer.objects.filter(scheme=queued_scheme).update(rules={"award": {"type": "bogus"}})
    run, _created = run_start(
        kind="evaluation",
        scheme=queued_scheme,
        actor="beat",
        parameters={"max_attempts": 3, "retry_delay_seconds": 10},
    )

    results = [run_execute(run_id=run.pk) for _ in range(4)]

    run.refresh_from_db()
    assert [(result.outcome, result.retry_in) for result in results] == [
        (RunOutcome.RETRY, 10),
        (RunOutcome.RETRY, 20),
        (RunOutcome.PARKED, None),
        (RunOutcome.SKIPPED, None),
    ]
    assert (run.status, run.attempts, run.processed_items) == ("parked", 3, 0)
    assert "award.type" in run.last_error
    assert run.finished_at is not None
    assert Journal.objects.count() == 0
    assert CustomerEvent.objects.filter(type="purchase", status="queued").count() == 3


def test_a_run_whose_workers_keep_dying_is_parked_at_its_next_start(queued_scheme):
    run, _created = run_start(
        kind="evaluation", scheme=queued_scheme, actor="beat", parameters={"max_attempts": 2}
    )
    # Two attempts were counted and their workers killed before they could record anything.
    Run.objects.filter(pk=run.pk).update(status="running", attempts=2)

    result = run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert result.outcome == RunOutcome.PARKED
    assert (run.status, run.attempts) == ("parked", 3)
    assert run.last_error == "Parked: 2 attempts did not finish."


def test_a_parked_run_is_retried_by_an_operator_and_resumes(
    queued_scheme, django_capture_on_commit_callbacks
):
    merchant = merchant_in(queued_scheme)
    queued_purchases(queued_scheme, merchant, [make_participant(queued_scheme)], 4)
    run, _created = run_start(kind="evaluation", scheme=queued_scheme, actor="beat")
    Run.objects.filter(pk=run.pk).update(status="parked", attempts=5, last_error="boom")
    operator = staff_user(Role.OPERATOR)

    with django_capture_on_commit_callbacks() as callbacks:
        run_retry(run=run, actor=operator)
    result = run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert len(callbacks) == 1
    assert result.outcome == RunOutcome.SUCCEEDED
    assert (run.status, run.attempts, run.processed_items) == ("succeeded", 1, 5)  # + sign-up
    assert AuditEvent.objects.filter(action="run.retry", object_id=str(run.pk)).count() == 1
    with pytest.raises(InvalidRequest, match="Only a parked or failed run"):
        run_retry(run=run, actor=operator)


def test_expiration_run_expires_due_lots_once(scheme):
    people = [make_participant(scheme) for _ in range(3)]
    for person in people:
        award(person, 100, expires_in_days=1)
        award(person, 50)
    run, _created = run_start(kind="expiration", scheme=scheme, actor="beat")
    Run.objects.filter(pk=run.pk).update(
        parameters={"at": (timezone.now() + timedelta(days=2)).isoformat()}
    )

    first = run_execute(run_id=run.pk)
    second_run, _created = run_start(kind="expiration", scheme=scheme, actor="beat")
    Run.objects.filter(pk=second_run.pk).update(
        parameters={"at": (timezone.now() + timedelta(days=2)).isoformat()}
    )
    second = run_execute(run_id=second_run.pk)

    run.refresh_from_db()
    second_run.refresh_from_db()
    assert (first.outcome, second.outcome) == (RunOutcome.SUCCEEDED, RunOutcome.SUCCEEDED)
    assert (run.processed_items, run.posted_items) == (3, 3)
    assert second_run.processed_items == 0
    assert [balance_of(person) for person in people] == [50, 50, 50]
    assert Journal.objects.filter(kind="expiration").count() == 3
    assert_ledger_consistent()


# ---------------------------------------------------------------------------- beat


def test_the_beat_schedule_exists_and_syncing_again_changes_nothing(db):
    names = {entry.name for entry in SCHEDULE}

    created = beat_schedule_sync()

    tasks = {task.name: task for task in PeriodicTask.objects.filter(name__in=names)}
    assert created == []  # the data migration made them all
    assert set(tasks) == names
    assert tasks["crm: requeue stalled messages"].task == "crm.tasks.messages_requeue_stalled"
    assert tasks["crm: requeue stalled messages"].interval.every == 5
    assert tasks["rewards: settlement runs"].crontab.day_of_month == "1"
    PeriodicTask.objects.filter(name="rewards: evaluation runs").update(enabled=False)
    assert beat_schedule_sync() == []  # an operator's edit is kept
    assert beat_schedule_sync(overwrite=True) == [entry.name for entry in SCHEDULE]
    assert PeriodicTask.objects.get(name="rewards: evaluation runs").enabled


def test_scheduled_evaluation_starts_runs_only_where_events_wait(
    queued_scheme, django_capture_on_commit_callbacks
):
    from rewards.services.runs import runs_start_scheduled

    idle = SchemeFactory()
    merchant = merchant_in(queued_scheme)
    queued_purchases(queued_scheme, merchant, [make_participant(queued_scheme)], 2)

    with django_capture_on_commit_callbacks() as callbacks:
        run_ids = runs_start_scheduled(kind="evaluation")

    assert list(Run.objects.values_list("scheme", flat=True)) == [queued_scheme.pk]
    assert run_ids == list(Run.objects.values_list("pk", flat=True))
    assert idle.runs.count() == 0
    assert len(callbacks) == 1


# ---------------------------------------------------------------------------- occasions

BIRTHDAY_RULES = {
    "validity": {"birthday_period": "day"},
    "award": {"type": "fixed", "amount_minor": 1000},
    "participant_cap": {"period": "year", "amount_minor": 1000},
}
NAME_DAY_RULES = {
    "validity": {"name_day_period": "day"},
    "award": {"type": "fixed", "amount_minor": 300},
    "participant_cap": {"period": "year", "amount_minor": 300},
}


def test_birthday_and_name_day_events_are_raised_once_a_year(scheme):
    OfferFactory(scheme=scheme, classification="birthday", rules=BIRTHDAY_RULES)
    OfferFactory(scheme=scheme, classification="name_day", rules=NAME_DAY_RULES)
    birthday = make_participant(scheme, birth_date=date(1990, 3, 14))
    both = make_participant(scheme, birth_date=date(1985, 3, 14))
    both.name_day_month, both.name_day_day = 3, 14
    both.save(update_fields=["name_day_month", "name_day_day"])
    other_day = make_participant(scheme, birth_date=date(1990, 3, 15))

    # 23:30 UTC on Mar 13 is already Mar 14 in Stockholm (the scheme's zone).
    with time_machine.travel(datetime(2026, 3, 13, 23, 30, tzinfo=UTC)):
        raised = occasion_events_raise()
        again = occasion_events_raise()

    assert (raised, again) == (3, 0)
    assert [balance_of(p) for p in (birthday, both, other_day)] == [1000, 1300, 0]
    assert set(
        CustomerEvent.objects.filter(type__in=["birthday", "name_day"]).values_list(
            "external_id", flat=True
        )
    ) == {
        f"birthday:{birthday.pk}:2026",
        f"birthday:{both.pk}:2026",
        f"name_day:{both.pk}:2026",
    }


def test_a_feb_29_birthday_is_raised_on_feb_28_in_common_years(scheme):
    OfferFactory(scheme=scheme, classification="birthday", rules=BIRTHDAY_RULES)
    leapling = make_participant(scheme, birth_date=date(2000, 2, 29), time_zone="UTC")

    with time_machine.travel(datetime(2027, 2, 28, 12, 0, tzinfo=UTC)):
        raised = occasion_events_raise()
    with time_machine.travel(datetime(2028, 2, 28, 12, 0, tzinfo=UTC)):
        not_yet = occasion_events_raise()
    with time_machine.travel(datetime(2028, 2, 29, 12, 0, tzinfo=UTC)):
        leap_day = occasion_events_raise()

    assert (raised, not_yet, leap_day) == (1, 0, 1)
    assert balance_of(leapling) == 2000


def test_no_occasion_events_without_an_effective_offer(scheme):
    make_participant(scheme, birth_date=timezone.localdate())

    assert occasion_events_raise() == 0
    assert not CustomerEvent.objects.filter(type="birthday").exists()


# ---------------------------------------------------------------------------- automatic spend


def spender(scheme, *, allows=True):
    participant = make_participant(scheme)
    Participant.objects.filter(pk=participant.pk).update(allows_automatic_spend=allows)
    return participant


def test_a_purchase_pays_from_the_wallet_when_participant_and_merchant_allow_it(scheme):
    OfferFactory(scheme=scheme)  # 10% of the total
    merchant = merchant_in(scheme)
    SchemeMerchant.objects.filter(merchant=merchant).update(allows_automatic_spend=True)
    participant = spender(scheme)
    award(participant, 300)

    response = purchase(participant, merchant, 2000)

    assert response["awards"][0]["amount_minor"] == 200
    assert response["automatic_spend"]["amount_minor"] == 300  # what was there before
    assert response["balance_minor"] == 200
    assert balance_of(participant) == 200
    spend = Journal.objects.get(pk=response["automatic_spend"]["journal"])
    assert (spend.kind, spend.merchant_id, spend.idempotency_key) == (
        "spend",
        merchant.pk,
        f"event:{response['id']}:automatic_spend",
    )
    assert_ledger_consistent()


def test_the_automatic_spend_never_exceeds_the_purchase(scheme):
    merchant = merchant_in(scheme)
    SchemeMerchant.objects.filter(merchant=merchant).update(allows_automatic_spend=True)
    participant = spender(scheme)
    award(participant, 5000)

    response = purchase(participant, merchant, 1200)

    assert response["automatic_spend"]["amount_minor"] == 1200
    assert balance_of(participant) == 3800


@pytest.mark.parametrize(("participant_allows", "merchant_allows"), [(True, False), (False, True)])
def test_no_automatic_spend_unless_both_allow_it(scheme, participant_allows, merchant_allows):
    merchant = merchant_in(scheme)
    SchemeMerchant.objects.filter(merchant=merchant).update(allows_automatic_spend=merchant_allows)
    participant = spender(scheme, allows=participant_allows)
    award(participant, 300)

    response = purchase(participant, merchant, 2000)

    assert "automatic_spend" not in response
    assert balance_of(participant) == 300
    assert not Journal.objects.filter(kind="spend").exists()


def test_the_api_lists_the_automatic_spend_and_a_replay_repeats_it(client, scheme):
    merchant = merchant_in(scheme)
    SchemeMerchant.objects.filter(merchant=merchant).update(allows_automatic_spend=True)
    participant = spender(scheme)
    award(participant, 250)
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {make_api_key(merchant)}"}
    body = {
        "source": "pos",
        "external_id": "till-1",
        "type": "purchase",
        "participant": participant.pk,
        "occurred_at": timezone.now().isoformat(),
        "total_minor": 1000,
    }

    first = client.post("/api/v1/events/", body, content_type="application/json", **headers)
    replay = client.post("/api/v1/events/", body, content_type="application/json", **headers)

    assert first.status_code == 201
    assert first.json()["automatic_spend"]["amount_minor"] == 250
    assert first.json()["balance_minor"] == 0
    assert replay.status_code == 200
    assert replay.json() == first.json()
    assert Journal.objects.filter(kind="spend").count() == 1


# ---------------------------------------------------------------------------- API errors, docs


def test_an_unknown_api_url_answers_json(client, db):
    for response in (
        client.get("/api/v1/nothing-here/"),
        client.post("/api/v1/events", {}, content_type="application/json"),
        client.get("/api/v1/participants/abc/wallet/"),
    ):
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.json() == {"code": "not_found", "message": "There is no such API URL."}


def test_api_errors_are_json(client, scheme):
    merchant = merchant_in(scheme)
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {make_api_key(merchant)}"}

    unauthenticated = client.get("/api/v1/offers/")
    wrong_method = client.delete("/api/v1/offers/", **headers)
    malformed = client.post(
        "/api/v1/spends/", "{not json", content_type="application/json", **headers
    )

    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["code"] == "not_authenticated"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method_not_allowed"
    assert malformed.status_code == 400
    assert malformed.json()["code"] == "parse_error"


def test_an_unexpected_api_error_is_json_500(client, scheme, monkeypatch):
    from rewards.api import views

    merchant = merchant_in(scheme)
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {make_api_key(merchant)}"}

    def broken(**kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(views, "offers_for_merchant", broken)
    response = client.get("/api/v1/offers/", **headers)

    assert response.status_code == 500
    assert response.json() == {
        "code": "server_error",
        "message": "Something went wrong on our side. Try again.",
    }


def test_api_docs_are_served_from_our_own_static_files(client, db, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }

    page = client.get("/api/docs/")
    html = page.content.decode()
    init = client.get("/api/docs/?script=")

    assert page.status_code == 200
    assert "cdn.jsdelivr.net" not in html
    assert "unpkg.com" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "<script>" not in html  # every script and style is a file: the CSP allows 'self'
    assert "<style>" not in html
    assert "script-src 'self'" in page["Content-Security-Policy"]
    assert init.status_code == 200
    assert "SwaggerUIBundle" in init.content.decode()


# ---------------------------------------------------------------------------- admin


@pytest.fixture
def superuser_client(client, settings, db):
    from tests.crm.factories import UserFactory

    settings.STAFF_OTP_REQUIRED = False
    user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    client.user = user
    return client


def test_operators_start_a_run_in_the_admin_and_see_its_progress(
    superuser_client, queued_scheme, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = superuser_client.post(
            reverse("admin:rewards_run_start"),
            {"kind": "evaluation", "scheme": queued_scheme.pk, "parameters": '{"chunk_size": 500}'},
        )
    run = Run.objects.get()
    Run.objects.filter(pk=run.pk).update(total_items=200, processed_items=50)
    listing = superuser_client.get(reverse("admin:rewards_run_changelist"))
    detail = superuser_client.get(reverse("admin:rewards_run_change", args=[run.pk]))

    assert response.status_code == 302
    assert (run.requested_by, run.parameters["chunk_size"]) == (superuser_client.user, 500)
    assert len(callbacks) == 1
    audit = AuditEvent.objects.get(action="run.start")
    assert (audit.actor, audit.object_id) == (superuser_client.user, str(run.pk))
    assert b'<progress max="100" value="25"></progress> 50 / 200 (25%)' in listing.content
    assert detail.status_code == 200


def test_a_parked_run_shows_its_error_and_can_be_retried_in_the_admin(
    superuser_client, queued_scheme, django_capture_on_commit_callbacks
):
    run, _created = run_start(kind="evaluation", scheme=queued_scheme, actor="beat")
    Run.objects.filter(pk=run.pk).update(
        status="parked", attempts=5, last_error="ValidationError: <award.type>"
    )

    detail = superuser_client.get(reverse("admin:rewards_run_change", args=[run.pk]))
    with django_capture_on_commit_callbacks() as callbacks:
        superuser_client.post(
            reverse("admin:rewards_run_changelist"),
            {"action": "retry", "_selected_action": [run.pk]},
        )

    assert b"<pre>ValidationError: &lt;award.type&gt;</pre>" in detail.content
    run.refresh_from_db()
    assert (run.status, run.attempts) == ("queued", 0)
    assert len(callbacks) == 1


def test_helpdesk_cannot_start_runs(client, settings, queued_scheme):
    settings.STAFF_OTP_REQUIRED = False
    client.force_login(staff_user(Role.HELPDESK))

    response = client.post(
        reverse("admin:rewards_run_start"), {"kind": "evaluation", "scheme": queued_scheme.pk}
    )

    assert response.status_code == 403
    assert Run.objects.count() == 0


def test_lots_are_untouched_by_a_refused_start(queued_scheme):
    before = AwardLot.objects.count()
    with pytest.raises(InvalidRequest):
        run_start(kind="draw", scheme=queued_scheme)
    assert AwardLot.objects.count() == before
    assert Run.objects.count() == 0


@pytest.mark.browser
def test_api_docs_render_in_a_browser_under_the_csp(live_server, page, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    blocked = []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    external = []
    page.on(
        "request",
        lambda request: (
            external.append(request.url)
            if not request.url.startswith(live_server.url) and not request.url.startswith("data:")
            else None
        ),
    )

    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)

    assert "Reward campaigns API" in page.inner_text(".swagger-ui .info .title")
    assert page.locator(".opblock").count() >= 7  # every endpoint is listed
    assert blocked == []
    assert external == []


def test_stalled_runs_are_enqueued_again_but_not_other_apps_runs(queued_scheme):
    import redis
    from django.conf import settings

    from rewards.services.runs import runs_requeue_stalled

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("runs")
    stalled, _created = run_start(kind="evaluation", scheme=queued_scheme, actor="beat")
    fresh, _created = run_start(kind="expiration", scheme=queued_scheme, actor="beat")
    draw = Run.objects.create(kind="draw", scheme=queued_scheme)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Run.objects.filter(pk__in=[stalled.pk, draw.pk]).update(
        created_at=an_hour_ago, heartbeat_at=an_hour_ago, status="running"
    )

    requeued = runs_requeue_stalled()
    draw_result = run_execute(run_id=draw.pk)

    assert requeued == 1
    assert broker.llen("runs") == 1
    assert draw_result.outcome == RunOutcome.SKIPPED
    draw.refresh_from_db()
    assert (draw.status, draw.attempts) == ("running", 0)  # left to its own executor
    assert fresh.status == "queued"
