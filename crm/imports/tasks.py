"""Celery tasks for customer imports (queue ``default``): load by id, call the service.

Both are safe to run twice (see crm.imports.services). Their names are outside
``crm.tasks.*`` so they do not land on the notifications queue.
"""

from celery import shared_task

from crm.imports.services import customer_import_check, customer_import_run

IMPORT_SOFT_TIME_LIMIT_SECONDS = 3300
IMPORT_TIME_LIMIT_SECONDS = 3600


@shared_task(
    name="crm.imports.customer_import_check",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=IMPORT_SOFT_TIME_LIMIT_SECONDS,
    time_limit=IMPORT_TIME_LIMIT_SECONDS,
)
def customer_import_check_task(import_id: int) -> str:
    return customer_import_check(import_id=import_id).status


@shared_task(
    name="crm.imports.customer_import_run",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=IMPORT_SOFT_TIME_LIMIT_SECONDS,
    time_limit=IMPORT_TIME_LIMIT_SECONDS,
)
def customer_import_run_task(import_id: int) -> str:
    return customer_import_run(import_id=import_id).status
