"""The one beat schedule of the project (django-celery-beat's DatabaseScheduler).

The schedule lives in the database so operators can change it in the admin. A data migration
(rewards 0008) creates the entries below that are missing and leaves edited ones alone;
``python -m config.beat --overwrite`` puts every entry back to what is written here.
Times are UTC (CELERY_TIMEZONE).
"""

import json
import sys
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Entry:
    name: str
    task: str
    description: str
    every_minutes: int | None = None
    every_seconds: int | None = None
    crontab: dict[str, str] | None = None  # minute, hour, day_of_month


SCHEDULE = [
    Entry(
        name="rewards: evaluation runs",
        task="rewards.tasks.evaluation_runs_start",
        description="Starts an evaluation run for every loyalty scheme with queued events.",
        every_minutes=5,
    ),
    Entry(
        name="rewards: requeue stalled runs",
        task="rewards.tasks.runs_requeue_stalled",
        description="Enqueues again active runs whose task was lost (no progress for 15 min).",
        every_minutes=5,
    ),
    Entry(
        name="rewards: expiration runs",
        task="rewards.tasks.expiration_runs_start",
        description="Daily: expires what is left of lots past their expiry, per scheme.",
        crontab={"minute": "15", "hour": "2", "day_of_month": "*"},
    ),
    Entry(
        name="rewards: birthday and name-day events",
        task="rewards.tasks.occasion_events_raise",
        description="Daily: raises the birthday and name-day events of the day.",
        crontab={"minute": "5", "hour": "0", "day_of_month": "*"},
    ),
    Entry(
        # 12:00 UTC on the 1st: the previous month is over in every time zone by then.
        name="rewards: settlement runs",
        task="rewards.tasks.settlement_runs_start",
        description="Monthly: settles the previous month per scheme and merchant.",
        crontab={"minute": "0", "hour": "12", "day_of_month": "1"},
    ),
    Entry(
        name="rewards: forfeit unclaimed draw wins",
        task="rewards.tasks.draw_results_forfeit_expired",
        description="Hourly: winners past the claim deadline forfeit; the next reserve moves up.",
        every_minutes=60,
    ),
    Entry(
        name="claims: forfeit overdue claims",
        task="claims.tasks.claims_forfeit_overdue",
        description="Claims in draft or waiting for documents past their deadline are forfeited.",
        every_minutes=15,
    ),
    Entry(
        name="claims: purge unproven sign-in addresses",
        task="claims.tasks.sign_in_data_purge",
        description="Daily: forgets sign-in addresses nobody proved, after the retention days.",
        crontab={"minute": "50", "hour": "3", "day_of_month": "*"},
    ),
    Entry(
        name="dashboards: refresh rollups",
        task="dashboards.tasks.rollups_refresh",
        description="Folds new ledger postings into the dashboard rollups (cheap when idle).",
        every_seconds=30,
    ),
    Entry(
        name="crm: requeue stalled messages",
        task="crm.tasks.messages_requeue_stalled",
        description="Sends again messages whose send task was lost.",
        every_minutes=5,
    ),
    Entry(
        name="crm: redeliver domain events",
        task="crm.tasks.domain_events_redeliver",
        description="Delivers domain events still undelivered a minute after their commit.",
        every_minutes=1,
    ),
]


def beat_schedule_sync(apps: Any = None, *, overwrite: bool = False) -> list[str]:
    """Creates the missing PeriodicTasks (all of them with ``overwrite``, as written here).
    ``apps`` is a migration's app registry; without it, the real models are used. Returns
    the names created or reset. Safe to run any number of times."""
    if apps is None:
        from django.apps import apps as registry

        apps = registry
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    interval_schedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    crontab_schedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    changed = []
    for entry in SCHEDULE:
        if not overwrite and periodic_task.objects.filter(name=entry.name).exists():
            continue
        schedule: dict[str, Any] = {"interval": None, "crontab": None}
        if entry.every_minutes is not None:
            schedule["interval"], _ = interval_schedule.objects.get_or_create(
                every=entry.every_minutes, period="minutes"
            )
        elif entry.every_seconds is not None:
            schedule["interval"], _ = interval_schedule.objects.get_or_create(
                every=entry.every_seconds, period="seconds"
            )
        else:
            assert entry.crontab is not None  # noqa: S101 - every entry has one or the other
            schedule["crontab"], _ = crontab_schedule.objects.get_or_create(
                minute=entry.crontab["minute"],
                hour=entry.crontab["hour"],
                day_of_month=entry.crontab["day_of_month"],
                month_of_year="*",
                day_of_week="*",
                timezone="UTC",
            )
        periodic_task.objects.update_or_create(
            name=entry.name,
            defaults={
                "task": entry.task,
                "description": entry.description,
                "args": json.dumps([]),
                "kwargs": json.dumps({}),
                "enabled": True,
                **schedule,
            },
        )
        changed.append(entry.name)
    return changed


def main(argv: list[str]) -> None:
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    for name in beat_schedule_sync(overwrite="--overwrite" in argv):
        sys.stdout.write(f"synced: {name}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
