"""Schedules the forfeiture of overdue claims every 15 minutes (django-celery-beat, editable
in the admin). Creates the periodic task only if it is missing, so it can run twice and
never overwrites an operator's change."""

from django.db import migrations

TASK = "claims.tasks.claims_forfeit_overdue"
NAME = "claims: forfeit overdue claims"  # as in config/beat.py


def add_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=NAME).exists():
        return
    interval, _created = IntervalSchedule.objects.get_or_create(every=15, period="minutes")
    PeriodicTask.objects.create(
        name=NAME,
        task=TASK,
        interval=interval,
        description="Claims in draft or waiting for documents past their deadline are forfeited.",
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=NAME, task=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("claims", "0002_claims_documents_transitions_shipments"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(add_schedule, remove_schedule)]
