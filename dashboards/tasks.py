"""Celery tasks of the dashboards, on the ``default`` queue (CELERY_TASK_DEFAULT_QUEUE; the
beat entry names it too): thin wrappers over the rollup services. Safe to run twice and
concurrently (a second run finds the work taken)."""

from celery import shared_task

from dashboards.export_tasks import export_run_task  # noqa: F401  (registers the export task)
from dashboards.services import rollups_refresh

# A run counts at most 40 chunks of 5,000 journals; the next run takes the rest.
REFRESH_SOFT_TIME_LIMIT_SECONDS = 120
REFRESH_TIME_LIMIT_SECONDS = 150


@shared_task(
    name="dashboards.tasks.rollups_refresh",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=REFRESH_SOFT_TIME_LIMIT_SECONDS,
    time_limit=REFRESH_TIME_LIMIT_SECONDS,
)
def rollups_refresh_task() -> dict[str, int]:
    return {result.name: result.rows for result in rollups_refresh()}
