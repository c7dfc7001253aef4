"""A checker decision's time in the queue (``CheckerDecision.queue_time``): nullable, so
adding it rewrites nothing; migration 0004 fills the rows made before it."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("verification", "0002_decision_and_fulfilment_composite_keys")]

    operations = [
        migrations.AddField(
            model_name="checkerdecision",
            name="queue_time",
            field=models.DurationField(blank=True, null=True, verbose_name="time in the queue"),
        ),
    ]
