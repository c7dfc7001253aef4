"""Background runs: evaluation of queued events, award expiration and merchant settlement.

A run is a Run row (progress, cursor, attempts) executed by ``run_execute``, which the Celery
task ``rewards.tasks.run_execute`` calls and which is just as callable from plain Python
(benchmarks, the shell, tests). Guarantees (docs/LEDGER.md, "Runs"):

- one active run per kind and scheme: a partial unique index; a second ``run_start`` returns
  the run already queued or running;
- one executor at a time per run: a PostgreSQL session advisory lock, released by the
  database when the worker's connection dies, so a killed worker never blocks a retry;
- nothing posted twice: every unit of work commits together with the progress it makes
  (cursor, counters), and the postings themselves are idempotent (an event is evaluated
  only while queued, under its row lock; journals carry unique keys; a period is settled once);
- a run that keeps failing is parked after ``max_attempts`` attempts (crashes of the worker
  count too: an attempt is counted when it starts), not retried forever.
"""

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from crm.audit import audit_record
from rewards.models import CustomerEvent, Run, Scheme
from rewards.services.batch_evaluation import events_evaluate_batch
from rewards.services.errors import InvalidRequest
from rewards.services.ledger import lots_expire
from rewards.services.settlement import settlement_period_settle

logger = logging.getLogger(__name__)

# pg_try_advisory_lock(namespace, run id): the namespace keeps run locks apart from others.
RUN_LOCK_NAMESPACE = 7_301

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_RETRY_DELAY_SECONDS = 30
# Below the broker's visibility timeout (Redis holds a delayed task unacknowledged, and
# would hand it to another worker early) and below STALLED_AFTER.
MAX_RETRY_DELAY_SECONDS = 300
# One task works this long, then hands the rest of the run to a new task, so each task stays
# well under the Celery time limits and the broker's visibility timeout.
DEFAULT_TIME_BUDGET_SECONDS = 240
DEFAULT_CHUNK_SIZE = 5000
# An active run whose progress is older than this lost its task: it is enqueued again.
STALLED_AFTER = timedelta(minutes=15)

# Parameters an operator may give, per kind, with (minimum, maximum) for the whole numbers.
_COMMON_PARAMETERS = {
    "max_attempts": (1, 20),
    "retry_delay_seconds": (0, MAX_RETRY_DELAY_SECONDS),
    "time_budget_seconds": (1, 3000),
}
_PARAMETERS: dict[str, dict[str, tuple[int, int] | None]] = {
    Run.Kind.EVALUATION: {"chunk_size": (1, 10_000)},
    Run.Kind.EXPIRATION: {"chunk_size": (1, 10_000), "at": None},
    Run.Kind.SETTLEMENT: {"starts_at": None, "ends_at": None},
}


class RunOutcome:
    SUCCEEDED = "succeeded"
    CONTINUE = "continue"  # time budget used up: enqueue again to go on
    RETRY = "retry"  # failed: enqueue again after ``retry_in`` seconds
    PARKED = "parked"
    SKIPPED = "skipped"  # another worker holds the run, or it is no longer active


@dataclass(frozen=True, slots=True)
class RunResult:
    outcome: str
    retry_in: int | None = None


# ---------------------------------------------------------------------------- start


def run_start(
    *,
    kind: str,
    scheme: Scheme | None,
    actor: Any = None,
    parameters: dict[str, Any] | None = None,
) -> tuple[Run, bool]:
    """Queues a run and enqueues its task after commit; returns (run, created).

    When a run of this kind and scheme is already queued or running, that run comes back
    with created False and nothing is enqueued: two copies started at once do the work once
    (the partial unique index serialises the inserts). A run started by a person is audited.
    """
    if kind not in EXECUTORS:
        raise InvalidRequest(f"Runs of kind {kind!r} are not started here.")
    if scheme is None:
        raise InvalidRequest("A run needs a scheme.")
    parameters = _clean_parameters(kind, scheme, parameters or {})
    is_person = getattr(actor, "is_authenticated", False)
    for _attempt in range(3):
        with transaction.atomic():
            try:
                with transaction.atomic():
                    run = Run.objects.create(
                        kind=kind,
                        scheme=scheme,
                        parameters=parameters,
                        requested_by=actor if is_person else None,
                    )
            except IntegrityError:
                existing = Run.objects.filter(
                    kind=kind, scheme=scheme, status__in=Run.ACTIVE_STATUSES
                ).first()
                if existing is not None:
                    return existing, False
                continue  # the active run finished in between: try again
            if is_person:
                audit_record(
                    action="run.start",
                    actor=actor,
                    target=run,
                    after={"kind": kind, "scheme": scheme.pk, "parameters": parameters},
                )
            transaction.on_commit(partial(run_enqueue, run_id=run.pk))
        return run, True
    raise InvalidRequest("Could not start the run; try again.")


