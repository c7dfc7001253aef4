"""Schedules crm.tasks.domain_events_redeliver every minute (config/beat.py): creates the beat
schedule's missing PeriodicTasks only, so it can run twice and keeps an operator's edits."""

from django.db import migrations


def add_schedule(apps, schema_editor):
    from config.beat import beat_schedule_sync

    beat_schedule_sync(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0009_domain_event_outbox"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(add_schedule, migrations.RunPython.noop)]
