"""A real Celery worker (prefork, queue ``runs``) against the test database and a Redis db:
killed with SIGKILL in the middle of an evaluation run and started again, it finishes the
run with every award posted exactly once; a task enqueued in a transaction that rolls back
never reaches the broker; a task that always crashes ends parked.

The worker gets ``CELERY_BROKER_VISIBILITY_TIMEOUT=3``: a message a dead worker had taken is
given to the next worker that starts 3 seconds or more after it was taken (kombu's Redis
transport restores expired unacknowledged messages when a worker starts polling).
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection, transaction

from rewards.models import CustomerEvent, Journal, Offer, Run
from rewards.services.runs import run_enqueue, run_start
from tests.rewards.conftest import assert_ledger_consistent, balance_of
from tests.rewards.factories import (
    OfferFactory,
    SchemeFactory,
    make_participant,
    merchant_in,
    queued_purchases,
)

pytestmark = pytest.mark.django_db(transaction=True)

BASE_DIR = Path(__file__).resolve().parents[2]
VISIBILITY_TIMEOUT_SECONDS = 3


def database_url() -> str:
    db = connection.settings_dict
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    """``celery -A config worker -Q runs --concurrency 1 -P prefork`` in its own process
    group, so SIGKILL takes the main process and its pool child at once, as a lost machine
    would."""

    def __init__(self, log_dir: Path) -> None:
        self.log_path = log_dir / f"worker-{uuid.uuid4().hex[:8]}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings_test",
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_RESULT_BACKEND": settings.CELERY_RESULT_BACKEND,
            "CELERY_BROKER_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT_SECONDS),
            "CELERY_TASK_ALWAYS_EAGER": "false",
        }
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "-Q",
                    "runs",
                    "--concurrency",
                    "1",
                    "-P",
                    "prefork",
                    "-l",
                    "info",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-n",
                    f"crash-test-{uuid.uuid4().hex[:6]}@%h",
                ],
                cwd=BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def workers(tmp_path):
    started: list[Worker] = []

    def start() -> Worker:
        worker = Worker(tmp_path)
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def wait_for(condition, *, timeout: float, what: str, worker: Worker | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    log = worker.log()[-3000:] if worker is not None else ""
    pytest.fail(f"Timed out waiting for {what}.\n{log}")


def run_row(run_id: int) -> Run:
    return Run.objects.get(pk=run_id)


def broker_queue_length(name: str) -> int:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL).llen(name)


def test_a_worker_killed_mid_run_is_replaced_and_every_award_is_posted_once(workers):
    scheme = SchemeFactory(event_processing="queued")
    OfferFactory(scheme=scheme)  # 10%: every purchase of 1000 earns 100
    shop = merchant_in(scheme)
    people = [make_participant(scheme) for _ in range(40)]
    event_ids = queued_purchases(scheme, shop, people, 3000, total_minor=1000)
    queued = CustomerEvent.objects.filter(status="queued").count()  # with the 40 sign-ups
    # A small chunk makes the run long enough to be killed in the middle, every time.
    run, created = run_start(
        kind="evaluation", scheme=scheme, actor="tests", parameters={"chunk_size": 8}
    )
    again, created_again = run_start(kind="evaluation", scheme=scheme, actor="tests")
    run_enqueue(run_id=run.pk)  # and a duplicate delivery of its task, as after a redelivery
    assert (created, created_again, again.pk) == (True, False, run.pk)

    first = workers()
    wait_for(
        lambda: run_row(run.pk).processed_items >= 400,
        timeout=30,
        what="the first worker's progress",
        worker=first,
    )
    first.kill()
    at_kill = run_row(run.pk)
    assert at_kill.status == "running"
    assert 400 <= at_kill.processed_items < queued
    time.sleep(VISIBILITY_TIMEOUT_SECONDS + 0.5)

    second = workers()
    finished = wait_for(
        lambda: (row := run_row(run.pk)).status == "succeeded" and row,
        timeout=40,
        what="the run to finish after the restart",
        worker=second,
    )

    assert finished.processed_items == queued
    assert finished.posted_items == 3000
    assert finished.attempts == 2  # the killed attempt and the one that finished
    assert not CustomerEvent.objects.filter(status="queued").exists()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_id, count(*) FROM rewards_journal WHERE kind = 'award' GROUP BY event_id"
        )
        per_event = dict(cursor.fetchall())
    assert per_event == dict.fromkeys(event_ids, 1)
    assert sum(balance_of(person) for person in people) == 3000 * 100
    assert_ledger_consistent()
    # The killed worker's task was redelivered to the new worker (no task lost).
    assert "rewards.tasks.run_execute" in second.log()


def test_a_rolled_back_start_never_runs_and_a_crashing_run_is_parked(workers):
    scheme = SchemeFactory(event_processing="queued")
    OfferFactory(scheme=scheme)
    shop = merchant_in(scheme)
    queued_purchases(scheme, shop, [make_participant(scheme)], 5)

    def start_then_roll_back() -> None:
        with transaction.atomic():
            run_start(kind="evaluation", scheme=scheme, actor="tests")
            raise RuntimeError("the request failed after starting the run")

    with pytest.raises(RuntimeError):
        start_then_roll_back()
    assert Run.objects.count() == 0
    assert broker_queue_length("runs") == 0  # nothing was sent to the broker

    # Every evaluation of this scheme now crashes: an offer's rules were broken behind the
    # service's back.
    Offer.objects.filter(scheme=scheme).update(rules={"award": {"type": "bogus"}})
    run, _created = run_start(
        kind="evaluation",
        scheme=scheme,
        actor="tests",
        parameters={"max_attempts": 3, "retry_delay_seconds": 1},
    )
    worker = workers()
    parked = wait_for(
        lambda: (row := run_row(run.pk)).status == "parked" and row,
        timeout=40,
        what="the run to be parked",
        worker=worker,
    )
    time.sleep(2)  # time for a fourth attempt, were one wrongly scheduled

    assert parked.attempts == 3
    assert "award.type: unknown value 'bogus'" in parked.last_error
    assert run_row(run.pk).attempts == 3
    assert Journal.objects.count() == 0
    assert CustomerEvent.objects.filter(type="purchase", status="queued").count() == 5
    # The worker received the crashing run's task three times and nothing else.
    assert worker.log().count("] received") == 3
