"""Creates the beat schedule's missing PeriodicTasks (config/beat.py); edited ones are kept.
Safe to run twice."""

from django.db import migrations


def create_schedule(apps, schema_editor):
    from config.beat import beat_schedule_sync

    beat_schedule_sync(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("rewards", "0007_settlement_and_automatic_spend"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, migrations.RunPython.noop)]
