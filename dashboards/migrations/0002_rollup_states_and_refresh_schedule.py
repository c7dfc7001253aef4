"""Creates the two rollup state rows and schedules the rollup refresh every 30 seconds
(django-celery-beat, editable in the admin). Creates only what is missing, so it can run
twice and never overwrites an operator's change to the schedule."""

from django.db import migrations

TASK = "dashboards.tasks.rollups_refresh"
NAME = "dashboards: refresh rollups"


def add_states_and_schedule(apps, schema_editor):
    RollupState = apps.get_model("dashboards", "RollupState")
    for name in ("ledger", "participants"):
        RollupState.objects.get_or_create(name=name)
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=NAME).exists():
        return
    interval, _created = IntervalSchedule.objects.get_or_create(every=30, period="seconds")
    PeriodicTask.objects.create(
        name=NAME,
        task=TASK,
        interval=interval,
        queue="default",
        description=(
            "Counts new ledger journals into the dashboards' monthly rollups and recounts "
            "participants. The dashboards show when it last ran."
        ),
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=NAME, task=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("dashboards", "0001_rollup_tables_and_permissions"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(add_states_and_schedule, remove_schedule)]