def run_enqueue(*, run_id: int, countdown: int | None = None) -> None:
    """Sends the run's task to the broker. Call after commit (``transaction.on_commit``)."""
    from rewards.tasks import run_execute_task

    run_execute_task.apply_async(args=[run_id], countdown=countdown)


def run_retry(*, run: Run, actor: Any) -> Run:
    """Gives a parked or failed run a new set of attempts: it goes back to the queue and
    resumes from its cursor. Refused while another run of its kind and scheme is active."""
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.status not in (Run.Status.PARKED, Run.Status.FAILED):
            raise InvalidRequest("Only a parked or failed run can be retried.")
        before = {"status": locked.status, "attempts": locked.attempts}
        locked.status = Run.Status.QUEUED
        locked.attempts = 0
        locked.finished_at = None
        try:
            with transaction.atomic():
                locked.save(update_fields=["status", "attempts", "finished_at"])
        except IntegrityError as error:
            raise InvalidRequest(
                "Another run of this kind is queued or running for the scheme; "
                "it will do this run's work."
            ) from error
        audit_record(
            action="run.retry",
            actor=actor,
            target=locked,
            before=before,
            after={"status": "queued"},
        )
        transaction.on_commit(partial(run_enqueue, run_id=locked.pk))
    return locked


def runs_requeue_stalled(*, now: datetime | None = None) -> int:
    """Enqueues again the active runs that made no progress for STALLED_AFTER (their task
    was lost: a broker restart, a message dropped). Safe: a run still being executed is held
    by its advisory lock and the extra task only finds it busy. Returns how many."""
    now = now or timezone.now()
    stalled = list(
        Run.objects.filter(status__in=Run.ACTIVE_STATUSES, kind__in=list(EXECUTORS))
        .exclude(heartbeat_at__gte=now - STALLED_AFTER)
        .filter(created_at__lt=now - STALLED_AFTER)
        .values_list("pk", flat=True)
    )
    for run_id in stalled:
        run_enqueue(run_id=run_id)
    return len(stalled)


def _clean_parameters(kind: str, scheme: Scheme, parameters: dict[str, Any]) -> dict[str, Any]:
    allowed = {**_COMMON_PARAMETERS, **_PARAMETERS[kind]}
    unknown = sorted(set(parameters) - set(allowed))
    if unknown:
        raise InvalidRequest(f"Unknown run parameters: {', '.join(unknown)}.")
    cleaned: dict[str, Any] = {}
    for name, value in parameters.items():
        bounds = allowed[name]
        if bounds is None:
            cleaned[name] = _parse_instant(name, value).isoformat()
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidRequest(f"{name} must be a whole number.")
        low, high = bounds
        if not low <= value <= high:
            raise InvalidRequest(f"{name} must be between {low} and {high}.")
        cleaned[name] = value
    now = timezone.now()
    if kind == Run.Kind.EXPIRATION:
        # Fixed when the run starts, so a resumed run expires exactly the same lots.
        cleaned.setdefault("at", now.isoformat())
    if kind == Run.Kind.SETTLEMENT:
        if ("starts_at" in cleaned) != ("ends_at" in cleaned):
            raise InvalidRequest("Give both starts_at and ends_at, or neither.")
        if "starts_at" not in cleaned:
            starts_at, ends_at = previous_month(now, scheme.time_zone)
            cleaned["starts_at"], cleaned["ends_at"] = starts_at.isoformat(), ends_at.isoformat()
        if datetime.fromisoformat(cleaned["ends_at"]) <= datetime.fromisoformat(
            cleaned["starts_at"]
        ):
            raise InvalidRequest("ends_at must be after starts_at.")
        if datetime.fromisoformat(cleaned["ends_at"]) > now:
            raise InvalidRequest("A period can be settled only once it is over.")
    return cleaned


