"""Celery tasks of rewards (queue ``runs``): thin wrappers that take ids and call services.

Every task is safe to run twice: ``run_execute`` holds a per-run advisory lock and the
postings are idempotent (rewards.services.runs). Tasks are acknowledged late and rejected
back to the queue when their worker dies (settings), so a killed worker's run is resumed.
"""

from celery import shared_task

from rewards.models import Run
from rewards.services.events import occasion_events_raise
from rewards.services.runs import (
    RunOutcome,
    run_enqueue,
    run_execute,
    runs_requeue_stalled,
    runs_start_scheduled,
)

# A run task works for at most DEFAULT_TIME_BUDGET_SECONDS (240 s) and then hands over to a
# new task, so these limits are never reached in normal work.
RUN_SOFT_TIME_LIMIT_SECONDS = 600
RUN_TIME_LIMIT_SECONDS = 660


@shared_task(
    name="rewards.tasks.run_execute",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=RUN_SOFT_TIME_LIMIT_SECONDS,
    time_limit=RUN_TIME_LIMIT_SECONDS,
)
def run_execute_task(run_id: int) -> str:
    """Attempts are counted on the Run row, not by Celery: a failed attempt enqueues the
    next one with a delay until the run is parked."""
    result = run_execute(run_id=run_id)
    if result.outcome == RunOutcome.CONTINUE:
        run_enqueue(run_id=run_id)
    elif result.outcome == RunOutcome.RETRY:
        run_enqueue(run_id=run_id, countdown=result.retry_in)
    return result.outcome


@shared_task(name="rewards.tasks.evaluation_runs_start", soft_time_limit=60, time_limit=90)
def evaluation_runs_start_task() -> list[int]:
    return runs_start_scheduled(kind=Run.Kind.EVALUATION)


@shared_task(name="rewards.tasks.expiration_runs_start", soft_time_limit=60, time_limit=90)
def expiration_runs_start_task() -> list[int]:
    return runs_start_scheduled(kind=Run.Kind.EXPIRATION)


@shared_task(name="rewards.tasks.settlement_runs_start", soft_time_limit=60, time_limit=90)
def settlement_runs_start_task() -> list[int]:
    return runs_start_scheduled(kind=Run.Kind.SETTLEMENT)


@shared_task(name="rewards.tasks.runs_requeue_stalled", soft_time_limit=60, time_limit=90)
def runs_requeue_stalled_task() -> int:
    return runs_requeue_stalled()


@shared_task(
    name="rewards.tasks.occasion_events_raise",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=1800,
    time_limit=1860,
)
def occasion_events_raise_task() -> int:
    """Birthday and name-day events for today (idempotent per participant and year)."""
    return occasion_events_raise()
