"""Celery tasks for codes and draws: thin wrappers that load by id and call a service. Every
one is safe to run twice.

Their names start with ``rewards.tasks.`` so that CELERY_TASK_ROUTES sends them to the
``runs`` queue like the rest of the app's runs (the module is separate only to keep the
files of different people apart)."""

from celery import shared_task

from rewards.services.codes import code_batch_run
from rewards.services.draws import draw_results_forfeit_expired, draw_run

# A million codes take well under a minute; the limits leave room for a slow machine.
GENERATION_SOFT_TIME_LIMIT_SECONDS = 600
GENERATION_TIME_LIMIT_SECONDS = 660


@shared_task(
    name="rewards.tasks.code_batch_generate",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=GENERATION_SOFT_TIME_LIMIT_SECONDS,
    time_limit=GENERATION_TIME_LIMIT_SECONDS,
)
def code_batch_generate_task(run_id: int) -> str:
    return str(code_batch_run(run_id=run_id).status)


@shared_task(
    name="rewards.tasks.draw_run",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=300,
    time_limit=360,
)
def draw_run_task(draw_id: int) -> str:
    return str(draw_run(draw_id=draw_id, actor="draw run task").status)


@shared_task(
    name="rewards.tasks.draw_results_forfeit_expired",
    soft_time_limit=300,
    time_limit=360,
)
def draw_results_forfeit_expired_task() -> int:
    return draw_results_forfeit_expired()
