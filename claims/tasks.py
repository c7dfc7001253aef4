"""Thin Celery tasks for the claims app: load by id (or nothing), call a service."""

from celery import shared_task

from claims.services.forfeiture import claims_forfeit_overdue
from claims.services.sign_in import sign_in_data_purge


@shared_task(
    name="claims.tasks.claims_forfeit_overdue",
    acks_late=True,
    soft_time_limit=240,
    time_limit=300,
)
def claims_forfeit_overdue_task(limit: int = 1000) -> int:
    """Forfeits claims past their deadline (safe to run at any time, and twice)."""
    return claims_forfeit_overdue(limit=limit)


@shared_task(
    name="claims.tasks.sign_in_data_purge",
    acks_late=True,
    soft_time_limit=240,
    time_limit=300,
)
def sign_in_data_purge_task() -> dict[str, int]:
    """Forgets sign-in addresses nobody proved, after CLAIM_SIGN_IN_RETENTION_DAYS."""
    purged = sign_in_data_purge()
    return {"devices": purged.devices, "messages": purged.messages}
