"""Celery tasks of crm (queue ``notifications``): thin wrappers that load by id and call a
service. All are safe to run twice."""

from celery import shared_task

from crm.events import domain_events_redeliver
from crm.notifications.services import message_send, messages_requeue_stalled

# Well under NOTIFICATION_SENDING_STALE_SECONDS, so a message found "sending" for longer
# than that has surely lost its worker.
SEND_SOFT_TIME_LIMIT_SECONDS = 60
SEND_TIME_LIMIT_SECONDS = 90


@shared_task(
    bind=True,
    name="crm.tasks.message_send",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,  # the number of attempts is kept on the message row, not here
    soft_time_limit=SEND_SOFT_TIME_LIMIT_SECONDS,
    time_limit=SEND_TIME_LIMIT_SECONDS,
)
def message_send_task(self, message_id: int) -> str:  # type: ignore[no-untyped-def]
    outcome = message_send(message_id=message_id)
    # An eager run (tests, CELERY_TASK_ALWAYS_EAGER) cannot wait; the row stays queued with
    # its send_after and messages_requeue_stalled picks it up.
    if outcome.retry_at is not None and not self.request.is_eager:
        raise self.retry(eta=outcome.retry_at)
    return outcome.status


@shared_task(name="crm.tasks.messages_requeue_stalled", soft_time_limit=120, time_limit=150)
def messages_requeue_stalled_task() -> int:
    return messages_requeue_stalled()


@shared_task(name="crm.tasks.domain_events_redeliver", soft_time_limit=120, time_limit=150)
def domain_events_redeliver_task() -> int:
    return domain_events_redeliver()
