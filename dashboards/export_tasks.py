"""The export task (queue ``default``): a thin wrapper over dashboards.exports.export_run,
enqueued by export_request after commit with the export's id. Safe to run twice: a done or
failed export is left alone, and a second delivery while one runs returns at once.

Time limits are the project's (CELERY_TASK_SOFT_TIME_LIMIT, 300 s by default): they stay
below the broker's visibility timeout, and a run that reaches the soft limit is marked failed
with "took too long"."""

from celery import shared_task

from dashboards.exports import export_run, exports_purge_expired


@shared_task(name="dashboards.tasks.export_run", acks_late=True, reject_on_worker_lost=True)
def export_run_task(export_id: int) -> str:
    return export_run(export_id=export_id)


@shared_task(name="dashboards.tasks.exports_purge_expired", acks_late=True)
def exports_purge_expired_task() -> int:
    return exports_purge_expired()
