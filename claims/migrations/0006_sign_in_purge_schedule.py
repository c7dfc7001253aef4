"""Schedules claims.tasks.sign_in_data_purge daily (config/beat.py): creates the beat
schedule's missing PeriodicTasks only, so it can run twice and keeps an operator's edits."""

from django.db import migrations


def add_schedule(apps, schema_editor):
    from config.beat import beat_schedule_sync

    beat_schedule_sync(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("claims", "0005_backfill_claim_channel_partner"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(add_schedule, migrations.RunPython.noop)]
