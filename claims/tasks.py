"""Thin Celery tasks for the claims app: load by id (or nothing), call a service."""

from celery import shared_task

from claims.services.forfeiture import claims_forfeit_overdue


@shared_task(
    name="claims.tasks.claims_forfeit_overdue",
    acks_late=True,
    soft_time_limit=240,
    time_limit=300,
)
def claims_forfeit_overdue_task(limit: int = 1000) -> int:
    """Forfeits claims past their deadline (safe to run at any time, and twice)."""
    return claims_forfeit_overdue(limit=limit)