def _parse_instant(name: str, value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError as error:
            raise InvalidRequest(f"{name} must be a date and time with an offset.") from error
    if parsed.tzinfo is None:
        raise InvalidRequest(f"{name} must be a date and time with an offset.")
    return parsed.astimezone(UTC)


def previous_month(now: datetime, time_zone: str) -> tuple[datetime, datetime]:
    """The calendar month before the one containing ``now``, from local midnight of its 1st
    to local midnight of the next month's 1st, in UTC."""
    zone = ZoneInfo(time_zone)
    local = now.astimezone(zone)
    this_month = datetime(local.year, local.month, 1, tzinfo=zone)
    last = this_month - timedelta(days=1)
    return datetime(last.year, last.month, 1, tzinfo=zone).astimezone(UTC), this_month.astimezone(
        UTC
    )


# ---------------------------------------------------------------------------- execute


def run_execute(*, run_id: int) -> RunResult:
    """Executes (or resumes) a run until it is done or its time budget is used up.

    Callable synchronously. Returns SKIPPED when another process holds the run or it is no
    longer queued or running; CONTINUE when time ran out (call again); RETRY with a delay
    after an error; PARKED after ``max_attempts`` attempts that did not end cleanly.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [RUN_LOCK_NAMESPACE, run_id])
        if not cursor.fetchone()[0]:
            return RunResult(RunOutcome.SKIPPED)
    try:
        return _execute_locked(run_id)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [RUN_LOCK_NAMESPACE, run_id])


def _execute_locked(run_id: int) -> RunResult:
    run = _claim(run_id)
    if run is None:
        return RunResult(RunOutcome.SKIPPED)
    max_attempts = run.parameters.get("max_attempts", DEFAULT_MAX_ATTEMPTS)
    if run.attempts > max_attempts:
        # The earlier attempts all died without recording anything (killed workers).
        _finish(run, Run.Status.PARKED, error=f"Parked: {max_attempts} attempts did not finish.")
        return RunResult(RunOutcome.PARKED)
    budget = run.parameters.get("time_budget_seconds", DEFAULT_TIME_BUDGET_SECONDS)
    deadline = time.monotonic() + budget
    try:
        done = EXECUTORS[run.kind](run, deadline)
    except Exception as error:
        # The executor's unit of work rolled back; the error is recorded outside it.
        message = "".join(traceback.format_exception(error))[-4000:]
        logger.exception("Run %s failed (attempt %s)", run.pk, run.attempts)
        if run.attempts >= max_attempts:
            _finish(run, Run.Status.PARKED, error=message)
            return RunResult(RunOutcome.PARKED)
        Run.objects.filter(pk=run.pk).update(
            status=Run.Status.QUEUED, last_error=message, heartbeat_at=timezone.now()
        )
        delay = run.parameters.get("retry_delay_seconds", DEFAULT_RETRY_DELAY_SECONDS)
        return RunResult(
            RunOutcome.RETRY, min(delay * 2 ** (run.attempts - 1), MAX_RETRY_DELAY_SECONDS)
        )
    if done:
        _finish(run, Run.Status.SUCCEEDED)
        return RunResult(RunOutcome.SUCCEEDED)
    # A clean hand-over to the next task is not a failed attempt.
    Run.objects.filter(pk=run.pk).update(attempts=0, heartbeat_at=timezone.now())
    return RunResult(RunOutcome.CONTINUE)


def _claim(run_id: int) -> Run | None:
    """Marks the run running and counts the attempt, committed before any work, so a worker
    killed during the attempt still leaves it counted."""
    now = timezone.now()
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        # Draw and code-generation runs have their own executors (codes, draws): not ours.
        if run is None or run.status not in Run.ACTIVE_STATUSES or run.kind not in EXECUTORS:
            return None
        run.status = Run.Status.RUNNING
        run.attempts += 1
        run.started_at = run.started_at or now
        run.heartbeat_at = now
        run.save(update_fields=["status", "attempts", "started_at", "heartbeat_at"])
    return run


def _finish(run: Run, status: str, *, error: str | None = None) -> None:
    fields: dict[str, Any] = {"status": status, "finished_at": timezone.now()}
    if error is not None:
        fields["last_error"] = error
    Run.objects.filter(pk=run.pk).update(**fields)


def _progress(run: Run, *, cursor: int | None = None, processed: int = 0, posted: int = 0) -> None:
    """Records progress; call inside the transaction of the work it describes."""
    fields: dict[str, Any] = {
        "heartbeat_at": timezone.now(),
        "processed_items": F("processed_items") + processed,
        "posted_items": F("posted_items") + posted,
    }
    if cursor is not None:
        fields["cursor"] = cursor
        run.cursor = cursor
    Run.objects.filter(pk=run.pk).update(**fields)


# ---------------------------------------------------------------------------- executors


def _execute_evaluation(run: Run, deadline: float) -> bool:
    """Evaluates the scheme's queued events oldest first, set-based, ``chunk_size`` events
    per transaction (rewards.services.batch_evaluation), with the run's cursor and counters
    in the same transaction.

    A chunk claims its events with ``FOR UPDATE SKIP LOCKED`` and marks them processed as it
    posts their awards, so a chunk repeated after a crash finds nothing left to post, and
    two workers at once share the queue instead of doing it twice.
    """
    assert run.scheme_id is not None  # noqa: S101 - run_start refuses a run without a scheme
    chunk_size = run.parameters.get("chunk_size", DEFAULT_CHUNK_SIZE)
    if run.total_items is None:
        queued = CustomerEvent.objects.filter(
            scheme_id=run.scheme_id, status=CustomerEvent.Status.QUEUED
        ).count()
        Run.objects.filter(pk=run.pk).update(total_items=run.processed_items + queued)
    while time.monotonic() < deadline:
        with transaction.atomic():
            result = events_evaluate_batch(scheme_id=run.scheme_id, limit=chunk_size)
            if not result.processed:
                return True
            _progress(
                run,
                cursor=result.last_event_id,
                processed=result.processed,
                posted=result.posted,
            )
    return False


def _execute_expiration(run: Run, deadline: float) -> bool:
    """Expires what is left of the scheme's lots due at the run's ``at`` (fixed when the run
    started). lots_expire commits wallet chunk by chunk and is idempotent, so a resumed run
    simply calls it again."""
    assert run.scheme_id is not None  # noqa: S101 - run_start refuses a run without a scheme
    at = datetime.fromisoformat(run.parameters["at"])
    result = lots_expire(
        scheme_id=run.scheme_id,
        at=at,
        chunk_size=run.parameters.get("chunk_size", 5000),
        after_account_id=run.cursor,
    )
    logger.info("Run %s expired %s from %s wallets", run.pk, result.amount_minor, result.wallets)
    # One journal per wallet: both counters are wallets.
    _progress(run, processed=result.wallets, posted=result.wallets)
    return True


def _execute_settlement(run: Run, deadline: float) -> bool:
    """Settles the run's period in one transaction; a period settled already is left alone."""
    assert run.scheme is not None  # noqa: S101 - run_start refuses a run without a scheme
    period, created = settlement_period_settle(
        scheme=run.scheme,
        starts_at=datetime.fromisoformat(run.parameters["starts_at"]),
        ends_at=datetime.fromisoformat(run.parameters["ends_at"]),
        run=run,
    )
    if created:
        lines = period.lines.count()
        with transaction.atomic():
            _progress(run, processed=lines, posted=lines)
    return True


EXECUTORS: dict[str, Callable[[Run, float], bool]] = {
    Run.Kind.EVALUATION: _execute_evaluation,
    Run.Kind.EXPIRATION: _execute_expiration,
    Run.Kind.SETTLEMENT: _execute_settlement,
}


# ---------------------------------------------------------------------------- schedules


def loyalty_schemes_active(*, now: datetime | None = None) -> list[Scheme]:
    now = now or timezone.now()
    return list(
        Scheme.objects.filter(kind=Scheme.Kind.LOYALTY, starts_at__lte=now).exclude(
            ends_at__lt=now - timedelta(days=62)  # a month's settlement after the end
        )
    )


def runs_start_scheduled(*, kind: str, now: datetime | None = None) -> list[int]:
    """What beat calls: starts a run of ``kind`` for every active loyalty scheme (an
    evaluation run only where events are queued). Returns the run ids, new or already
    active."""
    run_ids = []
    for scheme in loyalty_schemes_active(now=now):
        if (
            kind == Run.Kind.EVALUATION
            and not CustomerEvent.objects.filter(
                scheme=scheme, status=CustomerEvent.Status.QUEUED
            ).exists()
        ):
            continue
        if kind == Run.Kind.SETTLEMENT and _settled_already(scheme, now or timezone.now()):
            continue
        run, _created = run_start(kind=kind, scheme=scheme, actor="beat")
        run_ids.append(run.pk)
    return run_ids


def _settled_already(scheme: Scheme, now: datetime) -> bool:
    starts_at, _ends_at = previous_month(now, scheme.time_zone)
    return scheme.settlement_periods.filter(starts_at=starts_at).exists()
